"""Trusts with the real clients: ``openstack trust create/list/show/delete`` run by the
trustor, and a keystoneauth1 session of the trustee scoped to the trust
(``v3.Password(..., trust_id=...)``) calling the identity API with its token.

The trustor runs the ``openstack`` commands against the admin interface (``OS_INTERFACE=admin``)
and names users, project and role by id: ``trust create`` looks each up (``GET /v3/users/{id}``,
...), which keystone_lite serves on the admin app only, and a non-admin may look up only itself
and its project (the command then sends the ids it was given, as with Keystone).
"""
from __future__ import annotations

import uuid

import pytest
import webtest

from compat_clients import require
from test_openstackclient import run, run_json

from builders import ADMIN_PASSWORD, password_auth, post_token

ks_exceptions = require("keystoneauth1.exceptions")
v3 = require("keystoneauth1.identity.v3")
ks_session = require("keystoneauth1.session")

pytestmark = pytest.mark.compat
TRUSTOR_PASSWORD, TRUSTEE_PASSWORD = "trustor-compat-secret", "trustee-compat-secret"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> str:
    """An empty HOME for the ``openstack`` command (as test_openstackclient's)."""
    return str(tmp_path_factory.mktemp("openstack-home"))


@pytest.fixture(scope="module")
def parties(http_keystone) -> dict:
    """A trustor (member of its own project) and a trustee, made for this module: their ids
    and the project's and role's."""
    suffix = uuid.uuid4().hex[:8]
    names = {"trustor": f"trustor-{suffix}", "trustee": f"trustee-{suffix}",
             "project": f"trusted-{suffix}"}
    http_keystone.cli("user", "create", names["trustor"], "--password", TRUSTOR_PASSWORD,
                      "--project", names["project"], "--role", "member")
    http_keystone.cli("user", "create", names["trustee"], "--password", TRUSTEE_PASSWORD)
    admin = webtest.TestApp(http_keystone.apps["/admin"])
    headers = {"X-Auth-Token": admin_token(admin)}
    found = {key: admin.get(f"/v3/users?name={names[key]}", headers=headers).json["users"][0]
             for key in ("trustor", "trustee")}
    project = admin.get(f"/v3/projects?name={names['project']}", headers=headers).json[
        "projects"][0]
    role = admin.get("/v3/roles?name=member", headers=headers).json["roles"][0]
    return {**names, "trustor_id": found["trustor"]["id"], "trustee_id": found["trustee"]["id"],
            "project_id": project["id"], "member_id": role["id"]}


def admin_token(app) -> str:
    return post_token(app, password_auth("admin", ADMIN_PASSWORD, "admin")).headers[
        "X-Subject-Token"]


def trustor_env(keystone, parties) -> dict:
    return {"OS_AUTH_URL": f"{keystone.main}/v3", "OS_AUTH_TYPE": "password",
            "OS_USERNAME": parties["trustor"], "OS_PASSWORD": TRUSTOR_PASSWORD,
            "OS_USER_DOMAIN_ID": "default", "OS_PROJECT_NAME": parties["project"],
            "OS_PROJECT_DOMAIN_ID": "default", "OS_INTERFACE": "admin"}


def create_trust(home, env, parties, *options) -> dict:
    return run_json(home, env, "trust", "create", "--project", parties["project_id"],
                    "--role", parties["member_id"], *options, parties["trustor_id"],
                    parties["trustee_id"])


def test_openstack_trust_create_list_show_and_delete(http_keystone, home, parties):
    env = trustor_env(http_keystone, parties)

    created = create_trust(home, env, parties, "--impersonate",
                           "--expiration", "2099-01-02T03:04:05")
    mine = run_json(home, env, "trust", "list", "--auth-user")
    shown = run_json(home, env, "trust", "show", created["id"])
    run(home, env, "trust", "delete", created["id"])
    after = run_json(home, env, "trust", "list", "--auth-user")

    assert created["trustor_user_id"] == parties["trustor_id"]
    assert created["trustee_user_id"] == parties["trustee_id"]
    assert created["project_id"] == parties["project_id"]
    assert created["is_impersonation"] is True
    assert created["expires_at"].startswith("2099-01-02T03:04:05")
    assert [trust["ID"] for trust in mine] == [created["id"]]
    assert shown["id"] == created["id"] and shown["remaining_uses"] is None
    assert created["id"] not in [trust["ID"] for trust in after]


