"""keystonemiddleware.auth_token in front of a tiny service, validating against keystone_lite.

The middleware is configured as operators configure it in a service's ``[keystone_authtoken]``
(here as the dict its paste ``filter_factory`` takes): a service user with role ``service`` on
project ``service``, password auth, no memcached. Every check builds a fresh middleware so its
in-process token cache cannot hide keystone_lite's answer.
"""
from __future__ import annotations

import json
import time

import pytest
import webtest

from compat_clients import require
from conftest import CERT_PROJECT, CERT_USER, SERVICE_PASSWORD, SERVICE_PROJECT, SERVICE_USER

from builders import cert_environ, external_auth

auth_token = require("keystonemiddleware.auth_token")
cfg = require("oslo_config.cfg")

pytestmark = pytest.mark.compat
# The headers auth_token sets for the service behind it.
IDENTITY_HEADERS = ("X-Identity-Status", "X-User-Id", "X-User-Name", "X-User-Domain-Id",
                    "X-User-Domain-Name", "X-Project-Id", "X-Project-Name",
                    "X-Project-Domain-Id", "X-Roles", "X-Is-Admin-Project",
                    "X-Service-Identity-Status", "X-Service-User-Name", "X-Service-Roles",
                    "X-Service-Project-Name", "OpenStack-System-Scope")


def downstream(environ, start_response):
    """The protected service: echoes the identity headers auth_token gave it, as JSON."""
    seen = {name: environ[key] for name in IDENTITY_HEADERS
            if (key := "HTTP_" + name.upper().replace("-", "_")) in environ}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(seen).encode()]


def protected(keystone, auth_url: str | None = None, **options) -> webtest.TestApp:
    """``downstream`` behind a new auth_token (auth_url: the admin app's /v3 by default);
    ``options`` are more auth_token settings."""
    config = cfg.ConfigOpts()
    # No command line and no config files: oslo.config must not read pytest's sys.argv.
    config(args=[], project="keystone_lite_compat", default_config_files=[],
           default_config_dirs=[], use_env=False)
    conf = {
        "oslo_config_config": config,
        "www_authenticate_uri": f"{keystone.main}/v3",
        "auth_url": auth_url or f"{keystone.admin}/v3",
        "auth_type": "password",
        "username": SERVICE_USER,
        "password": SERVICE_PASSWORD,
        "project_name": SERVICE_PROJECT,
        "user_domain_id": "default",
        "project_domain_id": "default",
        "http_connect_timeout": "10",
        **options,
    }
    return webtest.TestApp(auth_token.filter_factory({}, **conf)(downstream))


def service_token(keystone) -> str:
    """A token of the service user, by password through the served API."""
    response = webtest.TestApp(keystone.apps["/main"]).post_json(
        "/v3/auth/tokens", {"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": SERVICE_USER, "domain": {"id": "default"},
                     "password": SERVICE_PASSWORD}}},
            "scope": {"project": {"name": SERVICE_PROJECT, "domain": {"id": "default"}}}}},
        status=201)
    return response.headers["X-Subject-Token"]


def assert_rejected(response, keystone) -> None:
    """401 from auth_token itself, pointing clients at www_authenticate_uri."""
    assert response.status_int == 401
    assert response.headers["WWW-Authenticate"] == f'Keystone uri="{keystone.main}/v3"'


@pytest.mark.parametrize("auth_url", ["/admin/v3", "/main/v3", "/main", "/admin"])
def test_certificate_token_is_confirmed_and_identity_reaches_the_service(http_keystone,
                                                                         auth_url):
    token = http_keystone.issue(CERT_USER, CERT_PROJECT)

    seen = protected(http_keystone, http_keystone.url + auth_url).get(
        "/", headers={"X-Auth-Token": token}).json

    assert seen["X-Identity-Status"] == "Confirmed"
    assert seen["X-User-Name"] == CERT_USER and seen["X-User-Id"]
    assert seen["X-User-Domain-Id"] == "default"
    assert seen["X-Project-Name"] == CERT_PROJECT and seen["X-Project-Id"]
    assert seen["X-Roles"] == "member,reader"  # member ⇒ reader, as Keystone
    assert seen["X-Is-Admin-Project"] == "False"


def test_admin_token_carries_is_admin_project(http_keystone):
    token = http_keystone.issue("admin", "admin")

    seen = protected(http_keystone).get("/", headers={"X-Auth-Token": token}).json

    assert seen["X-Roles"] == "admin,manager,member,reader"  # bootstrap's implied roles
    assert seen["X-Is-Admin-Project"] == "True"


@pytest.mark.parametrize("scope", ["system", "unscoped"])
def test_tokens_without_a_project_are_confirmed_without_project_headers(http_keystone, scope):
    body = external_auth()
    body["auth"]["scope"] = {"system": {"all": True}} if scope == "system" else "unscoped"
    token = webtest.TestApp(http_keystone.apps["/main"]).post_json(
        "/v3/auth/tokens", body, extra_environ=cert_environ("admin"),
        status=201).headers["X-Subject-Token"]

    seen = protected(http_keystone).get("/", headers={"X-Auth-Token": token}).json

    assert seen["X-Identity-Status"] == "Confirmed" and seen["X-User-Name"] == "admin"
    assert seen.get("X-Project-Id") is None  # auth_token sets it to None
    # keystone_lite states is_admin_project on every token; auth_token would read "absent" as
    # True (see docs/compatibility.md).
    assert seen["X-Is-Admin-Project"] == "False"
    if scope == "system":
        assert (seen["OpenStack-System-Scope"], seen["X-Roles"]) == (
            "all", "admin,manager,member,reader")
    else:
        assert seen.get("OpenStack-System-Scope") is None and seen["X-Roles"] == ""


