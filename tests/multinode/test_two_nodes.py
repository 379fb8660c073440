"""Two keystone_lite nodes sharing one PostgreSQL database, driven over real TLS.

Each node is a ``keystone-lite serve`` process on its own 127.0.0.1 port with its own
configuration file; both use the same database and (for most tests) one shared Fernet key
repository, and the dev PKI of ``keystone_lite.pki``. Requests are made with ``http.client``
over TLS with client certificates, as a load balancer would spread them: a token issued on one
node is validated, revoked or invalidated through the other.

Needs PostgreSQL (``KEYSTONE_LITE_TEST_DATABASE_URL``, see tests/databases.py): skipped without
it, a failure when ``KEYSTONE_LITE_REQUIRE_POSTGRESQL=1``. Every process is stopped in a
``finally``; every request and wait has a timeout.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

import databases
from builders import LOOPBACK as HOST, free_port, is_listening
from keystone_lite import pki
from keystone_lite.cli import manage

START_TIMEOUT = 30
STOP_TIMEOUT = 15
REQUEST_TIMEOUT = 10
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")


# -- processes and requests ----------------------------------------------------------------------


@dataclasses.dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


class Node:
    """One ``keystone-lite serve`` process and a TLS client for it."""

    def __init__(self, name: str, config: str, pki_dir: str, log_path: str):
        self.name = name
        self.config = config
        self.pki_dir = pki_dir
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "keystone_lite.cli.serve", "serve",
                 "--config-file", self.config, "--host", HOST, "--port", str(self.port),
                 "--cert", os.path.join(self.pki_dir, "server.crt"),
                 "--key", os.path.join(self.pki_dir, "server.key"),
                 "--ca", os.path.join(self.pki_dir, "ca.crt")],
                stdout=log, stderr=subprocess.STDOUT)

    def wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"node {self.name} exited with {self.process.returncode}:\n"
                            f"{self.log()}")
            if is_listening(self.port):
                return
            time.sleep(0.05)
        pytest.fail(f"node {self.name} not listening after {START_TIMEOUT} s:\n{self.log()}")

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it does not stop in time; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        return self.process.returncode

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()[-4000:]

    def context(self, user: str) -> ssl.SSLContext:
        """A TLS client context presenting ``user``'s certificate and trusting the dev CA."""
        with self._lock:
            if user not in self._contexts:
                context = ssl.create_default_context(cafile=os.path.join(self.pki_dir,
                                                                         "ca.crt"))
                clients = os.path.join(self.pki_dir, "clients")
                context.load_cert_chain(os.path.join(clients, f"{user}.crt"),
                                        os.path.join(clients, f"{user}.key"))
                self._contexts[user] = context
            return self._contexts[user]

    def request(self, method: str, path: str, user: str, body=None, headers=None) -> Reply:
        """One request on a new TLS connection, with ``user``'s client certificate."""
        connection = http.client.HTTPSConnection(HOST, self.port, timeout=REQUEST_TIMEOUT,
                                                 context=self.context(user))
        try:
            payload = None if body is None else json.dumps(body).encode()
            sent = dict(headers or {})
            if payload is not None:
                sent["Content-Type"] = "application/json"
            connection.request(method, path, body=payload, headers=sent)
            response = connection.getresponse()
            return Reply(response.status, {name.lower(): value for name, value in
                                           response.getheaders()}, response.read())
        finally:
            connection.close()

    # -- the calls the tests make --------------------------------------------------------------

    def issue(self, user: str, project: str | None = "demo") -> str:
        auth = {"identity": {"methods": ["external"], "external": {}}}
        if project is not None:
            auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
        reply = self.request("POST", "/main/v3/auth/tokens", user, {"auth": auth})
        assert reply.status == 201, (self.name, user, reply)
        return reply.headers["x-subject-token"]

    def validate(self, caller: str, subject: str) -> Reply:
        return self.request("GET", "/admin/v3/auth/tokens", "admin",
                            headers={"X-Auth-Token": caller, "X-Subject-Token": subject})

    def revoke(self, caller: str, subject: str) -> Reply:
        return self.request("DELETE", "/admin/v3/auth/tokens", "admin",
                            headers={"X-Auth-Token": caller, "X-Subject-Token": subject})

    def admin_call(self, caller: str, method: str, path: str, body=None) -> Reply:
        return self.request(method, f"/admin/v3{path}", "admin", body,
                            headers={"X-Auth-Token": caller})

    def find_id(self, caller: str, collection: str, name: str) -> str:
        reply = self.admin_call(caller, "GET", f"/{collection}?name={name}")
        assert reply.status == 200, reply
        (entity,) = reply.json()[collection]
        return entity["id"]


