"""The embedded server with ``[cert_auth] crl_file``: real TLS, dev PKI CRLs, the real curl.

The handshake refuses a revoked certificate (``VERIFY_CRL_CHECK_LEAF``), picks up a new CRL
file without a restart and fails closed on an out-of-date or broken one. The in-process server
serves a small echo app; ``keystone-lite serve`` runs once with the whole application, to show
the CLI wiring (and cert_auth sharing the server's CRLs) end to end.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from keystone_lite import pki, server
from keystone_lite.certificates.crl import RevocationList
from keystone_lite.cli import manage

from builders import (ADMIN_TOKEN, LOOPBACK as HOST, Reply, external_auth, free_port,
                      is_listening, parse_http)

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")

START_TIMEOUT = 30
STOP_TIMEOUT = 15
LOOK_INTERVAL = 1.1  # the CRL file is looked at once a second at most
# curl's exit status when the server's alert arrives after the TLS 1.3 handshake (56) or in
# the TLS 1.2 one (35).
HANDSHAKE_REFUSED = (35, 56)


def curl(url: str, *options: str) -> Reply:
    result = subprocess.run(["curl", "-sS", "-i", "--max-time", "10", *options, url],
                            capture_output=True, timeout=20)
    return Reply(result.returncode, *parse_http(result.stdout), result.stderr.decode())


def client_options(pki_dir: str, user: str) -> list[str]:
    """curl options presenting ``user``'s certificate and trusting the dev CA."""
    clients = os.path.join(pki_dir, "clients")
    return ["--cacert", os.path.join(pki_dir, "ca.crt"),
            "--cert", os.path.join(clients, f"{user}.crt"),
            "--key", os.path.join(clients, f"{user}.key")]


class DevPki:
    """The dev CA with alice and bob, and its CRL at ``crl_file``."""

    def __init__(self, directory: str):
        self.directory = directory
        pki.ensure_ca(directory)
        pki.ensure_server_certificate(directory)
        for user in ("alice", "bob"):
            pki.issue_client_certificate(directory, user)
        self.ca = os.path.join(directory, "ca.crt")
        self.crl_file = os.path.join(directory, "crl.pem")
        self.files = server.TLSFiles(os.path.join(directory, "server.crt"),
                                     os.path.join(directory, "server.key"), self.ca)

    def client(self, user: str) -> list[str]:
        return client_options(self.directory, user)

    def revoke(self, user: str, **crl_options) -> None:
        pki.revoke_client_certificate(self.directory, user)
        self.publish(**crl_options)

    def publish(self, **crl_options) -> None:
        pki.write_crl(self.directory, self.crl_file, **crl_options)


