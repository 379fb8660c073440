"""check-httpd: the shipped configs are clean, every trap is found on the right line.

Each broken variant is the shipped file with one substitution, so a test shows exactly the edit
that breaks a deployment. Certificates are made here with cryptography (no fixtures on disk).
"""
from __future__ import annotations

import datetime
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from keystone_lite import httpd_check, httpd_config
from keystone_lite.cli import manage

from builders import ROOT

MOD_SSL = os.path.join(ROOT, "httpd", "keystone-lite-mod_ssl.conf")
MOD_NSS = os.path.join(ROOT, "httpd", "keystone-lite-mod_nss.conf")
SEED_ERA = os.path.join(ROOT, "tests", "data", "seed-era-mod_ssl.conf")
SERVICE_CONFIG = os.path.join(ROOT, "etc", "keystone-lite.conf")
DEFINES = {
    "KEYSTONE_LITE_HOME": "/opt/keystone-lite", "KEYSTONE_LITE_VENV": "/opt/keystone-lite/venv",
    "KEYSTONE_LITE_PORT": "5000", "KEYSTONE_LITE_SERVER_CERT": "/etc/kl/server.crt",
    "KEYSTONE_LITE_SERVER_KEY": "/etc/kl/server.key", "KEYSTONE_LITE_CA": "/etc/kl/ca.crt",
    "KEYSTONE_LITE_NSS_DB": "/etc/httpd/alias", "KEYSTONE_LITE_NSS_NICKNAME": "keystone-lite",
}


# -- builders --------------------------------------------------------------------------------------

def shipped(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def variant(path: str, old: str, new: str) -> str:
    """The shipped file with its one occurrence of ``old`` replaced."""
    text = shipped(path)
    assert text.count(old) == 1, old
    return text.replace(old, new)


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    """Line number of the ``occurrence``-th non-comment line containing ``fragment``."""
    numbers = [n for n, line in enumerate(text.splitlines(), start=1)
               if fragment in line and not line.lstrip().startswith("#")]
    return numbers[occurrence - 1]


def findings_for(text: str, module: str = "auto", certificates: tuple = ()) -> list:
    config = httpd_config.read_string(text, "test.conf", DEFINES)
    return httpd_check.check(config, module, certificates)


def found(findings: list, line: int, severity: str, words: str) -> bool:
    return any(f.line == line and f.severity == severity and words in f.message
               for f in findings)


def client_certificate(*attributes: x509.NameAttribute) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(list(attributes))
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))


