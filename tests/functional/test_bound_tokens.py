"""Certificate-bound tokens (issue 13 item 2): with ``[cert_auth] bind_tokens`` on, a token
earned with a client certificate is the caller only of requests made over that certificate.

The certificates come from the dev PKI (keystone_lite.pki) and reach the apps as mod_ssl
exports them (keystone_lite.tls_environ: ``SSL_CLIENT_CERT``, ``REMOTE_USER``, ...). A service
validating a user's token (``X-Subject-Token``) is not presenting it: the binding is the user's
business, shown to the service as Keystone's ``oauth2_credential``.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import ssl

import pytest

from builders import (SERVICE_PASSWORD, Client, assert_keystone_error, cert_environ,
                      client_certificates, external_auth, grant_role, in_store, login,
                      password_auth, post_token, service_token, subject_headers, token_auth,
                      token_of, with_certificate_users)
from keystone_lite.certificates import records, thumbprints


@pytest.fixture(scope="module")
def clients(tmp_path_factory) -> dict:
    return client_certificates(str(tmp_path_factory.mktemp("pki")))


def deploy(make_deployment, bind: bool):
    return with_certificate_users(make_deployment, bind)


@pytest.fixture
def bound(make_deployment):
    return deploy(make_deployment, bind=True)


@pytest.fixture
def unbound(make_deployment):
    return deploy(make_deployment, bind=False)


def as_service(deployment, token: str, app: str = "admin", status: int = 200):
    """GET /v3/auth/tokens as a service validating ``token`` for its user (auth_token)."""
    return getattr(deployment, app).get("/v3/auth/tokens", headers=subject_headers(
        token, service_token(deployment)), status=status)


def keystonemiddleware_x5t(der: bytes) -> str:
    """What keystonemiddleware's oauth2_mtls_token computes from the peer certificate
    (_confirm_certificate_thumbprint): SHA-256 of the PEM text, base64url with padding."""
    pem = ssl.DER_cert_to_PEM_cert(der)
    return base64.urlsafe_b64encode(hashlib.sha256(pem.encode("ascii")).digest()).decode()


# -- a service validates a bound token for its user ------------------------------------------

@pytest.mark.parametrize("app", ["main", "admin"])
def test_bound_token_validates_for_a_service_and_carries_keystones_binding(bound, clients,
                                                                            app):
    issued = login(bound.main, clients["alice"])
    token = issued.headers["X-Subject-Token"]
    binding = {"x5t#S256": keystonemiddleware_x5t(clients["alice"].der)}
    assert issued.json["token"]["oauth2_credential"] == binding

    validated = as_service(bound, token, app).json["token"]

    assert validated["oauth2_credential"] == binding
    assert validated["user"]["name"] == "alice" and validated["methods"] == ["external"]


def test_bound_token_validates_for_a_service_presenting_another_certificate(bound, clients):
    """The service's own connection may carry its own certificate: still not a presenter."""
    token = token_of(bound.main, clients["alice"])

    response = bound.admin.get("/v3/auth/tokens", headers=subject_headers(
        token, service_token(bound)), extra_environ=clients["bob"].environ)

    assert response.json["token"]["user"]["name"] == "alice"


# -- presented by its holder, or by anyone else -------------------------------------------------

# (app, method, path, success status) of calls that take the caller's X-Auth-Token, on both
# apps and both API versions; "{token}" is the caller's own token.
CALLER_CALLS = [
    ("main", "GET", "/v3/auth/tokens", 200),
    ("admin", "GET", "/v3/auth/tokens", 200),
    ("main", "GET", "/v3/auth/projects", 200),
    ("main", "GET", "/v3/auth/catalog", 200),
    ("main", "GET", "/v3/credentials", 200),
    ("admin", "GET", "/v3/users", 200),
    ("admin", "GET", "/v3/projects", 200),
    ("admin", "GET", "/v2.0/tokens/{token}", 200),
    ("admin", "HEAD", "/v3/auth/tokens", 200),
]


def call_as(deployment, token: str, client: Client | None, app, method, path, status):
    headers = {"X-Auth-Token": token}
    if path == "/v3/auth/tokens":
        headers["X-Subject-Token"] = token
    return getattr(deployment, app).request(
        path.format(token=token), method=method, headers=headers,
        environ=client.environ if client else {}, expect_errors=True)


@pytest.mark.parametrize("app, method, path, status", CALLER_CALLS,
                         ids=[f"{app}-{method}-{path}" for app, method, path, _ in CALLER_CALLS])
def test_bound_token_is_the_caller_over_its_certificate_and_nowhere_else(
        bound, clients, app, method, path, status):
    token = token_of(bound.main, clients["admin"], external_auth("admin"))
    call = (app, method, path, status)

    assert call_as(bound, token, clients["admin"], *call).status_int == status

    for presenter in (None, "alice", "bob"):
        response = call_as(bound, token, clients[presenter] if presenter else None, *call)
        if method == "HEAD":
            assert response.status_int == 401, presenter
        else:
            assert_keystone_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Keystone uri="), presenter


