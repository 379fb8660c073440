"""Plain builders of requests and test data (no mocks); imported by the tests as ``builders``."""
from __future__ import annotations

import os

import webtest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASTE_INI = os.path.join(ROOT, "etc", "keystone-lite-paste.ini")
GOLDEN = os.path.join(os.path.dirname(ROOT), "shared", "keystone-golden")
ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN_PASSWORD = "admin-secret"

# -- request builders (plain functions, no mocks) ---------------------------------------------------

CERT_ENVIRON = {"SSL_CLIENT_VERIFY": "SUCCESS",
                "SSL_CLIENT_S_DN": "CN=alice,UID=alice,O=keystone_lite",
                "SSL_CLIENT_I_DN": "CN=keystone-lite dev CA,O=keystone_lite"}


def cert_environ(user: str) -> dict:
    """What mod_ssl with ``SSLUserName SSL_CLIENT_S_DN_UID`` puts in the environ."""
    return {**CERT_ENVIRON, "REMOTE_USER": user, "SSL_CLIENT_S_DN_UID": user,
            "SSL_CLIENT_S_DN": f"CN={user},UID={user},O=keystone_lite"}


def external_auth(project: str | None = None, domain: str = "default") -> dict:
    auth = {"identity": {"methods": ["external"], "external": {}}}
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"id": domain}}}
    return {"auth": auth}


def password_auth(user: str, password: str, project: str | None = None) -> dict:
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}}}
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return {"auth": auth}


def admin_headers(subject: str | None = None) -> dict:
    headers = {"X-Auth-Token": ADMIN_TOKEN}
    if subject is not None:
        headers["X-Subject-Token"] = subject
    return headers


def issue(app: webtest.TestApp, user: str, project: str | None = None, **kwargs) -> str:
    """Issue a token for certificate user ``user`` and return its id."""
    response = app.post_json("/v3/auth/tokens", external_auth(project),
                             extra_environ=cert_environ(user), status=201, **kwargs)
    return response.headers["X-Subject-Token"]


def admin_token_of(app: webtest.TestApp) -> str:
    """A real token of the bootstrap admin, scoped to the admin project."""
    response = app.post_json("/v3/auth/tokens", password_auth("admin", ADMIN_PASSWORD, "admin"),
                             status=201)
    return response.headers["X-Subject-Token"]


def add_user(deployment, name: str, project: str | None = None,
             role: str | None = None, password: str | None = None) -> None:
    """Create a user through the CLI, as an operator would."""
    argv = ["user", "create", name]
    if password:
        argv += ["--password", password]
    if project:
        argv += ["--project", project, "--role", role or "member"]
    deployment.cli(*argv)