@pytest.mark.parametrize("garbage", ["garbage", "gAAAAAB" + "x" * 150, "a" * 32])
def test_garbage_token_is_rejected_with_401(http_keystone, garbage):
    response = protected(http_keystone).get("/", headers={"X-Auth-Token": garbage},
                                            expect_errors=True)

    assert_rejected(response, http_keystone)


def test_request_without_a_token_is_rejected_with_401(http_keystone):
    assert_rejected(protected(http_keystone).get("/", expect_errors=True), http_keystone)


def expired_token(keystone, directory: str) -> str:
    """A certificate user's token, valid when issued and expired on return."""
    lifetime = 2  # seconds: time enough to see it accepted first, even on a loaded machine
    token = keystone.issue_short_lived(directory, lifetime, CERT_USER, CERT_PROJECT)
    protected(keystone).get("/", headers={"X-Auth-Token": token}, status=200)
    time.sleep(lifetime + 0.1)
    return token


def test_expired_token_is_rejected_with_401(http_keystone, tmp_path):
    token = expired_token(http_keystone, str(tmp_path))

    response = protected(http_keystone).get("/", headers={"X-Auth-Token": token},
                                            expect_errors=True)

    assert_rejected(response, http_keystone)


def test_expired_user_token_with_a_service_token_is_confirmed(http_keystone, tmp_path):
    """A service token with role service lets auth_token ask for ``?allow_expired=1``: a
    long-running operation can finish after the user's token expired."""
    headers = {"X-Auth-Token": expired_token(http_keystone, str(tmp_path)),
               "X-Service-Token": service_token(http_keystone)}

    seen = protected(http_keystone).get("/", headers=headers).json

    assert seen["X-Identity-Status"] == "Confirmed" and seen["X-User-Name"] == CERT_USER
    assert seen["X-Service-Identity-Status"] == "Confirmed"


def test_revoked_token_is_rejected_with_401(http_keystone):
    token = http_keystone.issue(CERT_USER, CERT_PROJECT)
    protected(http_keystone).get("/", headers={"X-Auth-Token": token}, status=200)

    webtest.TestApp(http_keystone.apps["/admin"]).delete(
        "/v3/auth/tokens", headers={"X-Auth-Token": http_keystone.issue("admin", "admin"),
                                    "X-Subject-Token": token}, status=204)

    response = protected(http_keystone).get("/", headers={"X-Auth-Token": token},
                                            expect_errors=True)
    assert_rejected(response, http_keystone)


def test_service_token_is_confirmed_alongside_the_user_token(http_keystone):
    headers = {"X-Auth-Token": http_keystone.issue(CERT_USER, CERT_PROJECT),
               "X-Service-Token": service_token(http_keystone)}

    seen = protected(http_keystone).get("/", headers=headers).json

    assert seen["X-Identity-Status"] == "Confirmed" and seen["X-User-Name"] == CERT_USER
    assert seen["X-Service-Identity-Status"] == "Confirmed"
    assert seen["X-Service-User-Name"] == SERVICE_USER
    assert seen["X-Service-Project-Name"] == SERVICE_PROJECT
    assert seen["X-Service-Roles"] == "service"


@pytest.mark.parametrize("service", ["garbage", "member"])
def test_invalid_service_token_is_rejected_with_401(http_keystone, service):
    """Garbage, or a valid token without role service (service_token_roles_required)."""
    headers = {"X-Auth-Token": http_keystone.issue(CERT_USER, CERT_PROJECT),
               "X-Service-Token": (http_keystone.issue(CERT_USER, CERT_PROJECT)
                                   if service == "member" else service)}

    response = protected(http_keystone).get("/", headers=headers, expect_errors=True)

    assert_rejected(response, http_keystone)


def test_delayed_decision_passes_an_invalid_token_on_as_invalid(http_keystone):
    response = protected(http_keystone, delay_auth_decision="true").get(
        "/", headers={"X-Auth-Token": "garbage"})

    assert response.json["X-Identity-Status"] == "Invalid"
    assert "X-User-Id" not in response.json


def test_auth_token_presents_its_client_certificate_to_the_tls_server(tls_keystone,
                                                                      certificates):
    """Behind Apache with ``SSLVerifyClient require`` (here the embedded server) the service
    needs certfile/keyfile to reach keystone_lite at all, and cafile to trust it."""
    token = tls_keystone.issue(CERT_USER, CERT_PROJECT)
    middleware = protected(tls_keystone, certfile=certificates.service.certificate,
                           keyfile=certificates.service.key, cafile=certificates.ca)

    seen = middleware.get("/", headers={"X-Auth-Token": token}).json

    assert seen["X-Identity-Status"] == "Confirmed" and seen["X-User-Name"] == CERT_USER