def test_a_second_certificate_of_the_same_user_does_not_carry_the_first_ones_token(bound,
                                                                                      clients,
                                                                                      caplog):
    token = token_of(bound.main, clients["alice"])
    caplog.set_level(logging.WARNING, "keystone_lite")

    response = call_as(bound, token, clients["alice-again"], "main", "GET", "/v3/auth/tokens",
                       200)

    assert_keystone_error(response, 401)
    audit_id = as_service(bound, token).json["token"]["audit_ids"][0]
    assert any(f"bound token {audit_id} refused" in record.getMessage()
               and "over another certificate" in record.getMessage()
               for record in caplog.records)
    assert token not in caplog.text


def test_the_same_certificate_with_a_new_login_is_still_its_holder(bound, clients):
    """What counts is the certificate, not the TLS session: a client reconnecting with the
    same certificate keeps using its token."""
    token = token_of(bound.main, clients["alice"])
    token_of(bound.main, clients["alice"])  # the certificate is remembered once

    assert call_as(bound, token, clients["alice"], "admin", "GET", "/v3/auth/tokens",
                   200).status_int == 200


# -- rescoping: the token method presents the token --------------------------------------------

def test_rescoping_a_bound_token_works_over_its_certificate_and_stays_bound(bound, clients):
    unscoped = token_of(bound.main, clients["alice"], {"auth": {
        "identity": {"methods": ["external"]}, "scope": "unscoped"}})

    rescoped = login(bound.main, clients["alice"], token_auth(unscoped, "demo"))

    token = rescoped.headers["X-Subject-Token"]
    binding = {"x5t#S256": keystonemiddleware_x5t(clients["alice"].der)}
    assert rescoped.json["token"]["oauth2_credential"] == binding
    assert rescoped.json["token"]["methods"] == ["token", "external"]
    assert as_service(bound, token).json["token"]["oauth2_credential"] == binding
    assert_keystone_error(call_as(bound, token, clients["alice-again"], "main", "GET",
                                  "/v3/auth/tokens", 200), 401)
    # Rescoped again (three audit ids), over the certificate: still bound.
    again = login(bound.main, clients["alice"], token_auth(token)).headers["X-Subject-Token"]
    assert as_service(bound, again).json["token"]["oauth2_credential"] == binding
    assert_keystone_error(call_as(bound, again, None, "main", "GET", "/v3/auth/tokens", 200),
                          401)


@pytest.mark.parametrize("presenter", [None, "alice-again"], ids=["no-certificate",
                                                                  "other-certificate"])
def test_rescoping_a_bound_token_over_another_or_no_certificate_gets_401(bound, clients,
                                                                        presenter):
    unscoped = token_of(bound.main, clients["alice"], {"auth": {
        "identity": {"methods": ["external"]}, "scope": "unscoped"}})
    client = clients[presenter] if presenter else None

    assert_keystone_error(login(bound.main, client, token_auth(unscoped, "demo"),
                                status=401), 401)
    # v2.0's token credential as well.
    assert_keystone_error(bound.main.post_json(
        "/v2.0/tokens", {"auth": {"token": {"id": unscoped}, "tenantName": "demo"}},
        extra_environ=client.environ if client else {}, status=401), 401)


def test_with_binding_off_the_same_rescoping_from_another_certificate_works(unbound, clients):
    """The control of the test above: what refuses it is the binding, nothing else."""
    unscoped = token_of(unbound.main, clients["alice"], {"auth": {
        "identity": {"methods": ["external"]}, "scope": "unscoped"}})

    login(unbound.main, clients["alice-again"], token_auth(unscoped, "demo"))


# -- binding off: not bound, still remembered --------------------------------------------------

def test_with_binding_off_tokens_carry_no_binding_and_work_from_anywhere(unbound, clients):
    issued = login(unbound.main, clients["alice"])
    token = issued.headers["X-Subject-Token"]

    assert "oauth2_credential" not in issued.json["token"]
    assert "oauth2_credential" not in as_service(unbound, token).json["token"]
    for presenter in (None, "alice-again", "bob"):
        assert call_as(unbound, token, clients[presenter] if presenter else None, "main",
                       "GET", "/v3/auth/tokens", 200).status_int == 200


@pytest.mark.parametrize("bind", [False, True], ids=["binding-off", "binding-on"])
def test_revoking_the_certificate_kills_every_token_it_earned(make_deployment, clients, bind):
    deployment = deploy(make_deployment, bind)
    alice = clients["alice"]
    token = token_of(deployment.main, alice)
    rescoped = token_of(deployment.main, alice, token_auth(token))
    other = token_of(deployment.main, clients["alice-again"])
    as_service(deployment, rescoped)

    in_store(deployment, lambda session: records.revoke(session, thumbprint=alice.thumbprint,
                                                        reason="lost"))

    for dead in (token, rescoped):
        assert_keystone_error(as_service(deployment, dead, status=404), 404)
        assert_keystone_error(call_as(deployment, dead, alice, "main", "GET",
                                      "/v3/auth/tokens", 200), 401)
    assert_keystone_error(login(deployment.main, alice, status=401), 401)
    # alice's other certificate, and its token, are untouched.
    as_service(deployment, other)
    login(deployment.main, clients["alice-again"])


