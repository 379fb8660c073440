"""OAuth 2.0 mutual-TLS client credentials (``tls_client_auth``) on ``POST /v3/OS-OAUTH2/token``,
checked against Keystone 30's recorded answers (``../shared/keystone-golden-next/oauth2-*``).

The requests carry what the embedded server (and mod_ssl with ``+StdEnvVars +ExportCertData``)
puts in the environ for a certificate of the dev PKI (keystone_lite.tls_environ). A certificate
alone earns a token of the user it names, on their default project, bound to it: the token
validates with Keystone's ``oauth2_credential`` binding, ends with the certificate, dies when the
certificate is revoked, and is refused from another certificate.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import logging

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import update

from builders import (ADMIN_TOKEN, add_user, assert_keystone_error, golden, in_store,
                      project_id, same_shape, subject_headers, token_auth)
from keystone_lite import pki, tls_environ
from keystone_lite.certificates import records
from keystone_lite.db import models

PATH = "/v3/OS-OAUTH2/token"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OUR_ADDITIONS = {"is_admin_project"}  # docs/compatibility.md
REFUSED = {"error": "invalid_client", "error_description": "Client authentication failed."}


# -- builders -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory) -> str:
    directory = str(tmp_path_factory.mktemp("oauth2-pki"))
    pki.ensure_ca(directory)
    return directory


def certificate_pem(ca_dir: str, user: str, lifetime: datetime.timedelta | None = None) -> str:
    """A client certificate of the dev CA for ``user`` (UID ``user``), as PEM text; the dev
    PKI's own unless ``lifetime`` asks for one that ends sooner."""
    if lifetime is None:
        with open(pki.issue_client_certificate(ca_dir, user).certificate, encoding="ascii") as f:
            return f.read()
    ca_certificate, ca_key = pki.load_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, pki.ORGANIZATION),
                         x509.NameAttribute(NameOID.USER_ID, user),
                         x509.NameAttribute(NameOID.COMMON_NAME, user)])
    certificate = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(ca_certificate.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=1))
                   .not_valid_after(now + lifetime).sign(ca_key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def tls(pem: str) -> dict:
    """What the embedded server puts in the environ for a connection with this certificate
    (REMOTE_USER from SSL_CLIENT_S_DN_UID, SSL_CLIENT_CERT, ...)."""
    der = x509.load_pem_x509_certificate(pem.encode("ascii")).public_bytes(
        serialization.Encoding.DER)
    return tls_environ.client_environ(der, "SSL_CLIENT_S_DN_UID")


def user_id(deployment, name: str) -> str:
    (user,) = deployment.admin.get(f"/v3/users?name={name}",
                                   headers={"X-Auth-Token": ADMIN_TOKEN}).json["users"]
    return user["id"]


def oauth2(app, pem: str | None, client_id: str | None, status: int = 200, **kwargs):
    form = "grant_type=client_credentials" + (f"&client_id={client_id}" if client_id else "")
    environ = {**(tls(pem) if pem else {}), **kwargs.pop("extra_environ", {})}
    return app.post(PATH, form, headers=FORM, extra_environ=environ, status=status, **kwargs)


def validate(deployment, token: str, status: int = 200, **kwargs):
    """GET /v3/auth/tokens as a service validates: the admin token as the caller."""
    return deployment.admin.get("/v3/auth/tokens", headers=subject_headers(token),
                                status=status, **kwargs)


def keystone_x5t(pem: str) -> str:
    """Keystone's ``x5t#S256``: base64url (padded) SHA-256 of the PEM text, computed as
    keystonemiddleware's oauth2_mtls_token filter does from the certificate."""
    return base64.urlsafe_b64encode(hashlib.sha256(pem.encode("ascii")).digest()).decode()


@pytest.fixture
def alice(deployment, ca_dir):
    """(user id, certificate PEM) of alice, member of demo, her default project."""
    add_user(deployment, "alice", "demo", "member")
    return user_id(deployment, "alice"), certificate_pem(ca_dir, "alice")


# -- the grant, as Keystone answers it -------------------------------------------------------------

@pytest.mark.parametrize("provider", ["fernet", "uuid"])
@pytest.mark.parametrize("app_name", ["main", "admin"])
def test_certificate_alone_earns_a_bound_token_on_the_default_project(
        make_deployment, ca_dir, provider, app_name):
    deployment = make_deployment({"token": {"provider": provider}})
    add_user(deployment, "alice", "demo", "member")
    owner, pem = user_id(deployment, "alice"), certificate_pem(ca_dir, "alice")

    response = oauth2(getattr(deployment, app_name), pem, owner)

    status, body, _headers = golden("oauth2-mtls-token.json")
    assert response.status_int == status and set(response.json) == set(body)
    assert response.json["token_type"] == "Bearer"
    assert response.json["expires_in"] == 3600
    assert response.headers["Cache-Control"] == "no-store"
    token = response.json["access_token"]
    assert len(token) < 255  # Keystone's promise, which services' columns assume
    validated = validate(deployment, token).json
    _status, golden_body, _headers = golden("oauth2-mtls-validate.json")
    assert not same_shape(golden_body, validated, additions=OUR_ADDITIONS), \
        same_shape(golden_body, validated, additions=OUR_ADDITIONS)
    shown = validated["token"]
    assert shown["methods"] == []  # as Keystone shows its OAuth2 tokens
    assert shown["oauth2_credential"] == {"x5t#S256": keystone_x5t(pem)}
    assert (shown["user"]["id"], shown["project"]["name"]) == (owner, "demo")
    assert [role["name"] for role in shown["roles"]] == ["member", "reader"]


@pytest.mark.parametrize("case", ["client-id-not-cert-user", "unknown-client-id",
                                  "missing-client-id", "no-default-project"])
def test_refusals_are_keystones_invalid_client(deployment, alice, ca_dir, case, caplog):
    owner, pem = alice
    add_user(deployment, "bob", "demo", "member")
    add_user(deployment, "carol")  # no project: no default project
    client_id, reason = {
        "client-id-not-cert-user": (user_id(deployment, "bob"), "user name 'alice'"),
        "unknown-client-id": ("0" * 32, "no user has the client_id"),
        "missing-client-id": (None, "no client_id"),
        "no-default-project": (user_id(deployment, "carol"), "has no default project"),
    }[case]
    if case == "no-default-project":
        pem = certificate_pem(ca_dir, "carol")

    with caplog.at_level(logging.INFO):
        response = oauth2(deployment.main, pem, client_id, status=401)

    status, body, headers = golden(f"oauth2-error-{case}.json")
    assert (response.status_int, response.json) == (status, body) == (401, REFUSED)
    assert response.headers["WWW-Authenticate"] == 'Keystone uri="http://localhost/v3"'
    assert "www-authenticate" in headers
    assert reason in caplog.text  # the operator learns why; the client does not


def test_a_certificate_the_server_did_not_export_earns_nothing(deployment, alice):
    """REMOTE_USER without SSL_CLIENT_CERT (mod_ssl without +ExportCertData): nothing to bind
    the token to."""
    owner, _pem = alice
    response = oauth2(deployment.main, None, owner, status=401,
                      extra_environ={"REMOTE_USER": "alice", "SSL_CLIENT_VERIFY": "SUCCESS"})
    assert response.json == REFUSED


def test_a_disabled_user_or_a_default_project_without_a_role_earns_nothing(deployment, alice,
                                                                           ca_dir):
    owner, pem = alice
    add_user(deployment, "dave", "demo", "member")
    dave = user_id(deployment, "dave")
    admin_project = project_id(deployment, "admin")
    in_store(deployment, lambda session: session.execute(
        update(models.User).where(models.User.id == owner).values(enabled=False)))
    in_store(deployment, lambda session: session.execute(
        update(models.User).where(models.User.id == dave).values(
            default_project_id=admin_project)))  # dave has no role there

    assert oauth2(deployment.main, pem, owner, status=401).json == REFUSED
    response = oauth2(deployment.main, certificate_pem(ca_dir, "dave"), dave, status=401)
    assert response.json["error"] == "invalid_client"


# -- the token: bound, ends and dies with its certificate ------------------------------------------

def test_token_is_refused_as_x_auth_token_over_another_certificate_or_none(deployment, alice,
                                                                           ca_dir):
    owner, pem = alice
    token = oauth2(deployment.main, pem, owner).json["access_token"]
    own = {"X-Auth-Token": token, "X-Subject-Token": token}

    # What keystoneauth1's v3oauth2mtlsclientcredential plugin does next: over the certificate.
    assert deployment.main.get("/v3/auth/tokens", headers=own,
                               extra_environ=tls(pem)).json["token"]["user"]["id"] == owner
    other = deployment.main.get("/v3/auth/tokens", headers=own, status=401,
                                extra_environ=tls(certificate_pem(ca_dir, "alice")))
    assert_keystone_error(other, 401)
    assert_keystone_error(deployment.main.get("/v3/auth/tokens", headers=own, status=401), 401)
    # A service validating it for the user is not presenting it.
    validate(deployment, token)


def test_token_is_never_exchanged_for_another(deployment, alice):
    """As Keystone: its OAuth2 tokens count as delegated (no rescoping, even to the same
    project)."""
    owner, pem = alice
    token = oauth2(deployment.main, pem, owner).json["access_token"]
    for project in (None, "demo"):
        response = deployment.main.post_json("/v3/auth/tokens", token_auth(token, project),
                                             extra_environ=tls(pem), status=403)
        assert "delegated token" in assert_keystone_error(response, 403)["message"]


def test_token_dies_when_its_certificate_is_revoked(deployment, alice, ca_dir):
    owner, pem = alice
    other_pem = certificate_pem(ca_dir, "alice")  # her second certificate
    token = oauth2(deployment.main, pem, owner).json["access_token"]
    other = oauth2(deployment.main, other_pem, owner).json["access_token"]
    thumbprint = hashlib.sha256(x509.load_pem_x509_certificate(pem.encode()).public_bytes(
        serialization.Encoding.DER)).hexdigest()

    in_store(deployment, records.revoke, thumbprint=thumbprint, reason="lost")

    validate(deployment, token, status=404)
    validate(deployment, other)  # her other certificate's token lives on
    response = oauth2(deployment.main, pem, owner, status=401)
    assert response.json["error"] == "invalid_client"  # and it earns no new one


def test_token_ends_with_its_certificate(deployment, ca_dir):
    add_user(deployment, "erin", "demo", "member")
    owner = user_id(deployment, "erin")
    pem = certificate_pem(ca_dir, "erin", lifetime=datetime.timedelta(minutes=10))
    not_after = x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc

    response = oauth2(deployment.main, pem, owner)

    assert 0 < response.json["expires_in"] <= 600
    shown = validate(deployment, response.json["access_token"]).json["token"]
    assert shown["expires_at"] == not_after.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


# -- Keystone's oauth2_mapping ---------------------------------------------------------------------

def test_stored_oauth2_mapping_says_which_user_a_certificate_is(deployment, alice):
    """As Keystone's golden exchange: the mapping ``oauth2_mapping`` turns the subject's CN, UID
    and O into the user's name, id and domain name, each compared with client_id's user."""
    import cert_builders

    alice_id, _ = alice
    add_user(deployment, "bob", "demo", "member")
    _status, recorded, _headers = golden("oauth2-mapping-put.json")
    mapping = {"mapping": {"rules": recorded["mapping"]["rules"]}}
    deployment.admin.put_json("/v3/OS-FEDERATION/mappings/oauth2_mapping", mapping,
                              headers={"X-Auth-Token": ADMIN_TOKEN}, status=201)

    def subject(uid: str):
        return cert_builders.certificate(cert_builders.name(
            ("O", "Default"), ("UID", uid), ("CN", "alice")))

    ours = subject(alice_id)
    body = deployment.main.post(PATH, f"grant_type=client_credentials&client_id={alice_id}",
                                headers=FORM, extra_environ=cert_builders.environ(ours)).json
    token = validate(deployment, body["access_token"]).json["token"]
    assert token["user"]["id"] == alice_id and token["methods"] == []
    assert token["oauth2_credential"]["x5t#S256"] == keystone_x5t(cert_builders.pem(ours))

    # The certificate says bob's id while its CN says alice: the mapped id is not client_id's.
    bob_id = user_id(deployment, "bob")
    refused = deployment.main.post(
        PATH, f"grant_type=client_credentials&client_id={bob_id}", headers=FORM,
        extra_environ=cert_builders.environ(subject(bob_id)), status=401)
    assert refused.json == {"error": "invalid_client",
                            "error_description": "Client authentication failed."}
