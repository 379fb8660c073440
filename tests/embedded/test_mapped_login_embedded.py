"""Mapping rules end to end through the embedded server: real TLS, the real curl binary, a
service certificate with no UID (only a URI and an OU) signed by the dev CA. Its first login
provisions its user, its OU puts it in a group whose role reaches the token."""
from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from builders import ADMIN_TOKEN, LOOPBACK as HOST, external_auth, free_port
from keystone_lite import pki
from test_embedded_server import cli, curl, database_lines, post_json, stop, wait_listening

RULES = [{"local": [{"user": {"name": "{0}"}}, {"domain": {"name": "services"}},
                    {"groups": "{1}", "domain": {"name": "services"}}],
          "remote": [{"type": "SSL_CLIENT_SAN_URI", "whitelist": ["^spiffe://corp/"],
                      "regex": True},
                     {"type": "SSL_CLIENT_SUBJECT_DN_OU"}]}]
ADMIN = ["-H", f"X-Auth-Token: {ADMIN_TOKEN}"]

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")


def service_certificate(pki_dir: str, directory, uri: str, team: str) -> str:
    """A client certificate of the dev CA with no UID: subject OU=<team>, SAN URI <uri>.
    Returns the PEM file holding the certificate and its key (curl --cert)."""
    ca_certificate, ca_key = pki.load_ca(pki_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, team),
                                 x509.NameAttribute(NameOID.COMMON_NAME, "billing")]))
        .issuer_name(ca_certificate.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))
    path = directory / f"{team}.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return str(path)


def test_a_service_certificate_without_uid_is_provisioned_and_gets_its_groups_role(
        tmp_path, database_backend):
    (tmp_path / "rules.json").write_text(json.dumps(RULES), encoding="utf-8")
    config = str(tmp_path / "keystone-lite.conf")
    (tmp_path / "keystone-lite.conf").write_text(
        f"[DEFAULT]\ndata_dir = data\nadmin_token = {ADMIN_TOKEN}\n"
        "[cert_auth]\nmapping_file = rules.json\nprovision_users = true\n"
        + database_lines(database_backend.create()), encoding="utf-8")
    port = free_port()
    base = f"https://{HOST}:{port}"
    cli(config, "db_sync")
    cli(config, "fernet_setup")
    cli(config, "bootstrap", "--bootstrap-admin-url", f"{base}/admin/v3")
    cli(config, "pki", "setup")
    pki_dir = str(tmp_path / "data" / "pki")
    billing = service_certificate(pki_dir, tmp_path, "spiffe://corp/billing", "payments")
    # The server asks every client for a certificate; the admin calls use the admin token.
    ca = ["--cacert", f"{pki_dir}/ca.crt", "--cert",
          pki.issue_client_certificate(pki_dir, "operator").combined]

    log_path = str(tmp_path / "server.log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "keystone_lite.cli.serve", "serve", "--config-file", config,
             "--host", HOST, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(process, port, log_path)
        admin = f"{base}/admin/v3"
        services = post_json(f"{admin}/domains", {"domain": {"name": "services"}}, *ca,
                             *ADMIN).json()["domain"]["id"]
        group = post_json(f"{admin}/groups", {"group": {"name": "payments",
                                                         "domain_id": services}},
                          *ca, *ADMIN).json()["group"]["id"]
        project = post_json(f"{admin}/projects", {"project": {"name": "ledger",
                                                              "domain_id": services}},
                            *ca, *ADMIN).json()["project"]["id"]
        roles = curl(f"{admin}/roles?name=member", *ca, *ADMIN).json()["roles"]
        granted = curl(f"{admin}/projects/{project}/groups/{group}/roles/{roles[0]['id']}",
                       *ca, *ADMIN, "-X", "PUT")
        assert granted.status == 204, granted

        body = external_auth()
        body["auth"]["scope"] = {"project": {"id": project}}
        reply = post_json(f"{base}/main/v3/auth/tokens", body, "--cacert", f"{pki_dir}/ca.crt",
                          "--cert", billing)
        assert reply.status == 201, (reply, open(log_path, encoding="utf-8").read())
        token = reply.json()["token"]
        assert token["user"]["name"] == "spiffe://corp/billing"
        assert token["user"]["domain"]["id"] == services
        assert "member" in {role["name"] for role in token["roles"]}  # the group's role
    finally:
        status = stop(process)
    assert status == 0
