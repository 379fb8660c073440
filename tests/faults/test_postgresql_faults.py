"""PostgreSQL faults under the running app: the server unreachable (every connection cut and new
ones refused, by a TCP relay between the app and PostgreSQL) and backends killed by the server
(``pg_terminate_backend``). The shared PostgreSQL server itself is never stopped: other test
runs may be using it.

Needs a PostgreSQL as in DESIGN.md §6: ``KEYSTONE_LITE_TEST_DATABASE_URL`` when it names one,
else ``postgresql+psycopg://kl:kl@127.0.0.1:5432/kltest``; skipped when none is reachable.
"""
from __future__ import annotations

import os
import shutil
import socket
import threading

import pytest
import sqlalchemy
import webtest
from paste.deploy import loadapp
from sqlalchemy.engine import make_url

import databases
from builders import (ADMIN_PASSWORD, ADMIN_TOKEN, PASTE_INI, admin_headers,
                      assert_keystone_error, assert_logged_once, password_auth, post_token)
from keystone_lite import services, settings as settings_module
from keystone_lite.cli import manage


class Relay:
    """A TCP relay from 127.0.0.1:``port`` to ``target``. ``cut()`` closes every relayed
    connection and refuses new ones, as a dead server or network does; ``restore()`` listens
    on the same port again."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        listener.close()
        with self._lock:
            for sock in self._sockets:
                _close(sock)
            self._sockets.clear()

    def close(self) -> None:
        if self._listener is not None:
            self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                _close(sock)
            with self._lock:
                self._sockets.difference_update((source, sink))


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


@pytest.fixture
def postgresql_backend():
    url = databases.configured_url()
    if not url or not url.startswith("postgresql"):
        url = databases.DEFAULT_POSTGRESQL_URL
    try:
        backend = databases.PostgreSQLBackend(url)
    except databases.Unreachable as exc:
        pytest.skip(f"no PostgreSQL to inject faults into: {exc}")
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def relayed(postgresql_backend, tmp_path, bootstrapped_data, monkeypatch):
    """(deployment apps, relay, the database's direct URL): a bootstrapped PostgreSQL database
    that the apps reach only through the relay."""
    direct = postgresql_backend.create()
    target = make_url(direct)
    relay = Relay((target.host or "127.0.0.1", target.port or 5432))
    through_relay = target.set(host="127.0.0.1", port=relay.port).render_as_string(
        hide_password=False)
    shutil.copytree(os.path.join(bootstrapped_data, "fernet-keys"), tmp_path / "keys")
    config = tmp_path / "keystone-lite.conf"
    config.write_text(
        f"[DEFAULT]\ndata_dir = {tmp_path / 'data'}\nadmin_token = {ADMIN_TOKEN}\n"
        f"[database]\nconnection = {through_relay}\n"
        f"[fernet_tokens]\nkey_repository = {tmp_path / 'keys'}\n"
        "[identity]\nargon2_time_cost = 1\nargon2_memory_cost = 1024\n")
    for argv in (["db_sync"], ["bootstrap", "--bootstrap-password", ADMIN_PASSWORD]):
        assert manage.main(["--config-file", str(config), *argv]) == 0
    monkeypatch.setenv(settings_module.CONFIG_ENV_VAR, str(config))
    apps = {name: webtest.TestApp(loadapp(f"config:{PASTE_INI}", name=name))
            for name in ("main", "admin")}
    try:
        yield apps, relay, direct
    finally:
        services.forget_all()
        relay.close()
        postgresql_backend.drop(direct)


def issue(apps) -> str:
    return post_token(apps["main"], password_auth("admin", ADMIN_PASSWORD, "admin")
                      ).headers["X-Subject-Token"]


def validate(apps, token, status=200):
    return apps["admin"].get("/v3/auth/tokens", headers=admin_headers(token), status=status)


def test_unreachable_postgresql_is_503_with_retry_after_then_recovers_without_restart(
        relayed, caplog):
    apps, relay, _ = relayed
    token = issue(apps)
    validate(apps, token)  # the pool now holds connections through the relay

    relay.cut()
    caplog.clear()
    responses = [
        validate(apps, token, status=503),
        post_token(apps["main"], password_auth("admin", ADMIN_PASSWORD, "admin"), status=503),
        apps["admin"].get("/v3/users", headers=admin_headers(), status=503),
        apps["admin"].delete("/v3/auth/tokens", headers=admin_headers(token), status=503),
    ]
    relay.restore()

    for response in responses:
        error = assert_keystone_error(response, 503)
        assert response.headers["Retry-After"] == "5"
        assert "database is unavailable" in error["message"]
        assert_logged_once(caplog, response, "database error: OperationalError")
    validate(apps, token)  # back, and the revocation attempted during the outage never happened
    apps["admin"].delete("/v3/auth/tokens", headers=admin_headers(token), status=204)
    validate(apps, token, status=404)


def test_backends_killed_by_the_server_are_replaced_without_an_error(relayed):
    apps, _, direct = relayed
    token = issue(apps)
    validate(apps, token)
    name = make_url(direct).database

    engine = sqlalchemy.create_engine(direct, poolclass=sqlalchemy.pool.NullPool,
                                      isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            killed = connection.execute(sqlalchemy.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name}).scalar()
    finally:
        engine.dispose()

    assert killed >= 1
    # pool_pre_ping notices the dead connections and opens new ones: no request fails.
    validate(apps, token)
    apps["admin"].delete("/v3/auth/tokens", headers=admin_headers(token), status=204)
    validate(apps, token, status=404)