def user_of(reply: Reply) -> str:
    assert reply.status == 200, reply
    return reply.json()["token"]["user"]["name"]


@contextlib.contextmanager
def running(*nodes: Node):
    """Start ``nodes``, wait until each listens, and always stop them all."""
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_listening()
        yield nodes
    finally:
        statuses = {node.name: node.stop() for node in nodes}
    failed = {name: status for name, status in statuses.items() if status != 0}
    assert not failed, f"nodes did not stop cleanly on SIGTERM: {failed}"


def cli(config: str, *argv: str) -> None:
    assert manage.main(["--config-file", config, *argv]) == 0, argv


def write_config(path: str, data_dir: str, database_url: str, key_repository: str,
                 max_active_keys: int = 3, crl_file: str | None = None) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"[DEFAULT]\ndata_dir = {data_dir}\n\n"
                     f"[database]\nconnection = {database_url}\n\n"
                     f"[fernet_tokens]\nkey_repository = {key_repository}\n"
                     f"max_active_keys = {max_active_keys}\n\n"
                     "[identity]\nargon2_time_cost = 1\nargon2_memory_cost = 1024\n")
        if crl_file:
            handle.write(f"\n[cert_auth]\ncrl_file = {crl_file}\n")
    return path


def copy_repository(source: str, target: str) -> None:
    """What ``rsync -a --delete source/ target/`` does to a key repository: each key written to
    a temporary name and renamed into place (a node never reads half a key), then the keys the
    source no longer has removed, last."""
    wanted = {name for name in os.listdir(source) if name.isdigit()}
    for name in sorted(wanted):
        temporary = os.path.join(target, f".{name}.partial")
        shutil.copy2(os.path.join(source, name), temporary)
        os.replace(temporary, os.path.join(target, name))
    for name in os.listdir(target):
        if name.isdigit() and name not in wanted:
            os.remove(os.path.join(target, name))


# -- the installation -----------------------------------------------------------------------------

@dataclasses.dataclass
class Installation:
    directory: str
    pki_dir: str
    database_url: str
    shared_keys: str


