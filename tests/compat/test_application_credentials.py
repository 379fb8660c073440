"""Application credentials with the real clients: keystoneauth1's ``v3.ApplicationCredential``,
the ``openstack application credential`` commands and ``OS_AUTH_TYPE=v3applicationcredential``,
keystonemiddleware enforcing (or not needing) access rules from the token body, and the
walk-through of docs/application-credentials.md with its ``openstack`` commands.

The credentials belong to a password user of project ``demo`` made for the module; the calls
go to ``/main`` (where the catalog's public endpoint points), as a user's would.
"""
from __future__ import annotations

import json
import shutil
import uuid

import pytest
import webtest

import walkthrough
from compat_clients import require, require_executable
from conftest import CERT_PROJECT
from test_keystonemiddleware import assert_rejected, protected
from test_openstackclient import run, run_json

v3 = require("keystoneauth1.identity.v3")
ks_exceptions = require("keystoneauth1.exceptions")
ks_session = require("keystoneauth1.session")
require("openstackclient")
require_executable("openstack")

pytestmark = pytest.mark.compat
TIMEOUT = 10
PASSWORD = "cron-owner-secret"


@pytest.fixture(scope="module")
def owner(http_keystone) -> str:
    """A password user with role member on the certificate user's project."""
    name = f"owner-{uuid.uuid4().hex[:8]}"
    http_keystone.cli("user", "create", name, "--password", PASSWORD, "--project", CERT_PROJECT,
                      "--role", "member")
    return name


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("openstack-home"))


def owner_session(keystone, owner: str):
    return ks_session.Session(auth=v3.Password(
        auth_url=f"{keystone.main}/v3", username=owner, password=PASSWORD,
        user_domain_id="default", project_name=CERT_PROJECT, project_domain_id="default"),
        timeout=TIMEOUT)


def create(keystone, owner: str, **attributes) -> dict:
    """A credential made through keystoneauth1, as a script of the user would."""
    session = owner_session(keystone, owner)
    attributes.setdefault("name", f"cred-{uuid.uuid4().hex[:8]}")
    response = session.post(f"{keystone.main}/v3/users/{session.get_user_id()}/"
                            "application_credentials",
                            json={"application_credential": attributes})
    assert response.status_code == 201
    return response.json()["application_credential"]


def fields(shown: dict) -> dict:
    """The command's JSON columns ("ID", "Project ID", ...) as API attribute names."""
    return {key.lower().replace(" ", "_"): value for key, value in shown.items()}


def owner_env(keystone, owner: str) -> dict:
    return {"OS_AUTH_URL": f"{keystone.main}/v3", "OS_AUTH_TYPE": "password",
            "OS_USERNAME": owner, "OS_PASSWORD": PASSWORD, "OS_USER_DOMAIN_ID": "default",
            "OS_PROJECT_NAME": CERT_PROJECT, "OS_PROJECT_DOMAIN_ID": "default"}


# -- keystoneauth1 --------------------------------------------------------------------------------

def test_keystoneauth1_application_credential_session_gets_a_token(http_keystone, owner):
    credential = create(http_keystone, owner, roles=[{"name": "reader"}])
    auth = v3.ApplicationCredential(auth_url=f"{http_keystone.main}/v3",
                                    application_credential_id=credential["id"],
                                    application_credential_secret=credential["secret"])
    session = ks_session.Session(auth=auth, timeout=TIMEOUT)

    assert session.get_token()
    access = auth.get_access(session)
    assert access.project_id == credential["project_id"]
    assert access.role_names == ["reader"]
    assert access._data["token"]["application_credential"]["id"] == credential["id"]
    # The session's token works against the identity endpoint of the catalog.
    assert session.get_endpoint(service_type="identity", interface="public") == \
        f"{http_keystone.main}/v3"


def test_keystoneauth1_by_name_and_user_name(http_keystone, owner):
    credential = create(http_keystone, owner)
    auth = v3.ApplicationCredential(auth_url=f"{http_keystone.main}/v3",
                                    application_credential_name=credential["name"],
                                    application_credential_secret=credential["secret"],
                                    username=owner, user_domain_id="default")
    assert ks_session.Session(auth=auth, timeout=TIMEOUT).get_token()


