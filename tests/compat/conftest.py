"""Fixtures of the compat tests: keystone_lite served over real HTTP and real TLS on 127.0.0.1.

An installation is made the way an operator makes one: a config file, then keystone-lite-manage
``db_sync``, ``fernet_setup``, ``credential_setup`` and ``bootstrap`` (with a password and the
public, internal and admin URLs of the server that will serve it), then the ``main`` and
``admin`` apps loaded from the shipped paste ini. ``http_keystone`` serves them with cheroot on plain HTTP,
``tls_keystone`` with the project's embedded server (``keystone_lite.server``: client
certificates verified in the handshake, mod_ssl's environ keys). Both live for the whole session,
in a thread, on a port the kernel chose; nothing sits between the clients and the server.

Users made here (default domain): ``admin`` (bootstrap, password), ``alice`` (certificate only,
member of ``demo``) and ``nova`` (password, role ``service`` on project ``service``). Tests that
change or revoke things make their own users and tokens.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import threading

import pytest
import webtest
from cheroot import wsgi

from keystone_lite import pki, server, services
from keystone_lite.cli import manage

import builders
from builders import ADMIN_PASSWORD, PASTE_INI

HOST = "127.0.0.1"
STOP_TIMEOUT = 10
SERVICE_USER, SERVICE_PASSWORD, SERVICE_PROJECT = "nova", "nova-secret", "service"
CERT_USER, CERT_PROJECT = "alice", "demo"


@dataclasses.dataclass
class Keystone:
    """One served installation; ``url`` is the server's root (the apps are under /main, /admin)."""

    directory: str
    config: str
    url: str
    apps: dict  # {"/main": wsgi app, "/admin": wsgi app}: what the server serves
    ca: str | None = None  # the CA of the server certificate (TLS only)

    @property
    def main(self) -> str:
        return f"{self.url}/main"

    @property
    def admin(self) -> str:
        return f"{self.url}/admin"

    @property
    def data_dir(self) -> str:
        return os.path.join(self.directory, "data")

    def cli(self, *argv: str) -> None:
        assert manage.main(["--config-file", self.config, *argv]) == 0, argv

    def issue(self, user: str, project: str | None = None, app: str = "/main") -> str:
        """A token for certificate user ``user``, issued the way it is behind mod_ssl: the app
        is called with REMOTE_USER (and the SSL_CLIENT_* keys) in the environ."""
        return builders.issue(webtest.TestApp(self.apps[app]), user, project)

    def issue_short_lived(self, directory: str, seconds: int, user: str,
                          project: str | None = None) -> str:
        """Like ``issue``, from a second node of this installation (same database and keys,
        config in ``directory``, not served) whose tokens live ``seconds``."""
        config = write_config(directory, data_dir=self.data_dir, expiration=seconds)
        return builders.issue(webtest.TestApp(load_apps(config)["/main"]), user, project)


def write_config(directory: str, data_dir: str = "data", **token) -> str:
    """keystone-lite.conf in ``directory`` (data in ``data_dir``); ``token`` adds [token] keys."""
    lines = ["[DEFAULT]", f"data_dir = {data_dir}", "",
             # Cheap argon2 parameters: the library is the same, only faster.
             "[identity]", "argon2_time_cost = 1", "argon2_memory_cost = 1024", "",
             # As deployments run (docs/deployment.md): the clients must work with it on.
             "[oslo_policy]", "enforce_scope = true", ""]
    if token:
        lines += ["[token]", *(f"{key} = {value}" for key, value in token.items()), ""]
    path = os.path.join(directory, "keystone-lite.conf")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return path


def load_apps(config: str) -> dict:
    """``{"/main": app, "/admin": app}`` from the shipped paste ini, for ``config``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KEYSTONE_LITE_CONFIG", config)
        return server.load_apps(PASTE_INI)


@contextlib.contextmanager
def installed(directory: str, httpd_for, scheme: str):
    """Install keystone_lite in ``directory`` and serve it with ``httpd_for(apps)``.

    The server binds first (port 0: the kernel picks a free one) so that bootstrap can write the
    real URLs into the catalog; it serves from a thread until the block ends.
    """
    config = write_config(directory)
    keystone = Keystone(directory, config, "", {})
    keystone.cli("db_sync")
    keystone.cli("fernet_setup")
    keystone.cli("credential_setup")
    keystone.apps = load_apps(config)
    httpd = httpd_for(keystone.apps)
    httpd.prepare()
    keystone.url = f"{scheme}://{HOST}:{httpd.bind_addr[1]}"
    keystone.cli("bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
                 "--bootstrap-public-url", f"{keystone.main}/v3",
                 "--bootstrap-internal-url", f"{keystone.main}/v3",
                 "--bootstrap-admin-url", f"{keystone.admin}/v3")
    keystone.cli("user", "create", CERT_USER, "--project", CERT_PROJECT, "--role", "member")
    keystone.cli("user", "create", SERVICE_USER, "--password", SERVICE_PASSWORD,
                 "--project", SERVICE_PROJECT, "--role", "service")
    thread = threading.Thread(target=httpd.serve, name=f"keystone-{scheme}", daemon=True)
    thread.start()
    try:
        yield keystone
    finally:
        httpd.stop()
        thread.join(STOP_TIMEOUT)
        services.forget_all()


@pytest.fixture(scope="session")
def http_keystone(tmp_path_factory):
    """keystone_lite on ``http://127.0.0.1:PORT/{main,admin}`` (cheroot, no TLS)."""
    def plain(apps):
        return wsgi.Server((HOST, 0), wsgi.PathInfoDispatcher(apps), numthreads=8,
                           server_name=HOST)
    with installed(str(tmp_path_factory.mktemp("compat-http")), plain, "http") as keystone:
        yield keystone


@dataclasses.dataclass(frozen=True)
class Certificates:
    """The dev PKI of ``tls_keystone``: its CA and client certificates (``pki.Issued``)."""

    ca: str
    alice: pki.Issued
    admin: pki.Issued
    service: pki.Issued  # the service user's (nova), for auth_token's certfile/keyfile


@pytest.fixture(scope="session")
def tls_keystone(tmp_path_factory):
    """keystone_lite on ``https://127.0.0.1:PORT/{main,admin}``: the embedded server, client
    certificate required (as Apache with ``SSLVerifyClient require``)."""
    directory = str(tmp_path_factory.mktemp("compat-tls"))
    pki_dir = os.path.join(directory, "data", "pki")
    ca = pki.ensure_ca(pki_dir)
    tls = pki.ensure_server_certificate(pki_dir)
    files = server.TLSFiles(tls.certificate, tls.key, ca.certificate)

    def embedded(apps):
        return server.make_server(apps, files, "SSL_CLIENT_S_DN_UID", HOST, 0,
                                  require_client_certificate=True, threads=8)
    with installed(directory, embedded, "https") as keystone:
        keystone.ca = ca.certificate
        yield keystone


@pytest.fixture(scope="session")
def certificates(tls_keystone) -> Certificates:
    pki_dir = pki.default_directory(tls_keystone.data_dir)
    return Certificates(tls_keystone.ca, *(pki.issue_client_certificate(pki_dir, user)
                                           for user in (CERT_USER, "admin", SERVICE_USER)))