@pytest.fixture(scope="module")
def installation(tmp_path_factory, database_backend):
    """One PostgreSQL database (db_sync, bootstrap, users) and the dev PKI for every node."""
    if database_backend.name != "postgresql":
        reason = (f"two nodes need a shared PostgreSQL: set {databases.URL_ENV} "
                  "(tox -e py311-postgresql)")
        if databases.postgresql_required():
            pytest.fail(f"{databases.REQUIRE_ENV}=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    directory = str(tmp_path_factory.mktemp("multinode"))
    database_url = database_backend.create()
    shared_keys = os.path.join(directory, "shared-keys")
    setup = write_config(os.path.join(directory, "setup.conf"), os.path.join(directory, "setup"),
                         database_url, shared_keys)
    cli(setup, "db_sync")
    cli(setup, "fernet_setup")
    cli(setup, "bootstrap")  # no password: the admin logs in with its certificate
    for user in USERS:
        cli(setup, "user", "create", user, "--project", "demo", "--role", "member")
    pki_dir = os.path.join(directory, "pki")
    pki.ensure_ca(pki_dir)
    pki.ensure_server_certificate(pki_dir)
    for user in ("admin", *USERS):
        pki.issue_client_certificate(pki_dir, user)
    pki.write_crl(pki_dir)  # the nodes check client certificates against the dev CA's CRL
    try:
        yield Installation(directory, pki_dir, database_url, shared_keys)
    finally:
        database_backend.drop(database_url)


def make_node(installation: Installation, name: str, key_repository: str,
              max_active_keys: int = 3) -> Node:
    node_dir = os.path.join(installation.directory, name)
    os.makedirs(node_dir, exist_ok=True)
    config = write_config(os.path.join(node_dir, "keystone-lite.conf"),
                          os.path.join(node_dir, "data"), installation.database_url,
                          key_repository, max_active_keys,
                          crl_file=os.path.join(installation.pki_dir, pki.CRL_FILE))
    return Node(name, config, installation.pki_dir, os.path.join(node_dir, "server.log"))


@pytest.fixture(scope="module")
def pair(installation):
    """Nodes A and B: own ports and config files, one database, one key repository."""
    a = make_node(installation, "a", installation.shared_keys)
    b = make_node(installation, "b", installation.shared_keys)
    with running(a, b):
        yield a, b


@pytest.fixture(scope="module")
def admin_tokens(pair):
    """A project-scoped admin token from each node (certificate login)."""
    a, b = pair
    return a.issue("admin", "admin"), b.issue("admin", "admin")


# -- tokens move between nodes --------------------------------------------------------------------

def test_token_issued_on_a_validates_on_b_and_the_other_way(pair, admin_tokens):
    a, b = pair
    admin_a, admin_b = admin_tokens
    from_a, from_b = a.issue("alice"), b.issue("bob")

    on_b, on_a = b.validate(admin_b, from_a), a.validate(admin_a, from_b)

    assert user_of(on_b) == "alice" and user_of(on_a) == "bob"
    assert on_b.json()["token"]["project"]["name"] == "demo"
    # An admin token from one node is a good caller on the other.
    assert user_of(b.validate(admin_a, from_a)) == "alice"


def test_revocation_through_b_is_seen_by_a_on_the_next_validation(pair, admin_tokens):
    a, b = pair
    admin_a, admin_b = admin_tokens
    token = a.issue("alice")
    assert user_of(a.validate(admin_a, token)) == "alice"

    assert b.revoke(admin_b, token).status == 204

    assert a.validate(admin_a, token).status == 404
    assert a.request("HEAD", "/admin/v3/auth/tokens", "admin",
                     headers={"X-Auth-Token": admin_a, "X-Subject-Token": token}).status == 404
    assert a.revoke(admin_a, token).status == 404


def certificate_of(installation_or_node, user: str) -> x509.Certificate:
    with open(os.path.join(installation_or_node.pki_dir, "clients", f"{user}.crt"), "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def test_certificate_revoked_through_b_ends_its_tokens_on_a_within_one_request(
        pair, admin_tokens):
    a, b = pair
    admin_a, admin_b = admin_tokens
    tokens = [a.issue("grace"), b.issue("grace")]
    spared = a.issue("heidi")
    thumbprint = certificate_of(a, "grace").fingerprint(hashes.SHA256()).hex()

    reply = b.admin_call(admin_b, "POST", "/certificate_revocations", {
        "certificate_revocation": {"thumbprint": thumbprint, "reason": "lost"}})
    assert reply.status == 201, reply

    for node, caller in ((a, admin_a), (b, admin_b)):
        for token in tokens:
            assert node.validate(caller, token).status == 404
        assert user_of(node.validate(caller, spared)) == "heidi"
        refused = node.request("POST", "/main/v3/auth/tokens", "grace", {"auth": {
            "identity": {"methods": ["external"]}}})
        assert refused.status == 401


def test_certificate_revoked_by_serial_with_the_cli_ends_its_tokens_on_both_nodes(
        installation, pair, admin_tokens):
    a, b = pair
    admin_a, admin_b = admin_tokens
    token = b.issue("ivan")
    assert user_of(a.validate(admin_a, token)) == "ivan"
    serial = format(certificate_of(installation, "ivan").serial_number, "X")

    cli(a.config, "cert", "revoke", "--serial", serial)

    assert a.validate(admin_a, token).status == 404
    assert b.validate(admin_b, token).status == 404


def test_certificate_listed_by_a_new_crl_ends_its_tokens_on_both_nodes(
        installation, pair, admin_tokens):
    a, b = pair
    admin_a, admin_b = admin_tokens
    token, spared = a.issue("judy"), b.issue("heidi")
    assert user_of(b.validate(admin_b, token)) == "judy"

    pki.revoke_client_certificate(installation.pki_dir, "judy")
    pki.write_crl(installation.pki_dir)
    time.sleep(1.1)  # each node looks at the file at most once a second

    for node, caller in ((a, admin_a), (b, admin_b)):
        assert node.validate(caller, token).status == 404
        assert user_of(node.validate(caller, spared)) == "heidi"
        with pytest.raises(OSError):  # the handshake refuses the certificate itself
            node.request("POST", "/main/v3/auth/tokens", "judy", {"auth": {
                "identity": {"methods": ["external"]}}})


def test_user_disabled_through_b_fails_validation_and_login_on_a(pair, admin_tokens):
    a, b = pair
    admin_a, admin_b = admin_tokens
    token = a.issue("carol")
    assert user_of(a.validate(admin_a, token)) == "carol"
    carol = b.find_id(admin_b, "users", "carol")

    assert b.admin_call(admin_b, "PATCH", f"/users/{carol}",
                        {"user": {"enabled": False}}).status == 200

    assert a.validate(admin_a, token).status == 404
    refused = a.request("POST", "/main/v3/auth/tokens", "carol", {"auth": {"identity": {
        "methods": ["external"], "external": {}}}})
    assert refused.status == 401, refused
    # Enabled again through A: the old token stays dead, a new one works on B.
    assert a.admin_call(admin_a, "PATCH", f"/users/{carol}",
                        {"user": {"enabled": True}}).status == 200
    assert b.validate(admin_b, token).status == 404
    assert user_of(b.validate(admin_b, a.issue("carol"))) == "carol"


def test_user_disabled_through_b_ends_only_that_users_tokens_on_a_at_once(pair, admin_tokens):
    """The change log drops only what a change concerns (keystone_lite.db.generation): the
    disabled user's remembered token fails on A's next request, another user's remembered
    token (kept through the change) stays valid, and a logout through B kills only its token."""
    a, b = pair
    admin_a, admin_b = admin_tokens
    changed, spared = a.issue("dave"), a.issue("erin")
    logged_out, kept = a.issue("erin"), a.issue("erin")
    for token, user in ((changed, "dave"), (spared, "erin"), (logged_out, "erin"),
                        (kept, "erin")):
        assert user_of(a.validate(admin_a, token)) == user
    dave = b.find_id(admin_b, "users", "dave")

    assert b.admin_call(admin_b, "PATCH", f"/users/{dave}",
                        {"user": {"enabled": False}}).status == 200
    assert a.validate(admin_a, changed).status == 404
    assert user_of(a.validate(admin_a, spared)) == "erin"

    assert b.revoke(admin_b, logged_out).status == 204
    assert a.validate(admin_a, logged_out).status == 404
    assert user_of(a.validate(admin_a, kept)) == "erin"
    assert user_of(a.validate(admin_a, spared)) == "erin"
    # dave serves the next test: enabled again (his old token stays dead).
    assert a.admin_call(admin_a, "PATCH", f"/users/{dave}",
                        {"user": {"enabled": True}}).status == 200
    assert a.validate(admin_a, changed).status == 404


def test_role_removed_through_b_fails_the_scoped_token_on_a(pair, admin_tokens):
    a, b = pair
    admin_a, admin_b = admin_tokens
    token = a.issue("dave")
    assert user_of(a.validate(admin_a, token)) == "dave"
    dave, demo, member = (b.find_id(admin_b, "users", "dave"),
                          b.find_id(admin_b, "projects", "demo"),
                          b.find_id(admin_b, "roles", "member"))

    removed = b.admin_call(admin_b, "DELETE", f"/projects/{demo}/users/{dave}/roles/{member}")

    assert removed.status == 204, removed
    assert a.validate(admin_a, token).status == 404
    # Others on the project are untouched.
    assert user_of(a.validate(admin_a, b.issue("erin"))) == "erin"


# -- key rotation ---------------------------------------------------------------------------------

class CrossValidation:
    """Threads issuing on one node and validating on the other until stopped, counting every
    failure; ``phase`` labels what the operator is doing meanwhile."""

    def __init__(self, first: Node, second: Node, callers: dict[str, str], users=("frank",)):
        self.nodes = (first, second)
        self.callers = callers  # node name -> an admin token good on both nodes
        self.users = users
        self.phase = "before"
        self.counts: collections.Counter = collections.Counter()
        self.failures: list[str] = []
        self.tokens: list[tuple[str, str]] = []  # (token, owner)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(issuer, validator), daemon=True)
                         for issuer, validator in ((first, second), (second, first))]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_TIMEOUT * 3)
        assert not any(thread.is_alive() for thread in self._threads), "validation loop hung"

    def _run(self, issuer: Node, validator: Node) -> None:
        index = 0
        deadline = time.monotonic() + 60  # bounded even if never stopped
        while not self._stop.is_set() and time.monotonic() < deadline:
            user = self.users[index % len(self.users)]
            index += 1
            phase = self.phase
            try:
                token = issuer.issue(user)
                reply = validator.validate(self.callers[validator.name], token)
                ok = reply.status == 200 and reply.json()["token"]["user"]["name"] == user
            except (AssertionError, OSError, http.client.HTTPException) as exc:
                ok, reply = False, exc
            with self._lock:
                self.counts[phase] += 1
                if ok:
                    self.tokens.append((token, user))
                else:
                    self.failures.append(f"{phase}: issued on {issuer.name}, validated on "
                                         f"{validator.name}: {reply}")

    def run_phase(self, phase: str, seconds: float = 1.0, minimum: int = 4) -> None:
        """Label what follows ``phase``; wait until both loops did ``minimum`` checks in it."""
        self.phase = phase
        deadline = time.monotonic() + max(seconds, REQUEST_TIMEOUT * 2)
        started = time.monotonic()
        while time.monotonic() < deadline:
            with self._lock:
                done = self.counts[phase]
            if done >= minimum and time.monotonic() - started >= seconds:
                return
            time.sleep(0.05)

    def summary(self) -> str:
        return (f"{sum(self.counts.values())} cross-node validations by phase "
                f"{dict(self.counts)}, {len(self.failures)} failed")