# -- what a token carries ---------------------------------------------------------------------

def test_bound_tokens_stay_under_255_characters(bound, clients):
    """Keystone's limit, which some services' columns assume: the binding adds the id of the
    certificate's row (a few bytes) to the payload, whatever the kind of token; the longest
    are a trust's made with a token (two audit ids) and an application credential's."""
    admin, alice = clients["admin"], clients["alice"]
    grant_role(bound, "alice", "domain", "default", "member")
    unscoped = token_of(bound.main, alice, {"auth": {
        "identity": {"methods": ["external"]}, "scope": "unscoped"}})
    project = token_of(bound.main, alice, token_auth(unscoped, "demo"))
    alice_id = as_service(bound, project).json["token"]["user"]["id"]
    bob = as_service(bound, token_of(bound.main, clients["bob"])).json["token"]["user"]
    trust = bound.main.post_json("/v3/OS-TRUST/trusts", {"trust": {
        "trustor_user_id": alice_id, "trustee_user_id": bob["id"],
        "project_id": as_service(bound, project).json["token"]["project"]["id"],
        "impersonation": False, "roles": [{"name": "member"}]}},
        headers={"X-Auth-Token": project}, extra_environ=alice.environ).json["trust"]
    trust_scoped = token_of(bound.main, clients["bob"], {"auth": {
        "identity": {"methods": ["token"], "token": {"id": token_of(
            bound.main, clients["bob"])}}, "scope": {"OS-TRUST:trust": {"id": trust["id"]}}}})
    credential = bound.main.post_json(
        f"/v3/users/{alice_id}/application_credentials",
        {"application_credential": {"name": "bound"}}, headers={"X-Auth-Token": project},
        extra_environ=alice.environ).json["application_credential"]
    by_credential = token_of(bound.main, alice, {"auth": {"identity": {
        "methods": ["application_credential", "external"],
        "application_credential": {"id": credential["id"], "secret": credential["secret"]}}}})
    tokens = [
        unscoped, project,
        token_of(bound.main, alice, token_auth(project)),  # three audit ids
        trust_scoped, by_credential,
        token_of(bound.main, admin, {"auth": {"identity": {"methods": ["external"]},
                                              "scope": {"system": {"all": True}}}}),
        token_of(bound.main, clients["alice"], {"auth": {
            "identity": {"methods": ["external"]}, "scope": {"domain": {"id": "default"}}}}),
        token_of(bound.main, admin, external_auth("admin")),
    ]
    for token in tokens:
        assert as_service(bound, token).json["token"]["oauth2_credential"]
        assert len(token) < 255, (len(token), token)


# -- a deployment that cannot bind ---------------------------------------------------------------

def test_certificate_login_without_the_exported_certificate_is_refused_and_logged(bound,
                                                                                  caplog):
    """bind_tokens on, but the web server exports REMOTE_USER and not SSL_CLIENT_CERT
    (mod_ssl without ``SSLOptions +ExportCertData``): a token that cannot be bound is not
    issued, and the operator is told why."""
    caplog.set_level(logging.INFO, "keystone_lite")

    response = bound.main.post_json("/v3/auth/tokens", external_auth("demo"),
                                    extra_environ=cert_environ("alice"), status=401)

    assert_keystone_error(response, 401)
    assert "X-Subject-Token" not in response.headers
    assert any(record.levelno >= logging.ERROR and "bind_tokens" in record.getMessage()
               and "SSL_CLIENT_CERT" in record.getMessage()
               and "+ExportCertData" in record.getMessage() for record in caplog.records)


def test_password_login_is_not_bound_when_binding_is_on(bound):
    """Binding is for what a certificate earned: a password token has no certificate."""
    token = post_token(bound.main, password_auth("nova", SERVICE_PASSWORD, "service"))

    assert "oauth2_credential" not in token.json["token"]
    assert "oauth2_credential" not in as_service(bound, token.headers["X-Subject-Token"]).json[
        "token"]


def test_thumbprint_renderings_are_of_the_same_certificate(clients):
    der = clients["alice"].der
    thumbprint = thumbprints.of_der(der)

    assert thumbprint == clients["alice"].thumbprint
    assert thumbprints.keystone_x5t(der) == keystonemiddleware_x5t(der)
    assert base64.urlsafe_b64decode(thumbprints.rfc8705_x5t(thumbprint) + "=") == \
        hashlib.sha256(der).digest()
