"""keystone-lite-manage doctor on a good deployment and on broken ones (real files, real modes,
real certificates from the dev PKI): one line per check, exit status 1 on any FAIL."""
from __future__ import annotations

import os
import time

from cryptography import x509

from keystone_lite import doctor, settings as settings_module
from keystone_lite.cli import manage


def run_doctor(deployment, capsys, *argv) -> tuple[int, list[str], str]:
    capsys.readouterr()  # what set-up commands printed
    status = manage.main(["--config-file", deployment.config, "doctor", *argv])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def lines_of(lines: list[str], check: str) -> list[str]:
    return [line for line in lines if line.split(None, 1)[1].startswith(check + ":")]


def with_pki(deployment):
    deployment.cli("pki", "setup")
    return os.path.join(deployment.data_dir, "pki")


def test_good_deployment_passes_with_one_line_per_check(deployment, capsys):
    with_pki(deployment)
    status, lines, err = run_doctor(deployment, capsys)

    assert status == 0, lines
    assert err == ""
    assert {line.split()[0] for line in lines} <= {"OK", "WARN"}
    assert lines_of(lines, "database")[0].startswith("OK   database: reachable, schema at ")
    assert lines_of(lines, "token keys")[0].startswith("OK   token keys: 2 keys in ")
    assert lines_of(lines, "file modes")[0].startswith("OK   file modes: ")
    assert lines_of(lines, "server certificate")[0].startswith("OK   server certificate: ")
    assert lines_of(lines, "CA certificate")[0].startswith("OK   CA certificate: ")
    # The test deployments keep an admin_token: a warning, not a failure.
    assert any("admin_token is set" in line for line in lines_of(lines, "config"))


def test_broken_deployment_fails_naming_each_problem(deployment, capsys):
    pki_dir = with_pki(deployment)
    keys = os.path.join(deployment.data_dir, "fernet-keys")
    os.rename(keys, keys + ".away")
    os.chmod(os.path.join(pki_dir, "server.key"), 0o644)

    status, lines, err = run_doctor(deployment, capsys)

    assert status == 1
    assert err == "keystone-lite-manage doctor: 2 check(s) failed\n"
    assert lines_of(lines, "token keys") == [
        f"FAIL token keys: key repository unreadable: {keys}: Fernet key repository does not "
        "exist; run keystone-lite-manage fernet_setup"]
    assert lines_of(lines, "file modes") == [
        f"FAIL file modes: server private key {pki_dir}/server.key is open to others (mode "
        f"0644); chmod go-rwx {pki_dir}/server.key"]
    assert lines_of(lines, "database")[0].startswith("OK")  # the rest is still checked


def write_config(tmp_path, text: str) -> str:
    config = tmp_path / "keystone-lite.conf"
    config.write_text(text)
    return str(config)


def test_missing_sqlite_file_fails_and_is_not_created(tmp_path, capsys):
    config = write_config(tmp_path, "[database]\nconnection = "
                          f"sqlite:///{tmp_path}/nowhere/k.db\n")
    status = manage.main(["--config-file", config, "doctor"])
    lines = capsys.readouterr().out.splitlines()

    assert status == 1
    assert lines_of(lines, "database") == [
        f"FAIL database: {tmp_path}/nowhere/k.db: no such file; run keystone-lite-manage "
        "db_sync"]
    assert not (tmp_path / "nowhere").exists()


def test_database_without_schema_fails_with_the_db_sync_hint(tmp_path, capsys, empty_database):
    url = empty_database or f"sqlite:///{tmp_path}/empty.db"
    if empty_database is None:
        open(tmp_path / "empty.db", "wb").close()
    status = manage.main(["--config-file", write_config(
        tmp_path, f"[database]\nconnection = {url}\n"), "doctor"])
    lines = capsys.readouterr().out.splitlines()

    assert status == 1
    assert lines_of(lines, "database") == [
        "FAIL database: no schema; run keystone-lite-manage db_sync"]


def test_token_keys_not_rotated_for_40_days_warn(deployment, capsys):
    keys = os.path.join(deployment.data_dir, "fernet-keys")
    primary = os.path.join(keys, str(max(int(name) for name in os.listdir(keys))))
    long_ago = time.time() - 40 * doctor.DAY
    os.utime(primary, (long_ago, long_ago))

    status, lines, _ = run_doctor(deployment, capsys)

    assert status == 0
    [line] = lines_of(lines, "token keys")
    assert line.startswith("WARN token keys: ") and "not rotated for over 30 days" in line


def test_certificates_close_to_expiry_warn_and_expired_ones_fail(deployment):
    pki_dir = with_pki(deployment)
    server_crt = os.path.join(pki_dir, "server.crt")
    with open(server_crt, "rb") as handle:
        not_after = x509.load_pem_x509_certificate(handle.read()).not_valid_after_utc.timestamp()
    settings = settings_module.load(deployment.config)

    def status_of(now):
        return {finding.check: finding.status for finding in doctor.examine(settings, now=now)
                if "certificate" in finding.check}

    assert status_of(not_after - 10 * doctor.DAY)["server certificate"] == "WARN"
    assert status_of(not_after + doctor.DAY)["server certificate"] == "FAIL"


def test_certificates_elsewhere_are_checked_when_named(deployment, capsys, tmp_path):
    status, lines, _ = run_doctor(deployment, capsys, "--server-cert",
                                  str(tmp_path / "missing.crt"))

    assert status == 1
    assert lines_of(lines, "server certificate") == [
        f"FAIL server certificate: {tmp_path}/missing.crt: No such file or directory"]
    assert lines_of(lines, "CA certificate")[0].startswith("SKIP CA certificate: no dev PKI")


def test_unloadable_configuration_is_a_fail_line(tmp_path, capsys):
    config = write_config(tmp_path, "[token]\nprovider = nope\n")

    status = manage.main(["--config-file", config, "doctor"])
    captured = capsys.readouterr()

    assert status == 1
    assert captured.out.startswith(f"FAIL config: {config}: [token] provider: ")
    assert captured.err == ("keystone-lite-manage doctor: the configuration cannot be "
                            "loaded\n")