def test_fernet_rotate_on_a_shared_repository_fails_no_validation(pair, admin_tokens,
                                                                  installation):
    """Shared repository: the staged key 0 is on every node at once, so one fernet_rotate (on
    any node) is the whole procedure."""
    a, b = pair
    callers = {"a": admin_tokens[0], "b": admin_tokens[1]}
    before = [a.issue("frank"), b.issue("frank")]
    with CrossValidation(a, b, callers) as loops:
        loops.run_phase("steady")
        loops.run_phase("rotating")
        cli(a.config, "fernet_rotate")
        loops.run_phase("after rotation")
    print(loops.summary())

    assert not loops.failures, loops.summary() + "\n" + "\n".join(loops.failures[:10])
    assert sorted(os.listdir(installation.shared_keys)) == ["0", "1", "2"]
    for node in (a, b):
        for token in before + [token for token, _ in loops.tokens[-4:]]:
            assert user_of(node.validate(callers[node.name], token)) == "frank"


def test_rotate_on_a_then_copy_every_key_to_b_fails_no_validation(installation):
    """Separate repositories: rotate on A, copy A's whole repository to B (rsync -a --delete).
    Between the two steps A signs with the key that was staged — which B already has as its
    key 0 — so B accepts A's new tokens before the copy arrives."""
    repositories = {}
    for name in ("c", "d"):
        repositories[name] = os.path.join(installation.directory, f"keys-{name}")
        shutil.copytree(installation.shared_keys, repositories[name])
    c = make_node(installation, "c", repositories["c"], max_active_keys=4)
    d = make_node(installation, "d", repositories["d"], max_active_keys=4)
    with running(c, d):
        callers = {"c": c.issue("admin", "admin"), "d": d.issue("admin", "admin")}
        before = [c.issue("frank"), d.issue("frank")]
        with CrossValidation(c, d, callers) as loops:
            loops.run_phase("steady")
            for round_ in (1, 2):
                cli(c.config, "fernet_rotate")
                loops.run_phase(f"rotated {round_} on c, not yet copied")
                copy_repository(repositories["c"], repositories["d"])
                loops.run_phase(f"copied {round_} to d")
        print(loops.summary())

        assert not loops.failures, loops.summary() + "\n" + "\n".join(loops.failures[:10])
        assert sorted(os.listdir(repositories["d"])) == sorted(os.listdir(repositories["c"]))
        for node in (c, d):
            for token in before + [token for token, _ in loops.tokens[-4:]]:
                assert user_of(node.validate(callers[node.name], token)) == "frank"


def test_without_the_staged_key_b_refuses_what_a_signs_after_rotating(installation):
    """Why the order matters: a node that never got A's staged key (a repository set up on its
    own) cannot validate A's tokens — the failure the documented procedure avoids."""
    repositories = {}
    for name in ("e", "f"):
        repositories[name] = os.path.join(installation.directory, f"keys-{name}")
    shutil.copytree(installation.shared_keys, repositories["e"])
    cli(make_node(installation, "f", repositories["f"]).config, "fernet_setup")
    e = make_node(installation, "e", repositories["e"])
    f = make_node(installation, "f", repositories["f"])
    with running(e, f):
        caller = f.issue("admin", "admin")
        token = e.issue("frank")
        assert f.validate(caller, token).status == 404
        copy_repository(repositories["e"], repositories["f"])
        caller = f.issue("admin", "admin")  # f's own keys are gone with the copy
        assert user_of(f.validate(caller, token)) == "frank"
