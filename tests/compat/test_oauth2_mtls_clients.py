"""OAuth 2.0 mutual-TLS client credentials with the real clients, over real TLS.

A certificate alone gets a token: the ``openstack`` command with
``--os-auth-type v3oauth2mtlsclientcredential`` and keystoneauth1's
``v3.OAuth2mTlsClientCredential`` plugin, against the embedded TLS server (client certificate
required). The token is bound to that certificate: keystonemiddleware's ``oauth2_mtls_token``
filter, in front of a sample service served by eventlet with TLS (``mtls_service.py``, the only
server that gives the filter the connection's certificate), accepts it from that certificate and
refuses it (401) from another one, even another certificate of the same user.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest
import webtest

from compat_clients import require, require_executable, require_installed
from conftest import CERT_PROJECT, SERVICE_PASSWORD, SERVICE_PROJECT, SERVICE_USER

from builders import external_auth, post_token
from keystone_lite import pki

v3 = require("keystoneauth1.identity.v3")
ks_session = require("keystoneauth1.session")
require("keystonemiddleware.oauth2_mtls_token")
require_installed("eventlet")  # in the sample service's process only
requests = require("requests")
OPENSTACK = require_executable("openstack")

pytestmark = pytest.mark.compat
TIMEOUT = 60  # one openstack command, or the service starting
SERVICE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mtls_service.py")


@dataclasses.dataclass(frozen=True)
class Client:
    """A certificate-only user (member of demo, their default project) and two certificates
    of theirs."""

    id: str
    certificate: pki.Issued
    other_certificate: pki.Issued


@pytest.fixture(scope="module")
def client(tls_keystone) -> Client:
    name = f"oauth2-{uuid.uuid4().hex[:8]}"
    tls_keystone.cli("user", "create", name, "--project", CERT_PROJECT, "--role", "member")
    pki_dir = pki.default_directory(tls_keystone.data_dir)
    first = pki.issue_client_certificate(pki_dir, name)
    second = pki.issue_client_certificate(pki_dir, f"{name}-2", uids=(name,))
    user_id = post_token(webtest.TestApp(tls_keystone.apps["/main"]), external_auth(),
                         user=name).json["token"]["user"]["id"]
    return Client(user_id, first, second)


@pytest.fixture(scope="module")
def service(tls_keystone, certificates, tmp_path_factory) -> str:
    """The URL of the sample service behind ``oauth2_mtls_token`` (one eventlet process for
    the module). The filter validates tokens as ``auth_token`` does: the service user's
    password, over the service's certificate (keystone_lite requires one)."""
    pki_dir = pki.default_directory(tls_keystone.data_dir)
    server = pki.ensure_server_certificate(pki_dir)
    settings = {"certificate": server.certificate, "key": server.key, "ca": certificates.ca,
                "authtoken": {
                    "www_authenticate_uri": f"{tls_keystone.main}/v3",
                    "auth_url": f"{tls_keystone.admin}/v3", "auth_type": "password",
                    "username": SERVICE_USER, "password": SERVICE_PASSWORD,
                    "project_name": SERVICE_PROJECT, "user_domain_id": "default",
                    "project_domain_id": "default", "http_connect_timeout": "10",
                    "certfile": certificates.service.certificate,
                    "keyfile": certificates.service.key, "cafile": certificates.ca}}
    errors = tmp_path_factory.mktemp("mtls-service") / "stderr"
    with open(errors, "w", encoding="utf-8") as stderr:
        process = subprocess.Popen([sys.executable, SERVICE, json.dumps(settings)],
                                   stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   stdin=subprocess.DEVNULL)
    try:
        port = process.stdout.readline().strip()
        assert port.isdigit(), f"the sample service did not start:\n{errors.read_text()}"
        yield f"https://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(TIMEOUT)
        process.stdout.close()


