"""keystoneauth1 sessions against keystone_lite over real HTTP and TLS.

keystoneauth1 ships no "external" plugin: a client that logs in with its certificate uses
``v3.Auth`` with the small ``ExternalMethod`` below (``{"methods": ["external"]}``), a session
carrying ``cert=(certificate, key)``, and the embedded TLS server (or Apache) setting REMOTE_USER.
"""
from __future__ import annotations

import datetime

import pytest

from compat_clients import require
from conftest import CERT_PROJECT, CERT_USER, SERVICE_PASSWORD, SERVICE_PROJECT, SERVICE_USER

from builders import ADMIN_PASSWORD

discover = require("keystoneauth1.discover")
ks_exceptions = require("keystoneauth1.exceptions")
generic = require("keystoneauth1.identity.generic")
v2 = require("keystoneauth1.identity.v2")
v3 = require("keystoneauth1.identity.v3")
ks_session = require("keystoneauth1.session")

pytestmark = pytest.mark.compat
TIMEOUT = 10


class ExternalMethod(v3.AuthMethod):
    """The v3 ``external`` method: the credential is the TLS client certificate, which the web
    server verified; the request body names only the method."""

    def __init__(self) -> None:
        super().__init__()

    def get_auth_data(self, session, auth, headers, request_kwargs):
        return "external", {}

    def get_cache_id_elements(self):
        return {}


def session(auth=None, **kwargs):
    return ks_session.Session(auth=auth, timeout=TIMEOUT, **kwargs)


def service_password(url: str, **scope) -> v3.Password:
    scope = scope or {"project_name": SERVICE_PROJECT, "project_domain_id": "default"}
    return v3.Password(auth_url=url, username=SERVICE_USER, password=SERVICE_PASSWORD,
                       user_domain_id="default", **scope)


def methods(access) -> list[str]:
    """``token.methods`` of the response (AccessInfo keeps the body but has no accessor)."""
    return access._data["token"]["methods"]


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


# -- discovery -------------------------------------------------------------------------------------

@pytest.mark.parametrize("app", ["main", "admin"])
def test_discovery_of_the_unversioned_url_finds_v3_under_the_mount(http_keystone, app):
    root = getattr(http_keystone, app)

    found = discover.Discover(session(), root)

    assert found.url_for((3, 0)) == f"{root}/v3/"
    versions = {data["version"]: data for data in found.version_data()}
    assert versions[(3, 14)]["url"] == f"{root}/v3/"
    assert versions[(3, 14)]["status"] == "CURRENT"


def test_generic_password_plugin_discovers_v3_from_the_unversioned_url(http_keystone):
    auth = generic.Password(auth_url=http_keystone.main, username="admin",
                            password=ADMIN_PASSWORD, user_domain_id="default",
                            project_name="admin", project_domain_id="default")

    access = auth.get_access(session(auth))

    assert access.version == "v3" and access.username == "admin"
    assert access.project_name == "admin" and access.is_admin_project is True


# -- v3.Password and v3.Token ----------------------------------------------------------------------

def test_password_session_gets_a_scoped_token_with_every_access_field(http_keystone):
    auth = service_password(f"{http_keystone.main}/v3")
    sess = session(auth)

    token = sess.get_token()
    access = auth.get_access(sess)

    assert token and access.auth_token == token
    assert access.username == SERVICE_USER and access.user_id
    assert access.user_domain_id == "default"
    assert access.project_name == SERVICE_PROJECT and access.project_id
    assert access.project_domain_id == "default"
    assert access.role_names == ["service"]
    assert methods(access) == ["password"]
    assert access.is_admin_project is False
    assert now() < access.expires <= now() + datetime.timedelta(hours=1)
    assert access.issued <= now()
    assert access.audit_id and access.audit_chain_id is None


@pytest.mark.parametrize("interface, app", [("public", "main"), ("internal", "main"),
                                            ("admin", "admin")])
def test_identity_endpoint_of_each_interface_comes_from_the_catalog(http_keystone, interface,
                                                                    app):
    sess = session(service_password(f"{http_keystone.main}/v3"))

    endpoint = sess.get_endpoint(service_type="identity", interface=interface)

    assert endpoint == f"{getattr(http_keystone, app)}/v3"


def test_session_calls_the_identity_api_with_its_token(http_keystone):
    sess = session(service_password(f"{http_keystone.main}/v3"))

    response = sess.get("/auth/projects", endpoint_filter={"service_type": "identity",
                                                           "interface": "public"})

    assert [project["name"] for project in response.json()["projects"]] == [SERVICE_PROJECT]