def test_the_administrator_lists_every_trust_the_trustee_its_own(http_keystone, home,
                                                                parties):
    created = create_trust(home, trustor_env(http_keystone, parties), parties)
    admin = {"OS_AUTH_URL": f"{http_keystone.main}/v3", "OS_AUTH_TYPE": "password",
             "OS_USERNAME": "admin", "OS_PASSWORD": ADMIN_PASSWORD,
             "OS_USER_DOMAIN_ID": "default", "OS_PROJECT_NAME": "admin",
             "OS_PROJECT_DOMAIN_ID": "default", "OS_INTERFACE": "admin"}
    trustee = {"OS_AUTH_URL": f"{http_keystone.main}/v3", "OS_AUTH_TYPE": "password",
               "OS_USERNAME": parties["trustee"], "OS_PASSWORD": TRUSTEE_PASSWORD,
               "OS_USER_DOMAIN_ID": "default", "OS_INTERFACE": "admin"}

    listed = run_json(home, admin, "trust", "list")
    own = run_json(home, trustee, "trust", "list", "--auth-user")

    assert created["id"] in {trust["ID"] for trust in listed}
    assert created["id"] in {trust["ID"] for trust in own}


@pytest.mark.parametrize("impersonation", [True, False], ids=["impersonation", "as-trustee"])
def test_trust_scoped_keystoneauth1_session_calls_an_api(http_keystone, home, parties,
                                                         impersonation):
    options = ["--impersonate"] if impersonation else []
    trust = create_trust(home, trustor_env(http_keystone, parties), parties, *options)
    auth = v3.Password(auth_url=f"{http_keystone.main}/v3", username=parties["trustee"],
                       password=TRUSTEE_PASSWORD, user_domain_id="default",
                       trust_id=trust["id"])
    sess = ks_session.Session(auth=auth, timeout=10)

    access = auth.get_access(sess)
    project = sess.get(f"/projects/{parties['project_id']}", endpoint_filter={
        "service_type": "identity", "interface": "admin"}).json()["project"]

    assert access.trust_scoped and access.trust_id == trust["id"]
    assert access.trustor_user_id == parties["trustor_id"]
    assert access.trustee_user_id == parties["trustee_id"]
    assert access._data["token"]["OS-TRUST:trust"]["impersonation"] is impersonation
    assert access.user_id == parties["trustor_id" if impersonation else "trustee_id"]
    assert access.project_id == parties["project_id"]
    assert access.role_names == ["member", "reader"]
    assert project["name"] == parties["project"]


def test_a_deleted_trust_leaves_its_session_unauthorized(http_keystone, home,
                                                         parties):
    env = trustor_env(http_keystone, parties)
    trust = create_trust(home, env, parties)
    auth = v3.Password(auth_url=f"{http_keystone.main}/v3", username=parties["trustee"],
                       password=TRUSTEE_PASSWORD, user_domain_id="default",
                       trust_id=trust["id"])
    sess = ks_session.Session(auth=auth, timeout=10)
    token = sess.get_token()

    run(home, env, "trust", "delete", trust["id"])

    admin = webtest.TestApp(http_keystone.apps["/admin"])
    admin.get("/v3/auth/tokens", headers={"X-Auth-Token": admin_token(admin),
                                          "X-Subject-Token": token}, status=404)
    with pytest.raises(ks_exceptions.Unauthorized):
        ks_session.Session(auth=v3.Password(
            auth_url=f"{http_keystone.main}/v3", username=parties["trustee"],
            password=TRUSTEE_PASSWORD, user_domain_id="default", trust_id=trust["id"]),
            timeout=10).get_token()