def test_keystoneauth1_wrong_secret_is_unauthorized(http_keystone, owner):
    credential = create(http_keystone, owner)
    auth = v3.ApplicationCredential(auth_url=f"{http_keystone.main}/v3",
                                    application_credential_id=credential["id"],
                                    application_credential_secret="not-the-secret")
    with pytest.raises(ks_exceptions.Unauthorized):
        ks_session.Session(auth=auth, timeout=TIMEOUT).get_token()


# -- the openstack command ----------------------------------------------------------------------

def test_openstack_application_credential_create_list_use_delete(http_keystone, owner, home):
    env = owner_env(http_keystone, owner)
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = fields(run_json(home, env, "application", "credential", "create", name,
                              "--role", "member", "--description", "cron job"))
    assert created["name"] == name and created["secret"]
    listed = run_json(home, env, "application", "credential", "list")
    assert name in [entry["Name"] for entry in listed]
    shown = fields(run_json(home, env, "application", "credential", "show", name))
    assert shown["id"] == created["id"] and "secret" not in shown

    token = run_json(home, {"OS_AUTH_URL": f"{http_keystone.main}/v3",
                            "OS_AUTH_TYPE": "v3applicationcredential",
                            "OS_APPLICATION_CREDENTIAL_ID": created["id"],
                            "OS_APPLICATION_CREDENTIAL_SECRET": created["secret"]},
                     "token", "issue")
    assert token["project_id"] == created["project_id"] and token["user_id"]

    run(home, env, "application", "credential", "delete", name)
    listed = run_json(home, env, "application", "credential", "list")
    assert name not in [entry["Name"] for entry in listed]


def test_openstack_access_rules_are_made_and_listed(http_keystone, owner, home):
    env = owner_env(http_keystone, owner)
    rules = [{"service": "compute", "method": "GET", "path": "/v2.1/servers"}]
    created = fields(run_json(home, env, "application", "credential", "create",
                              f"rules-{uuid.uuid4().hex[:8]}", "--access-rules",
                              json.dumps(rules)))
    listed = run_json(home, env, "access", "rule", "list")
    assert {"compute", "/v2.1/servers"} <= {value for entry in listed
                                            for value in entry.values()}
    run(home, env, "application", "credential", "delete", created["id"])


# -- keystonemiddleware ----------------------------------------------------------------------------

def credential_token(keystone, credential: dict) -> str:
    return webtest.TestApp(keystone.apps["/main"]).post_json("/v3/auth/tokens", {"auth": {
        "identity": {"methods": ["application_credential"], "application_credential": {
            "id": credential["id"], "secret": credential["secret"]}}}},
        status=201).headers["X-Subject-Token"]


def test_keystonemiddleware_accepts_an_application_credential_token(http_keystone, owner):
    token = credential_token(http_keystone, create(http_keystone, owner,
                                                   roles=[{"name": "member"}]))
    seen = protected(http_keystone).get("/", headers={"X-Auth-Token": token}).json
    assert seen["X-Identity-Status"] == "Confirmed"
    assert (seen["X-User-Name"], seen["X-Project-Name"]) == (owner, CERT_PROJECT)
    assert seen["X-Roles"] == "member,reader"


def test_keystonemiddleware_enforces_the_access_rules_of_the_token(http_keystone, owner):
    """As a service configured with ``service_type`` (here ``identity``, the one service of
    the catalog) enforces them: what the rules name passes, the rest is 401."""
    token = credential_token(http_keystone, create(http_keystone, owner, access_rules=[
        {"service": "identity", "method": "GET", "path": "/allowed/*"}]))
    service = protected(http_keystone, service_type="identity")

    seen = service.get("/allowed/thing", headers={"X-Auth-Token": token}).json
    assert seen["X-Identity-Status"] == "Confirmed"
    for method, path in (("GET", "/forbidden"), ("POST", "/allowed/thing"),
                         ("GET", "/allowed/a/b")):
        response = service.request(path, method=method, headers={"X-Auth-Token": token},
                                   expect_errors=True)
        assert_rejected(response, http_keystone)
    # Without service_type the middleware cannot enforce them, and refuses the token.
    assert_rejected(protected(http_keystone).get(
        "/allowed/thing", headers={"X-Auth-Token": token}, expect_errors=True), http_keystone)


# -- the walk-through ---------------------------------------------------------------------------

def test_the_walkthrough_with_the_openstack_command(tmp_path):
    """docs/application-credentials.md as written, its ``openstack`` commands included."""
    if shutil.which("curl") is None:
        pytest.skip("needs the curl binary")
    walkthrough.application_credentials(tmp_path, with_openstack=True)