def test_token_plugin_rescopes_an_unscoped_token(http_keystone):
    url = f"{http_keystone.main}/v3"
    unscoped = service_password(url, unscoped=True)
    first = unscoped.get_access(session(unscoped))
    assert first.project_id is None and not first.role_names

    auth = v3.Token(auth_url=url, token=first.auth_token, project_name=SERVICE_PROJECT,
                    project_domain_id="default")
    access = auth.get_access(session(auth))

    assert access.auth_token != first.auth_token
    assert access.project_name == SERVICE_PROJECT and access.role_names == ["service"]
    assert sorted(methods(access)) == ["password", "token"]
    assert access.expires == first.expires
    assert access.audit_chain_id == first.audit_id


def test_wrong_password_is_an_unauthorized_exception(http_keystone):
    auth = v3.Password(auth_url=f"{http_keystone.main}/v3", username=SERVICE_USER,
                       password="wrong", user_domain_id="default")

    with pytest.raises(ks_exceptions.Unauthorized):
        session(auth).get_token()


def test_v2_password_plugin_gets_a_tenant_scoped_token(http_keystone):
    """keystone_lite still serves v2.0 for the clients of that era (Keystone 30 does not)."""
    auth = v2.Password(auth_url=f"{http_keystone.main}/v2.0", username=SERVICE_USER,
                       password=SERVICE_PASSWORD, tenant_name=SERVICE_PROJECT)
    sess = session(auth)

    access = auth.get_access(sess)

    assert access.version == "v2.0" and access.username == SERVICE_USER
    assert access.project_name == SERVICE_PROJECT and access.role_names == ["service"]
    assert now() < access.expires
    assert sess.get_endpoint(service_type="identity", interface="admin") == (
        f"{http_keystone.admin}/v3")


# -- client certificates through the embedded TLS server -----------------------------------------

def certificate_session(issued, ca, **scope):
    auth = v3.Auth(scope.pop("auth_url"), [ExternalMethod()], **scope)
    return auth, session(auth, cert=(issued.certificate, issued.key), verify=ca)


def test_certificate_session_gets_a_token_by_external_auth(tls_keystone, certificates):
    auth, sess = certificate_session(
        certificates.alice, certificates.ca, auth_url=f"{tls_keystone.main}/v3",
        project_name=CERT_PROJECT, project_domain_id="default")

    access = auth.get_access(sess)

    assert access.username == CERT_USER and methods(access) == ["external"]
    # member implies reader (bootstrap's rule), as in Keystone.
    assert access.project_name == CERT_PROJECT and access.role_names == ["member", "reader"]
    assert sess.get_endpoint(service_type="identity", interface="public") == (
        f"{tls_keystone.main}/v3")


def test_certificate_admin_session_calls_the_admin_api(tls_keystone, certificates):
    auth, sess = certificate_session(
        certificates.admin, certificates.ca, auth_url=tls_keystone.main,  # unversioned
        project_name="admin", project_domain_id="default")

    response = sess.get("/users", endpoint_filter={"service_type": "identity",
                                                   "interface": "admin"})

    assert auth.get_access(sess).is_admin_project is True
    assert CERT_USER in {user["name"] for user in response.json()["users"]}


def test_token_of_a_certificate_login_rescopes_over_tls(tls_keystone, certificates):
    first, sess = certificate_session(certificates.alice, certificates.ca,
                                      auth_url=f"{tls_keystone.main}/v3", unscoped=True)
    token = first.get_token(sess)

    auth = v3.Token(auth_url=f"{tls_keystone.main}/v3", token=token,
                    project_name=CERT_PROJECT, project_domain_id="default")
    access = auth.get_access(session(auth, cert=(certificates.alice.certificate,
                                                 certificates.alice.key),
                                     verify=certificates.ca))

    assert access.project_name == CERT_PROJECT
    assert sorted(methods(access)) == ["external", "token"]


def test_tls_server_refuses_a_session_without_a_client_certificate(tls_keystone, certificates):
    auth = service_password(f"{tls_keystone.main}/v3")

    with pytest.raises((ks_exceptions.SSLError, ks_exceptions.ConnectFailure)):
        session(auth, verify=certificates.ca).get_token()


def test_password_session_with_a_client_certificate_works_over_tls(tls_keystone, certificates):
    auth = v3.Password(auth_url=f"{tls_keystone.main}/v3", username="admin",
                       password=ADMIN_PASSWORD, user_domain_id="default", project_name="admin",
                       project_domain_id="default")
    sess = session(auth, cert=(certificates.admin.certificate, certificates.admin.key),
                   verify=certificates.ca)

    access = auth.get_access(sess)

    assert access.username == "admin" and methods(access) == ["password"]
