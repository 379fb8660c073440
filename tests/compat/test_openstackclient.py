"""The ``openstack`` command (python-openstackclient) against keystone_lite, as a subprocess.

Configured the usual way, with ``OS_*`` environment variables and no clouds.yaml. Identity
administration needs ``OS_INTERFACE=admin``: keystone_lite serves users, projects and roles on
the admin app only. With client certificates (``OS_CERT``/``OS_KEY``/``OS_CACERT``) the client
passes the certificate to its session, but still needs an auth method: a password, or a token
obtained by certificate login (``--os-auth-type token``, or ``admin_token`` with an endpoint).
"""
from __future__ import annotations

import json
import os
import ssl
import subprocess
import urllib.request
import uuid

import pytest

from compat_clients import require, require_executable
from conftest import CERT_PROJECT, CERT_USER

from builders import ADMIN_PASSWORD, external_auth

require("openstackclient")
OPENSTACK = require_executable("openstack")

pytestmark = pytest.mark.compat
TIMEOUT = 60  # one command; the client itself starts in about a second


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> str:
    """An empty HOME: no clouds.yaml or cache of the machine's user leaks in."""
    return str(tmp_path_factory.mktemp("openstack-home"))


def run(home: str, env: dict, *argv: str) -> subprocess.CompletedProcess:
    """``openstack *argv`` with only ``env`` as OS_* configuration; fails on a non-zero exit."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    environ.update(HOME=home, OS_IDENTITY_API_VERSION="3", **env)
    result = subprocess.run([OPENSTACK, *argv], env=environ, capture_output=True, text=True,
                            timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"openstack {' '.join(argv)}:\n{result.stderr}"
    return result


def run_json(home: str, env: dict, *argv: str):
    return json.loads(run(home, env, *argv, "-f", "json").stdout)


def admin_env(keystone, auth_url: str | None = None) -> dict:
    return {"OS_AUTH_URL": auth_url or f"{keystone.main}/v3", "OS_AUTH_TYPE": "password",
            "OS_USERNAME": "admin", "OS_PASSWORD": ADMIN_PASSWORD,
            "OS_USER_DOMAIN_ID": "default", "OS_PROJECT_NAME": "admin",
            "OS_PROJECT_DOMAIN_ID": "default", "OS_INTERFACE": "admin"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- password auth over HTTP -----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v3", ""])  # "": the unversioned URL, found by discovery
def test_token_issue(http_keystone, home, path):
    token = run_json(home, admin_env(http_keystone, f"{http_keystone.main}{path}"),
                     "token", "issue")

    assert token["id"] and token["expires"] and token["user_id"] and token["project_id"]


def test_user_create_list_and_show(http_keystone, home):
    env, name = admin_env(http_keystone), unique("user")

    created = run_json(home, env, "user", "create", "--domain", "default", "--password",
                       "pw-1", "--description", "made by openstackclient", name)
    listed = run_json(home, env, "user", "list")
    shown = run_json(home, env, "user", "show", name)

    assert created["name"] == name and created["enabled"] is True
    assert name in {user["Name"] for user in listed}
    assert shown["id"] == created["id"] and shown["domain_id"] == "default"
    assert shown["description"] == "made by openstackclient"


def test_user_set_password_lets_the_user_log_in_with_it(http_keystone, home):
    env, name = admin_env(http_keystone), unique("user")
    run_json(home, env, "user", "create", "--domain", "default", "--password", "pw-1", name)

    run(home, env, "user", "set", "--password", "pw-2", name)
    own = {"OS_AUTH_URL": f"{http_keystone.main}/v3", "OS_AUTH_TYPE": "password",
           "OS_USERNAME": name, "OS_PASSWORD": "pw-2", "OS_USER_DOMAIN_ID": "default"}
    token = run_json(home, own, "token", "issue")

    assert token["id"] and token["user_id"]


def test_project_create_and_list(http_keystone, home):
    env, name = admin_env(http_keystone), unique("project")

    created = run_json(home, env, "project", "create", "--domain", "default", name)
    listed = run_json(home, env, "project", "list")

    assert created["name"] == name and created["domain_id"] == "default"
    assert {"ID": created["id"], "Name": name} in listed


def test_role_add_and_role_assignment_list(http_keystone, home):
    env, user, project = admin_env(http_keystone), unique("user"), unique("project")
    user_id = run_json(home, env, "user", "create", "--domain", "default", user)["id"]
    project_id = run_json(home, env, "project", "create", "--domain", "default", project)["id"]

    run(home, env, "role", "add", "--user", user, "--project", project, "member")
    assignments = run_json(home, env, "role", "assignment", "list", "--user", user,
                           "--project", project, "--names")
    by_id = run_json(home, env, "role", "assignment", "list", "--user", user_id)
    run(home, env, "role", "add", "--user", user, "--project", project, "--inherited",
        "reader")  # to the projects below it: none
    inherited = run_json(home, env, "role", "assignment", "list", "--user", user_id,
                         "--inherited")
    projects = run_json(home, env, "project", "list", "--user", user)

    assert [(found["Role"], found["User"], found["Project"]) for found in assignments] == [
        ("member", f"{user}@Default", f"{project}@Default")]
    assert [found["Project"] for found in by_id] == [project_id]
    assert [(found["Project"], found["Inherited"]) for found in inherited] == [
        (project_id, True)]
    assert projects == [{"ID": project_id, "Name": project}]


def test_catalog_list_shows_the_identity_endpoints(http_keystone, home):
    catalog = run_json(home, admin_env(http_keystone), "catalog", "list")

    identity = next(service for service in catalog if service["Type"] == "identity")
    endpoints = {(endpoint["interface"], endpoint["url"]) for endpoint in identity["Endpoints"]}
    assert endpoints == {("public", f"{http_keystone.main}/v3"),
                         ("internal", f"{http_keystone.main}/v3"),
                         ("admin", f"{http_keystone.admin}/v3")}


# -- client certificates through the embedded TLS server -----------------------------------------

def cert_env(keystone, issued, ca) -> dict:
    return {"OS_CERT": issued.certificate, "OS_KEY": issued.key, "OS_CACERT": ca}


def certificate_login(keystone, issued, ca, project: str) -> str:
    """A token by certificate login (``methods: ["external"]``), as curl gets one."""
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(issued.certificate, issued.key)
    request = urllib.request.Request(
        f"{keystone.main}/v3/auth/tokens", json.dumps(external_auth(project)).encode(),
        {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return response.headers["X-Subject-Token"]


def test_password_auth_with_a_client_certificate(tls_keystone, certificates, home):
    env = {**admin_env(tls_keystone), **cert_env(tls_keystone, certificates.admin,
                                                  certificates.ca)}

    token = run_json(home, env, "token", "issue")
    users = run_json(home, env, "user", "list")

    assert token["project_id"] and CERT_USER in {user["Name"] for user in users}


def test_certificate_login_token_drives_the_client(tls_keystone, certificates, home):
    token = certificate_login(tls_keystone, certificates.alice, certificates.ca, CERT_PROJECT)
    env = {"OS_AUTH_URL": f"{tls_keystone.main}/v3", "OS_AUTH_TYPE": "token",
           "OS_TOKEN": token, "OS_PROJECT_NAME": CERT_PROJECT,
           "OS_PROJECT_DOMAIN_ID": "default",
           **cert_env(tls_keystone, certificates.alice, certificates.ca)}

    issued = run_json(home, env, "token", "issue")
    catalog = run_json(home, env, "catalog", "list")

    assert issued["id"] != token and issued["project_id"]
    assert "identity" in {service["Type"] for service in catalog}


def test_certificate_login_token_with_admin_token_auth(tls_keystone, certificates, home):
    token = certificate_login(tls_keystone, certificates.admin, certificates.ca, "admin")
    env = {"OS_AUTH_TYPE": "admin_token", "OS_TOKEN": token,
           "OS_ENDPOINT": f"{tls_keystone.admin}/v3",
           **cert_env(tls_keystone, certificates.admin, certificates.ca)}

    projects = run_json(home, env, "project", "list")

    assert CERT_PROJECT in {project["Name"] for project in projects}