def echo(environ, start_response):
    body = json.dumps({"user": environ.get("REMOTE_USER")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


@contextlib.contextmanager
def echo_server(dev: DevPki):
    """The embedded server in a thread of this process, checking ``dev``'s CRL file."""
    httpd = server.make_server({"/echo": echo}, dev.files, "SSL_CLIENT_S_DN_UID", HOST, 0,
                               threads=2, revocations=RevocationList(dev.crl_file, dev.ca))
    httpd.prepare()
    thread = threading.Thread(target=httpd.serve, daemon=True)
    thread.start()
    try:
        yield f"https://{HOST}:{httpd.bind_addr[1]}/echo"
    finally:
        httpd.stop()
        thread.join(STOP_TIMEOUT)


@pytest.fixture
def dev(tmp_path) -> DevPki:
    made = DevPki(str(tmp_path / "pki"))
    made.publish()
    return made


def assert_served(reply: Reply, user: str) -> None:
    assert reply.status == 200 and reply.json() == {"user": user}, reply


def assert_refused_in_handshake(reply: Reply, alert: str) -> None:
    assert reply.exit_code in HANDSHAKE_REFUSED and reply.status is None, reply
    assert alert in reply.stderr, reply


def test_revoked_certificate_fails_the_handshake_and_others_are_served(dev, caplog):
    dev.revoke("bob")
    caplog.set_level(logging.WARNING, logger="keystone_lite")
    with echo_server(dev) as url:
        assert_refused_in_handshake(curl(url, *dev.client("bob")), "certificate revoked")
        assert_served(curl(url, *dev.client("alice")), "alice")
    assert "refused: the client certificate is revoked" in caplog.text


def test_revoked_certificate_fails_the_tls12_handshake_too(dev):
    dev.revoke("bob")
    with echo_server(dev) as url:
        reply = curl(url, *dev.client("bob"), "--tlsv1.2", "--tls-max", "1.2")
    assert reply.exit_code == 35 and "certificate revoked" in reply.stderr, reply


def test_new_crl_reaches_new_connections_without_a_restart(dev):
    with echo_server(dev) as url:
        assert_served(curl(url, *dev.client("alice")), "alice")
        dev.revoke("alice")
        time.sleep(LOOK_INTERVAL)
        assert_refused_in_handshake(curl(url, *dev.client("alice")), "certificate revoked")
        assert_served(curl(url, *dev.client("bob")), "bob")


def test_der_crl_file_is_checked_the_same(dev):
    pki.revoke_client_certificate(dev.directory, "bob")
    dev.publish(der=True)
    with echo_server(dev) as url:
        assert_refused_in_handshake(curl(url, *dev.client("bob")), "certificate revoked")
        assert_served(curl(url, *dev.client("alice")), "alice")


def test_out_of_date_crl_fails_every_handshake_and_the_log_says_why(dev, caplog):
    caplog.set_level(logging.ERROR, logger="keystone_lite")
    dev.publish(next_update_in_past=True)
    with echo_server(dev) as url:
        for user in ("alice", "bob"):
            # OpenSSL's X509_V_ERR_CRL_HAS_EXPIRED travels as the certificate_expired alert.
            assert_refused_in_handshake(curl(url, *dev.client(user)), "certificate expired")
    lines = [r.getMessage() for r in caplog.records if "out of date" in r.getMessage()]
    assert len(lines) == 1 and "its nextUpdate was" in lines[0], caplog.text


def test_crl_going_out_of_date_while_serving_fails_closed(dev):
    with echo_server(dev) as url:
        assert_served(curl(url, *dev.client("alice")), "alice")
        dev.publish(next_update_in_past=True)
        time.sleep(LOOK_INTERVAL)
        assert_refused_in_handshake(curl(url, *dev.client("alice")), "certificate expired")
        dev.publish()
        time.sleep(LOOK_INTERVAL)
        assert_served(curl(url, *dev.client("alice")), "alice")


def test_crl_file_broken_while_serving_fails_every_handshake(dev, caplog):
    caplog.set_level(logging.ERROR, logger="keystone_lite")
    with echo_server(dev) as url:
        with open(dev.crl_file, "wb") as handle:
            handle.write(b"truncated")
        time.sleep(LOOK_INTERVAL)
        assert_refused_in_handshake(curl(url, *dev.client("alice")), "alert")
    assert "every client certificate is refused until the file is fixed" in caplog.text


# -- keystone-lite serve ---------------------------------------------------------------------------

def cli(config: str, *argv: str) -> None:
    assert manage.main(["--config-file", config, *argv]) == 0, argv


def write_config(path: str, database_url: str | None, crl_file: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"[DEFAULT]\ndata_dir = data\nadmin_token = {ADMIN_TOKEN}\n\n"
                     f"[cert_auth]\ncrl_file = {crl_file}\n")
        if database_url:
            handle.write(f"\n[database]\nconnection = {database_url}\n")


def test_serve_with_crl_file_refuses_revoked_certificates_and_issues_tokens_to_others(
        tmp_path, database_backend):
    config, port = str(tmp_path / "keystone-lite.conf"), free_port()
    base = f"https://{HOST}:{port}"
    write_config(config, database_backend.create(), "data/pki/crl.pem")
    for argv in (["db_sync"], ["fernet_setup"],
                 ["bootstrap", "--bootstrap-public-url", f"{base}/main/v3"],
                 ["user", "create", "alice", "--project", "demo", "--role", "member"],
                 ["pki", "setup"], ["pki", "client", "alice"], ["pki", "client", "bob"],
                 ["pki", "revoke", "bob"], ["pki", "crl"]):
        cli(config, *argv)
    pki_dir = str(tmp_path / "data" / "pki")
    log_path = str(tmp_path / "server.log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "keystone_lite.cli.serve", "serve", "--config-file", config,
             "--host", HOST, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not is_listening(port):
            assert process.poll() is None and time.monotonic() < deadline, open(log_path).read()
            time.sleep(0.05)
        body = ["-H", "Content-Type: application/json", "-d", json.dumps(external_auth("demo"))]
        bob = curl(f"{base}/main/v3/auth/tokens", *client_options(pki_dir, "bob"), *body)
        assert_refused_in_handshake(bob, "certificate revoked")
        reply = curl(f"{base}/main/v3/auth/tokens", *client_options(pki_dir, "alice"), *body)
        assert reply.status == 201 and reply.headers["x-subject-token"], reply
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
    with open(log_path, encoding="utf-8") as log:
        text = log.read()
    # One RevocationList for the handshake and cert_auth: the file is described once.
    assert text.count("1 CRL(s): CN=keystone_lite dev CA,O=keystone_lite dev") == 1, text


def test_serve_with_malformed_crl_file_exits_with_one_line_naming_file_section_and_key(
        tmp_path):
    config = str(tmp_path / "keystone-lite.conf")
    write_config(config, None, "crl.pem")
    (tmp_path / "crl.pem").write_bytes(b"not a CRL")
    cli(config, "pki", "setup")
    result = subprocess.run(
        [sys.executable, "-m", "keystone_lite.cli.serve", "serve", "--config-file", config,
         "--port", str(free_port())], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == (f"keystone-lite serve: {config}: [cert_auth] crl_file: "
                             f"{tmp_path}/crl.pem: neither PEM CRLs nor a DER CRL\n")