def write(directory, name: str, text: str) -> str:
    path = os.path.join(str(directory), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


# -- the shipped configs ---------------------------------------------------------------------------

def test_shipped_mod_ssl_config_has_no_findings():
    config = httpd_config.read_config(MOD_SSL, DEFINES)
    assert httpd_check.check(config, "mod_ssl") == []
    assert {d.args[0] for d in config.directives if d.key == "wsgiscriptalias"} == {
        "/main", "/admin"}


@pytest.mark.parametrize("module", ["mod_nss", "auto"])
def test_shipped_mod_nss_config_is_clean_under_the_mod_nss_rules(module):
    config = httpd_config.read_config(MOD_NSS, DEFINES)
    assert httpd_check.check(config, module) == []


HEALTH_DEFINES = {**DEFINES, "KEYSTONE_LITE_HEALTH_PORT": "5080"}


def health_findings(text: str) -> list:
    return httpd_check.check(httpd_config.read_string(text, "test.conf", HEALTH_DEFINES),
                             "mod_ssl")


def test_shipped_mod_ssl_config_with_its_health_listener_has_no_findings():
    config = httpd_config.read_config(MOD_SSL, HEALTH_DEFINES)
    assert httpd_check.check(config, "mod_ssl") == []
    assert [d.args for d in config.directives if d.key == "listen"][-1] == ("127.0.0.1:5080",)


def test_health_listener_granting_more_than_the_healthcheck_needs_client_certificates():
    text = variant(MOD_SSL, '<LocationMatch "^/(healthcheck|metrics)/?$">',
                   '<LocationMatch "^/">')
    assert found(health_findings(text), line_of(text, "WSGIScriptAlias / "), "error",
                 "no SSLVerifyClient covers it")


def test_health_listener_of_another_server_name_cannot_use_the_main_daemons():
    text = variant(MOD_SSL, "    SSLEngine on\n", "    SSLEngine on\n    ServerName id.example\n")
    assert found(health_findings(text), line_of(text, "WSGIScriptAlias / "), "error",
                 "names no WSGIDaemonProcess")


def test_shipped_config_checked_with_the_other_module_reports_every_foreign_directive():
    config = httpd_config.read_config(MOD_NSS, DEFINES)
    findings = httpd_check.check(config, "mod_ssl")
    nss_lines = [d.line for d in config.directives if d.vhost and d.key.startswith("nss")]
    assert len(nss_lines) == 10
    for line in nss_lines:
        assert found(findings, line, "error", "mod_nss directive in a mod_ssl virtual host")


def test_shipped_config_without_its_defines_stops_at_the_error_directives():
    findings = httpd_check.check(httpd_config.read_config(MOD_SSL))
    errors = [f for f in findings if f.severity == "error"]
    assert {f.message.split("Define ")[1].split()[0] for f in errors} == {
        "KEYSTONE_LITE_HOME", "KEYSTONE_LITE_VENV", "KEYSTONE_LITE_PORT",
        "KEYSTONE_LITE_SERVER_CERT", "KEYSTONE_LITE_SERVER_KEY", "KEYSTONE_LITE_CA"}


def test_user_name_attribute_present_in_every_client_certificate_is_clean():
    alice = client_certificate(x509.NameAttribute(NameOID.USER_ID, "alice"),
                               x509.NameAttribute(NameOID.COMMON_NAME, "alice"))
    config = httpd_config.read_config(MOD_SSL, DEFINES)
    assert httpd_check.check(config, "auto", (("alice.pem", alice),)) == []


# -- one broken variant per trap (mod_ssl) ---------------------------------------------------------

def test_verify_client_in_a_location_is_an_error_on_its_line():
    text = variant(MOD_SSL, "    SSLVerifyClient require\n", "    SSLVerifyClient none\n"
                   "    <Location /main>\n        SSLVerifyClient require\n    </Location>\n")
    findings = findings_for(text)
    assert found(findings, line_of(text, "        SSLVerifyClient require"), "error", "AH10158")


def test_verify_client_optional_at_vhost_with_require_expr_is_not_reported():
    text = variant(MOD_SSL, "    SSLVerifyClient require\n", "    SSLVerifyClient optional\n"
                   "    <Location /main>\n        Require expr %{SSL_CLIENT_VERIFY} == 'SUCCESS'\n"
                   "    </Location>\n")
    findings = findings_for(text)
    assert not any("/main" in f.message for f in findings)
    assert found(findings, line_of(text, "WSGIScriptAlias /admin"), "info", "anonymously")


def test_fake_basic_auth_with_ssl_user_name_is_an_error():
    text = variant(MOD_SSL, "SSLOptions +StdEnvVars", "SSLOptions +FakeBasicAuth +StdEnvVars")
    assert found(findings_for(text), line_of(text, "SSLOptions"), "error", "whole subject DN")


def test_compat_env_vars_is_an_error():
    text = variant(MOD_SSL, "+ExportCertData\n", "+ExportCertData +CompatEnvVars\n")
    assert found(findings_for(text), line_of(text, "SSLOptions"), "error", "CompatEnvVars")


def test_optional_no_ca_is_an_error():
    text = variant(MOD_SSL, "SSLVerifyClient require", "SSLVerifyClient optional_no_ca")
    assert found(findings_for(text), line_of(text, "optional_no_ca"), "error", "any CA")


def test_insecure_renegotiation_is_an_error():
    text = variant(MOD_SSL, "    SSLEngine on\n", "    SSLEngine on\n"
                   "    SSLInsecureRenegotiation on\n")
    assert found(findings_for(text), line_of(text, "SSLInsecureRenegotiation"), "error",
                 "CVE-2009-3555")


def test_user_name_attribute_spelled_in_the_wrong_case_is_an_error():
    text = variant(MOD_SSL, "SSLUserName SSL_CLIENT_S_DN_UID", "SSLUserName SSL_CLIENT_S_DN_uid")
    assert found(findings_for(text), line_of(text, "SSLUserName"), "error",
                 "case-sensitive: SSL_CLIENT_S_DN_UID")


def test_user_name_that_is_no_variable_is_an_error():
    text = variant(MOD_SSL, "SSLUserName SSL_CLIENT_S_DN_UID", "SSLUserName SSL_CLIENT_UID")
    assert found(findings_for(text), line_of(text, "SSLUserName"), "error", "AH02227")


def test_client_certificate_without_the_user_name_attribute_is_an_error():
    carol = client_certificate(x509.NameAttribute(NameOID.COMMON_NAME, "carol"))
    text = shipped(MOD_SSL)
    findings = findings_for(text, certificates=(("carol.pem", carol),))
    assert found(findings, line_of(text, "SSLUserName"), "error", "carol.pem (subject CN=carol)")


def test_missing_export_cert_data_is_a_warning_for_each_app():
    text = variant(MOD_SSL, "SSLOptions +StdEnvVars +ExportCertData", "SSLOptions +StdEnvVars")
    findings = findings_for(text)
    for alias in ("WSGIScriptAlias /main", "WSGIScriptAlias /admin"):
        assert found(findings, line_of(text, alias), "warning", "+ExportCertData")


def test_no_client_verification_for_the_apps_is_an_error():
    text = variant(MOD_SSL, "SSLVerifyClient require", "SSLVerifyClient none")
    findings = findings_for(text)
    for alias in ("WSGIScriptAlias /main", "WSGIScriptAlias /admin"):
        assert found(findings, line_of(text, alias), "error", "no SSLVerifyClient covers it")


def test_sub_interpreter_alone_in_its_daemon_is_a_warning():
    text = variant(MOD_SSL, "process-group=keystone-lite-main application-group=%{GLOBAL}",
                   "process-group=keystone-lite-main")
    assert found(findings_for(text), line_of(text, "WSGIScriptAlias /main"), "warning",
                 "sub-interpreter")


def test_sub_interpreters_sharing_a_daemon_are_an_error():
    text = shipped(MOD_SSL).replace(" application-group=%{GLOBAL}", "").replace(
        "process-group=keystone-lite-admin", "process-group=keystone-lite-main")
    findings = findings_for(text)
    assert found(findings, line_of(text, "WSGIScriptAlias /admin"), "error",
                 "PyO3 modules do not yet support subinterpreters")
    assert found(findings, line_of(text, "WSGIScriptAlias /admin"), "warning", "share the daemon")


def test_application_group_set_by_directive_counts():
    text = variant(MOD_SSL, "process-group=keystone-lite-main application-group=%{GLOBAL}",
                   "process-group=keystone-lite-main\n    WSGIApplicationGroup %{GLOBAL}")
    assert findings_for(text) == []


def test_process_group_without_daemon_is_an_error():
    text = variant(MOD_SSL, "process-group=keystone-lite-admin", "process-group=keystone-admin")
    assert found(findings_for(text), line_of(text, "WSGIScriptAlias /admin"), "error",
                 "names no WSGIDaemonProcess")


def test_pass_authorization_is_reported_as_info():
    text = variant(MOD_SSL, "    SSLEngine on\n",
                   "    SSLEngine on\n    WSGIPassAuthorization On\n")
    findings = findings_for(text)
    assert found(findings, line_of(text, "WSGIPassAuthorization"), "info", "not needed")
    assert not any(f.severity == "error" for f in findings)


def test_mod_nss_directive_in_a_mod_ssl_host_is_an_error_naming_the_counterpart():
    text = variant(MOD_SSL, "    SSLEngine on\n", "    SSLEngine on\n    NSSRenegotiation on\n")
    finding = next(f for f in findings_for(text) if f.line == line_of(text, "NSSRenegotiation"))
    assert finding.severity == "error" and "mod_nss directive" in finding.message
    assert "no" in finding.fix and "SSLInsecureRenegotiation" in finding.fix


# -- certificate revocation (mod_ssl) --------------------------------------------------------------

WITH_CRL = {**DEFINES, "KEYSTONE_LITE_CRL": "/etc/kl/crl.pem"}


def test_shipped_mod_ssl_config_with_a_crl_checks_it_for_the_whole_chain_and_is_clean():
    config = httpd_config.read_config(MOD_SSL, WITH_CRL)
    assert httpd_check.check(config, "mod_ssl") == []
    assert [(d.name, d.args) for d in config.directives if d.key.startswith("sslcarevocation")
            ] == [("SSLCARevocationFile", ("/etc/kl/crl.pem",)),
                  ("SSLCARevocationCheck", ("chain",))]


def test_shipped_mod_ssl_config_without_a_crl_defined_has_no_revocation_directives():
    config = httpd_config.read_config(MOD_SSL, DEFINES)
    assert not [d for d in config.directives if d.key.startswith("sslcarevocation")]


@pytest.mark.parametrize("check", ["", "        SSLCARevocationCheck none\n"],
                         ids=["no-check", "check-none"])
def test_revocation_file_without_a_revocation_check_is_an_error_on_its_line(check):
    text = variant(MOD_SSL, "        SSLCARevocationCheck chain\n", check)
    findings = httpd_check.check(httpd_config.read_string(text, "test.conf", WITH_CRL))
    assert found(findings, line_of(text, "SSLCARevocationFile"), "error",
                 "mod_ssl reads the CRLs and checks none of them")


def test_revocation_check_without_a_revocation_file_is_an_error_ah01899():
    text = variant(MOD_SSL, "        SSLCARevocationFile ${KEYSTONE_LITE_CRL}\n", "")
    findings = httpd_check.check(httpd_config.read_string(text, "test.conf", WITH_CRL))
    assert found(findings, line_of(text, "SSLCARevocationCheck chain"), "error", "AH01899")


def test_revocation_file_in_a_mod_nss_host_names_crlutil():
    text = variant(MOD_NSS, "    NSSEngine on\n",
                   "    NSSEngine on\n    SSLCARevocationFile /etc/kl/crl.pem\n")
    finding = next(f for f in findings_for(text, "mod_nss")
                   if f.line == line_of(text, "SSLCARevocationFile"))
    assert finding.severity == "error" and "crlutil -I" in finding.fix


# -- mod_nss variants ------------------------------------------------------------------------------

def test_mod_nss_fake_basic_auth_with_nss_user_name_is_an_error():
    text = variant(MOD_NSS, "NSSOptions +StdEnvVars", "NSSOptions +FakeBasicAuth +StdEnvVars")
    assert found(findings_for(text, "mod_nss"), line_of(text, "NSSOptions"), "error",
                 "rhbz#1347298")


def test_mod_nss_verify_client_in_a_location_is_an_error():
    text = variant(MOD_NSS, "    NSSVerifyClient require\n", "    <Location /main>\n"
                   "        NSSVerifyClient require\n    </Location>\n")
    findings = findings_for(text, "mod_nss")
    assert found(findings, line_of(text, "NSSVerifyClient"), "error", "-12176")
    assert found(findings, line_of(text, "WSGIScriptAlias /admin"), "error",
                 "no NSSVerifyClient covers it")


def test_mod_nss_renegotiation_without_safe_negotiation_is_an_error():
    text = variant(MOD_NSS, "    NSSRequireSafeNegotiation on\n", "")
    assert found(findings_for(text, "mod_nss"), line_of(text, "NSSRenegotiation on"), "error",
                 "RFC 5746")


def test_mod_ssl_directive_in_a_mod_nss_host_is_an_error():
    text = variant(MOD_NSS, "    NSSEngine on\n", "    NSSEngine on\n    SSLVerifyDepth 2\n")
    finding = next(f for f in findings_for(text) if f.line == line_of(text, "SSLVerifyDepth"))
    assert finding.severity == "error" and "whole chain" in finding.fix


def test_mod_nss_optional_no_ca_is_an_error():
    text = variant(MOD_NSS, "NSSVerifyClient require", "NSSVerifyClient optional_no_ca")
    assert found(findings_for(text, "mod_nss"), line_of(text, "NSSVerifyClient"), "error",
                 "does not support")


# -- reading: includes, continuations, comments, conditionals --------------------------------------

def test_trap_in_an_included_conf_d_file_is_reported_with_that_file_and_line(tmp_path):
    write(tmp_path, "conf.d/10-other.conf", "# nothing here\n")
    included = write(tmp_path, "conf.d/20-keystone.conf", variant(
        MOD_SSL, "    SSLEngine on\n", "    SSLEngine on\n    SSLInsecureRenegotiation on\n"))
    top = write(tmp_path, "httpd.conf", f"ServerRoot {tmp_path}\n" + "".join(
        f"Define {name} {value}\n" for name, value in DEFINES.items())
        + "IncludeOptional conf.d/*.conf\nIncludeOptional absent.d/*.conf\n")
    config = httpd_config.read_config(top)
    findings = httpd_check.check(config)
    assert [(f.file, f.line) for f in findings] == [
        (included, line_of(shipped(included), "SSLInsecureRenegotiation"))]
    assert config.files == [top, str(tmp_path / "conf.d/10-other.conf"), included]


def test_include_of_a_missing_file_is_an_error_relative_to_the_server_root(tmp_path):
    write(tmp_path, "conf/extra.conf", "Listen 5000\n")
    top = write(tmp_path, "conf/httpd.conf",
                f'ServerRoot "{tmp_path}"\nInclude conf/extra.conf\nInclude conf/gone.conf\n')
    findings = httpd_check.check(httpd_config.read_config(top))
    assert [(f.line, f.severity) for f in findings] == [(3, "error")]
    assert "gone.conf matches no file" in findings[0].message


def test_include_loop_is_reported_not_followed(tmp_path):
    top = write(tmp_path, "a.conf", "Include b.conf\n")
    write(tmp_path, "b.conf", "Include a.conf\n")
    findings = httpd_check.check(httpd_config.read_config(top))
    assert any("includes itself" in f.message for f in findings)


def test_continuation_lines_are_joined_and_reported_at_their_first_line():
    text = "<VirtualHost *:5000>\nSSLUserName SSL_CLIENT_S_DN_UID\nSSLOptions +StdEnvVars \\\n" \
           "    +FakeBasicAuth\n</VirtualHost>\n"
    assert found(findings_for(text), 3, "error", "FakeBasicAuth")


def test_commented_out_traps_are_ignored():
    text = "<VirtualHost *:5000>\n# SSLInsecureRenegotiation on\n  #SSLOptions +CompatEnvVars\n" \
           "</VirtualHost>\n"
    assert findings_for(text) == []


def test_if_define_blocks_follow_the_defines():
    text = "<IfDefine !KL_STRICT>\nSSLInsecureRenegotiation on\n</IfDefine>\n"
    assert found(findings_for(text), 2, "error", "CVE-2009-3555")
    config = httpd_config.read_string(text, "test.conf", {"KL_STRICT": ""})
    assert httpd_check.check(config) == []


def test_unbalanced_sections_are_errors():
    findings = findings_for("<VirtualHost *:5000>\n<Location /main>\n</VirtualHost>\n")
    assert [(f.line, f.severity) for f in findings] == [(1, "error"), (2, "error"),
                                                         (3, "error")]


def test_undefined_variable_is_a_warning_once():
    findings = findings_for("Listen ${NOWHERE}\nListen ${NOWHERE}\n")
    assert [(f.line, f.severity) for f in findings] == [(1, "warning")]


def test_words_are_split_as_httpd_does():
    assert httpd_config.split_words('a "b c" \'d e\' "f\\"g"') == ["a", "b c", "d e", 'f"g']


def test_finding_reads_file_line_severity_message_and_fix():
    finding = httpd_config.Finding("x.conf", 7, "error", "what is wrong", "how to fix")
    assert str(finding) == "x.conf:7: error: what is wrong — how to fix"


# -- the seed-era config ---------------------------------------------------------------------------

def test_seed_era_config_reports_every_trap():
    text = shipped(SEED_ERA)
    findings = httpd_check.check(httpd_config.read_config(SEED_ERA))
    expected = [
        ("SSLInsecureRenegotiation on", 1, "error", "CVE-2009-3555"),
        ("NSSRequireSafeNegotiation on", 1, "error", "mod_nss directive"),
        ("SSLOptions +FakeBasicAuth", 1, "error", "whole subject DN"),
        ("SSLOptions +FakeBasicAuth", 1, "error", "Illegal option 'CompatEnvVars'"),
        ("WSGIPassAuthorization On", 1, "info", "not needed"),
        ("WSGIScriptAlias /main", 1, "error", "sub-interpreter"),
        ("WSGIScriptAlias /main", 1, "warning", "no process group"),
        ("WSGIScriptAlias /main", 1, "warning", "+StdEnvVars"),
        ("WSGIScriptAlias /admin", 1, "error", "sub-interpreter"),
        ("SSLVerifyClient require", 1, "error", "<Location /main>"),
        ("SSLVerifyClient require", 2, "error", "<Location /admin>"),
    ]
    for fragment, occurrence, severity, words in expected:
        assert found(findings, line_of(text, fragment, occurrence), severity, words), fragment


def test_check_httpd_command_exits_1_on_the_seed_era_config(capsys):
    status = manage.main(["--config-file", SERVICE_CONFIG, "check-httpd", SEED_ERA])
    out, err = capsys.readouterr()
    assert status == 1
    assert f"{SEED_ERA}:{line_of(shipped(SEED_ERA), 'SSLInsecureRenegotiation')}: error: " in out
    assert out.splitlines()[-1].startswith("check-httpd: 8 error(s)")
    assert "check-httpd: 8 error(s) in" in err


def test_check_httpd_command_exits_0_on_the_shipped_config(capsys):
    defines = [arg for name, value in DEFINES.items() for arg in ("--define", f"{name}={value}")]
    status = manage.main(["--config-file", SERVICE_CONFIG, "check-httpd", MOD_SSL, *defines])
    assert status == 0
    assert capsys.readouterr().out == "check-httpd: 0 error(s), 0 warning(s), 0 info in 1 file(s)\n"


def test_check_httpd_command_checks_client_certificates(tmp_path, capsys):
    carol = client_certificate(x509.NameAttribute(NameOID.COMMON_NAME, "carol"))
    pem = write(tmp_path, "carol.pem", carol.public_bytes(serialization.Encoding.PEM).decode())
    defines = [arg for name, value in DEFINES.items() for arg in ("--define", f"{name}={value}")]
    status = manage.main(["--config-file", SERVICE_CONFIG, "check-httpd", MOD_SSL, *defines,
                          "--client-cert", pem])
    assert status == 1
    assert "lacks that attribute" in capsys.readouterr().out


def test_check_httpd_command_refuses_a_file_that_is_no_certificate(tmp_path, capsys):
    junk = write(tmp_path, "junk.pem", "not a certificate\n")
    status = manage.main(["--config-file", SERVICE_CONFIG, "check-httpd", MOD_SSL,
                          "--client-cert", junk])
    assert status == 1
    assert "no PEM certificate" in capsys.readouterr().err