def openstack(home, *argv: str) -> dict:
    """``openstack *argv -f json`` with no OS_* variables (HOME holds any clouds.yaml)."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    environ.update(HOME=str(home))
    result = subprocess.run([OPENSTACK, *argv, "-f", "json"], env=environ, capture_output=True,
                            text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def call(service: str, token: str, certificate: pki.Issued, ca: str):
    return requests.get(f"{service}/", headers={"Authorization": f"Bearer {token}"},
                        cert=(certificate.certificate, certificate.key), verify=ca,
                        timeout=TIMEOUT)


def test_openstack_token_issue_with_a_certificate_alone_and_the_mtls_filter_holds_it_to_it(
        tls_keystone, certificates, client, service, tmp_path):
    # As docs/certificates.md gives it: the certificate alone, options only.
    token = openstack(
        tmp_path, "--os-identity-api-version", "3",
        "--os-auth-type", "v3oauth2mtlsclientcredential",
        "--os-auth-url", f"{tls_keystone.main}/v3",
        "--os-oauth2-endpoint", f"{tls_keystone.main}/v3/OS-OAUTH2/token",
        "--os-oauth2-client-id", client.id,
        "--os-cert", client.certificate.certificate, "--os-key", client.certificate.key,
        "--os-cacert", certificates.ca, "token", "issue")

    assert token["user_id"] == client.id and token["project_id"] and token["id"]
    accepted = call(service, token["id"], client.certificate, certificates.ca)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"X-User-Id": client.id, "X-Project-Id": token["project_id"],
                               "X-Roles": "member,reader"}
    # The same token from another certificate (the same user's second one, or alice's).
    for other in (client.other_certificate, certificates.alice):
        refused = call(service, token["id"], other, certificates.ca)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == 401


def test_keystoneauth1_plugin_gets_a_bound_token_of_the_default_project(tls_keystone,
                                                                        certificates, client):
    auth = v3.OAuth2mTlsClientCredential(
        auth_url=f"{tls_keystone.main}/v3",
        oauth2_endpoint=f"{tls_keystone.main}/v3/OS-OAUTH2/token",
        oauth2_client_id=client.id)
    session = ks_session.Session(auth=auth, cert=(client.certificate.certificate,
                                                  client.certificate.key),
                                 verify=certificates.ca, timeout=TIMEOUT)

    access = auth.get_access(session)

    assert access.user_id == client.id and access.project_name == CERT_PROJECT
    assert access._data["token"]["methods"] == []  # as Keystone shows its OAuth2 tokens
    assert set(access._data["token"]["oauth2_credential"]) == {"x5t#S256"}
    assert session.get_auth_headers()["Authorization"] == f"Bearer {access.auth_token}"


def test_the_grant_refuses_a_client_id_the_certificate_does_not_name(tls_keystone, certificates,
                                                                     client):
    auth = v3.OAuth2mTlsClientCredential(
        auth_url=f"{tls_keystone.main}/v3",
        oauth2_endpoint=f"{tls_keystone.main}/v3/OS-OAUTH2/token",
        oauth2_client_id=client.id)
    session = ks_session.Session(auth=auth, cert=(certificates.alice.certificate,
                                                  certificates.alice.key),
                                 verify=certificates.ca, timeout=TIMEOUT)

    with pytest.raises(require("keystoneauth1.exceptions").ClientException,
                       match="Client authentication failed."):
        auth.get_access(session)


def test_openstack_with_the_documented_clouds_yaml(tls_keystone, certificates, client,
                                                   tmp_path):
    """The clouds.yaml of docs/certificates.md, filled in."""
    config = tmp_path / ".config" / "openstack"
    config.mkdir(parents=True)
    (config / "clouds.yaml").write_text(f"""\
clouds:
  mycloud:
    auth_type: v3oauth2mtlsclientcredential
    auth:
      auth_url: {tls_keystone.main}/v3
      oauth2_endpoint: {tls_keystone.main}/v3/OS-OAUTH2/token
      oauth2_client_id: {client.id}
    cert: {client.certificate.certificate}
    key: {client.certificate.key}
    cacert: {certificates.ca}
    identity_api_version: 3
""", encoding="utf-8")

    token = openstack(tmp_path, "--os-cloud", "mycloud", "token", "issue")

    assert token["user_id"] == client.id and token["project_id"]


def account_download(tls_keystone, certificates, client, name: str) -> str:
    """``/main/account/<name>`` as the certificate's holder downloads it from the account
    page."""
    response = requests.get(f"{tls_keystone.main}/account/{name}", verify=certificates.ca,
                            cert=(client.certificate.certificate, client.certificate.key),
                            timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.text


def test_the_account_pages_clouds_yaml_and_openrc_log_in_as_downloaded(
        tls_keystone, certificates, client, tmp_path):
    """Saved where the page says, beside the certificate, key and CA under the names it
    gives, both downloads log the openstack command in with the certificate alone."""
    directory = tmp_path / ".config" / "openstack"
    directory.mkdir(parents=True)
    for source, name in ((client.certificate.certificate, "keystone-lite.crt"),
                         (client.certificate.key, "keystone-lite.key"),
                         (certificates.ca, "keystone-lite-ca.crt")):
        shutil.copyfile(source, directory / name)
    clouds = directory / "clouds.yaml"
    clouds.write_text(account_download(tls_keystone, certificates, client, "clouds.yaml"))
    token = openstack(tmp_path, "--os-cloud", "keystone-lite", "token", "issue")
    assert token["user_id"] == client.id and token["project_id"]

    clouds.unlink()
    openrc = tmp_path / "openrc"
    openrc.write_text(account_download(tls_keystone, certificates, client, "openrc"))
    environ = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    result = subprocess.run(
        ["bash", "-c", '. "$1" && exec "$2" token issue -f json', "bash", str(openrc),
         OPENSTACK], env={**environ, "HOME": str(tmp_path)}, capture_output=True, text=True,
        timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["user_id"] == client.id
