"""Certificate-bound tokens end to end: ``keystone-lite serve`` (real TLS, client certificates
of the dev PKI, ``--verify-client optional`` so that a request without one reaches the app) with
``[cert_auth] bind_tokens = true``, driven with the real curl. The same rules through WebTest,
case by case: tests/functional/test_bound_tokens.py."""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import ssl
import subprocess
import sys

import pytest

from keystone_lite import pki

from builders import LOOPBACK as HOST, external_auth, free_port
from test_embedded_server import (cert_options, cli, curl, database_lines, post_json, stop,
                                  wait_listening)

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")


@pytest.fixture(scope="module")
def site(tmp_path_factory, database_backend):
    """The served installation: alice (member of demo) and the certificate-only admin, with
    certificates for them, a second one of alice's and one of mallory (no user)."""
    directory = tmp_path_factory.mktemp("bound")
    config = str(directory / "keystone-lite.conf")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write("[DEFAULT]\ndata_dir = data\n\n[cert_auth]\nbind_tokens = true\n"
                     + database_lines(database_backend.create()))
    port = free_port()
    base = f"https://{HOST}:{port}"
    cli(config, "db_sync")
    cli(config, "fernet_setup")
    cli(config, "bootstrap", "--bootstrap-public-url", f"{base}/main/v3",
        "--bootstrap-internal-url", f"{base}/main/v3", "--bootstrap-admin-url",
        f"{base}/admin/v3")
    cli(config, "user", "create", "alice", "--project", "demo", "--role", "member")
    cli(config, "pki", "setup")
    pki_dir = str(directory / "data" / "pki")
    issued = {name: pki.issue_client_certificate(pki_dir, name, uids=(uid,)) for name, uid in
              (("alice", "alice"), ("alice-again", "alice"), ("mallory", "mallory"),
               ("admin", "admin"))}
    log_path = str(directory / "server.log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "keystone_lite.cli.serve", "serve", "--config-file", config,
             "--host", HOST, "--port", str(port), "--verify-client", "optional"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(process, port, log_path)
        yield base, os.path.join(pki_dir, "ca.crt"), issued
    finally:
        status = stop(process)
    assert status == 0, "keystone-lite serve did not stop cleanly on SIGTERM"


def keystonemiddleware_x5t(certificate_path: str) -> str:
    """oauth2_mtls_token's thumbprint of the peer certificate: SHA-256 of its PEM, base64url."""
    with open(certificate_path, encoding="ascii") as handle:
        der = ssl.PEM_cert_to_DER_cert(handle.read())
    pem = ssl.DER_cert_to_PEM_cert(der).encode("ascii")
    return base64.urlsafe_b64encode(hashlib.sha256(pem).digest()).decode()


def test_bound_token_is_accepted_over_its_certificate_only(site):
    base, ca, issued = site

    def over(name):
        return cert_options(issued[name], ca) if name else ["--cacert", ca]

    login = post_json(f"{base}/main/v3/auth/tokens", external_auth("demo"), *over("alice"))
    assert login.status == 201, login
    token = login.headers["x-subject-token"]
    binding = {"x5t#S256": keystonemiddleware_x5t(issued["alice"].certificate)}
    assert login.json()["token"]["oauth2_credential"] == binding
    headers = ["-H", f"X-Auth-Token: {token}", "-H", f"X-Subject-Token: {token}"]

    for app in ("main", "admin"):
        own = curl(f"{base}/{app}/v3/auth/tokens", *over("alice"), *headers)
        assert own.status == 200, own
        for presenter in ("alice-again", "mallory", None):
            copied = curl(f"{base}/{app}/v3/auth/tokens", *over(presenter), *headers)
            assert copied.status == 401, (presenter, copied)
            assert copied.json()["error"]["code"] == 401
            assert copied.headers["www-authenticate"].startswith("Keystone uri=")

    # The admin validating it for alice (not presenting it) sees the binding.
    admin = post_json(f"{base}/admin/v3/auth/tokens", external_auth("admin"), *over("admin"))
    validated = curl(f"{base}/admin/v3/auth/tokens", *over("admin"),
                     "-H", f"X-Auth-Token: {admin.headers['x-subject-token']}",
                     "-H", f"X-Subject-Token: {token}")
    assert validated.status == 200, validated
    assert validated.json()["token"]["oauth2_credential"] == binding
