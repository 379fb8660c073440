"""What must kill a token kills it whatever races it and whatever the clocks say (issue 10,
findings 3 and 4).

- A login that read the user's row before a password change, a disable or a disable and
  re-enable, and issued its token after the change, must not get a token that validates
  afterwards. The races are real: a login thread verifies a password stored with production
  argon2 parameters (the slow step) while the change is made through the admin API.
- A token issued on a node whose clock is 5 s ahead dies with a change made on another node.
  Both "nodes" are the shipped apps loaded twice in this process, for two configuration files
  on one database and one key repository; the second node's token service gets a clock 5 s
  ahead (``TokenService.clock``), nothing else differs.
- DELETE of a rescoped token T (R → T → U) kills U, and U cannot be rescoped any more.
- A token of payload version 1 (made before the upgrade) validates until the next change.
"""
from __future__ import annotations

import configparser
import datetime
import os
import threading
import time
import uuid

import msgpack
import pytest
import webtest
from cryptography.fernet import Fernet
from paste.deploy import loadapp
from sqlalchemy import event

from builders import (ADMIN_TOKEN, PASTE_INI, add_user, admin_headers, in_store, issue,
                      password_auth, post_token, project_id, subject_headers, token_auth)
from keystone_lite import services as services_module
from keystone_lite.db import models
from keystone_lite.identity import store
from keystone_lite.identity.passwords import PasswordHasher
from keystone_lite.token.payload import now_us

PROVIDERS = ["fernet", "uuid"]
OLD_PASSWORD = "old-Pa55word"
NEW_PASSWORD = "new-Pa55word"
SKEW_US = 5_000_000
# About what production costs (the default time cost of 3 at 64 MiB takes ~0.1 s here): long
# enough that the admin calls, which hash with the tests' cheap parameters, land inside it.
SLOW_HASHER = PasswordHasher(time_cost=8, memory_cost=65536)
RACE_TIMEOUT = 30


@pytest.fixture(params=PROVIDERS)
def provider(request) -> str:
    return request.param


@pytest.fixture
def keystone(make_deployment, provider):
    deployment = make_deployment({"token": {"provider": provider}})
    add_user(deployment, "alice", "demo", "member", password=OLD_PASSWORD)
    return deployment


# -- builders local to these tests ---------------------------------------------------------------

def alice_id(deployment) -> str:
    return in_store(deployment, lambda session: store.find_user(
        session, name="alice", domain_id="default").id)


def validate(app: webtest.TestApp, token: str, status: int = 200):
    return app.get("/v3/auth/tokens", headers=subject_headers(token), status=status)


def assert_dead(app: webtest.TestApp, main: webtest.TestApp, token: str) -> None:
    validate(app, token, status=404)
    app.get(f"/v2.0/tokens/{token}", headers={"X-Auth-Token": ADMIN_TOKEN}, status=404)
    post_token(main, token_auth(token), status=401)


def issued_at_us(response) -> int:
    """The token's ``issued_at`` (v3 body) in microseconds since the epoch."""
    text = response.json["token"]["issued_at"]
    when = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    return int(when.timestamp()) * 1_000_000 + when.microsecond


def patch(deployment, plural: str, entity: str, body: dict) -> None:
    key = plural.rstrip("s")
    deployment.admin.patch_json(f"/v3/{plural}/{entity}", {key: body}, headers=admin_headers(),
                                status=200)


def store_slow_password(deployment, password: str) -> None:
    """Give alice ``password`` hashed with production-like argon2 parameters: verifying it is
    the slow step of a password login (~0.3 s), as in production."""
    def set_hash(session):
        store.find_user(session, name="alice", domain_id="default").password_hash = \
            SLOW_HASHER.hash(password)
    in_store(deployment, set_hash)


class RacingLogin(threading.Thread):
    """A password login on a thread of its own; ``read_user`` is set once the login has read
    the user's row (and so the password hash it is about to verify)."""

    def __init__(self, deployment, body: dict):
        super().__init__(daemon=True)
        self.app = webtest.TestApp(deployment.main.app)  # no state shared with the test's
        self.body = body
        self.engine = deployment.services().engine
        self.read_user = threading.Event()
        self.response = None
        self.finished_at = None  # time.monotonic() when the response came back

    def _on_execute(self, _connection, _cursor, statement, *_args):
        if threading.get_ident() == self.ident and "FROM users" in statement:
            self.read_user.set()

    def __enter__(self):
        event.listen(self.engine, "after_cursor_execute", self._on_execute)
        self.start()
        assert self.read_user.wait(RACE_TIMEOUT), "the login never read the user's row"
        return self

    def __exit__(self, *exc_info):
        self.join(RACE_TIMEOUT)
        event.remove(self.engine, "after_cursor_execute", self._on_execute)
        assert not self.is_alive(), "the login hung"

    def run(self):
        self.response = post_token(self.app, self.body, status="*")
        self.finished_at = time.monotonic()

    def raced(self, changed_at: float) -> bool:
        """Whether the change, made after the login read the row, also came back before the
        login did: the token (issued at the login's very end) was issued after the change."""
        return self.finished_at > changed_at


# -- finding 3: logins racing a change -------------------------------------------------------------

def assert_raced_login_left_no_live_token(keystone, login, changed_at: float) -> None:
    """A login that read the user's row before the change either is refused (issuing re-reads
    the row after the password check and sees the moved revision) or gets a token that is dead
    on arrival (the change committed after that re-read); it never gets a live token."""
    response = login.response
    assert response.status_int in (201, 401), response
    if response.status_int == 201:
        assert login.raced(changed_at), "no race: the login ended before the change"
        assert_dead(keystone.admin, keystone.main, response.headers["X-Subject-Token"])


def test_old_password_login_racing_a_password_change_does_not_survive_it(keystone, provider):
    store_slow_password(keystone, OLD_PASSWORD)
    alice = alice_id(keystone)

    with RacingLogin(keystone, password_auth("alice", OLD_PASSWORD, "demo")) as login:
        # The login has the old hash in hand and is verifying it: change the password now.
        patch(keystone, "users", alice, {"password": NEW_PASSWORD})
        changed_at = time.monotonic()

    assert_raced_login_left_no_live_token(keystone, login, changed_at)
    post_token(keystone.main, password_auth("alice", OLD_PASSWORD), status=401)
    fresh = post_token(keystone.main, password_auth("alice", NEW_PASSWORD, "demo"))
    validate(keystone.admin, fresh.headers["X-Subject-Token"])


def test_login_racing_a_disable_and_re_enable_does_not_survive_them(keystone):
    store_slow_password(keystone, OLD_PASSWORD)
    alice = alice_id(keystone)

    with RacingLogin(keystone, password_auth("alice", OLD_PASSWORD, "demo")) as login:
        patch(keystone, "users", alice, {"enabled": False})
        patch(keystone, "users", alice, {"enabled": True})
        enabled_at = time.monotonic()

    assert_raced_login_left_no_live_token(keystone, login, enabled_at)
    fresh = post_token(keystone.main, password_auth("alice", OLD_PASSWORD, "demo"))
    validate(keystone.admin, fresh.headers["X-Subject-Token"])


# -- finding 3: clock skew between nodes -----------------------------------------------------------

def second_node(deployment, tmp_path, monkeypatch, clock):
    """The shipped apps loaded for a second configuration file on ``deployment``'s database and
    keys, with ``clock`` as its token service's clock: (main, admin)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(deployment.config)
    parser["DEFAULT"]["data_dir"] = deployment.data_dir
    directory = tmp_path / "node-b"
    directory.mkdir()
    config = str(directory / "keystone-lite.conf")
    with open(config, "w", encoding="utf-8") as handle:
        parser.write(handle)
    monkeypatch.setenv("KEYSTONE_LITE_CONFIG", config)
    try:
        apps = [webtest.TestApp(loadapp(f"config:{PASTE_INI}", name=name))
                for name in ("main", "admin")]
        node = services_module.for_paste({})
    finally:
        monkeypatch.setenv("KEYSTONE_LITE_CONFIG", deployment.config)
    assert node is not deployment.services()
    node.tokens.clock = clock
    return apps


def ahead(microseconds: int):
    return lambda: now_us() + microseconds


CHANGES = {
    "user disabled and enabled": lambda d, alice, demo: [
        patch(d, "users", alice, {"enabled": False}), patch(d, "users", alice, {"enabled": True})],
    "password changed": lambda d, alice, demo: patch(d, "users", alice,
                                                     {"password": NEW_PASSWORD}),
    "project disabled and enabled": lambda d, alice, demo: [
        patch(d, "projects", demo, {"enabled": False}),
        patch(d, "projects", demo, {"enabled": True})],
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_token_of_a_node_5_s_ahead_dies_with_a_change_made_on_another_node(
        keystone, tmp_path, monkeypatch, change):
    main_b, admin_b = second_node(keystone, tmp_path, monkeypatch, ahead(SKEW_US))
    response = post_token(main_b, password_auth("alice", OLD_PASSWORD, "demo"))
    token = response.headers["X-Subject-Token"]
    # The body's times are whole seconds (as Keystone's).
    assert issued_at_us(response) > now_us() + SKEW_US - 2_000_000, "node B is not ahead"
    validate(keystone.admin, token)

    change(keystone, alice_id(keystone), project_id(keystone, "demo"))  # on node A, just after

    for admin in (keystone.admin, admin_b):
        validate(admin, token, status=404)
    post_token(keystone.main, token_auth(token), status=401)
    post_token(main_b, token_auth(token), status=401)
    validate(admin_b, issue(main_b, "alice", "demo"))  # B still issues good tokens


# -- finding 4: DELETE of a rescoped token ---------------------------------------------------------

@pytest.mark.parametrize("revoke_with", ["v3", "v2.0"])
def test_deleting_a_rescoped_token_kills_what_was_rescoped_from_it(keystone, revoke_with):
    """R → T → U → V: DELETE T kills T, U and V, however deep; R, the token alice logged in
    with, lives on and can be rescoped again (as Keystone, and as Tempest's
    test_rescope_token expects)."""
    root = post_token(keystone.main, {"auth": {"identity": {"methods": ["external"]},
                                               "scope": "unscoped"}}, user="alice"
                      ).headers["X-Subject-Token"]
    middle = post_token(keystone.main, token_auth(root, "demo")).headers["X-Subject-Token"]
    leaf = post_token(keystone.main, token_auth(middle)).headers["X-Subject-Token"]
    deeper = post_token(keystone.main, token_auth(leaf)).headers["X-Subject-Token"]
    other = issue(keystone.main, "alice", "demo")  # another chain of the same user
    validate(keystone.admin, deeper)

    if revoke_with == "v3":
        keystone.admin.delete("/v3/auth/tokens", headers=subject_headers(middle), status=204)
    else:
        keystone.admin.delete(f"/v2.0/tokens/{middle}", headers=admin_headers(), status=204)

    for token in (middle, leaf, deeper):
        assert_dead(keystone.admin, keystone.main, token)
    for token in (root, other):
        validate(keystone.admin, token)
    post_token(keystone.main, token_auth(root, "demo"))


def test_deleting_a_deep_rescope_kills_its_branch_but_not_the_root(keystone):
    """R → T → U: DELETE U kills U, and T with it (U's branch began at T: a token knows its
    branch, not its parent); R lives on."""
    root = issue(keystone.main, "alice", "demo")
    middle = post_token(keystone.main, token_auth(root)).headers["X-Subject-Token"]
    leaf = post_token(keystone.main, token_auth(middle)).headers["X-Subject-Token"]

    keystone.admin.delete("/v3/auth/tokens", headers=subject_headers(leaf), status=204)

    for token in (leaf, middle):
        assert_dead(keystone.admin, keystone.main, token)
    validate(keystone.admin, root)


def test_deleting_the_root_kills_every_token_rescoped_from_it(keystone):
    root = issue(keystone.main, "alice", "demo")
    middle = post_token(keystone.main, token_auth(root)).headers["X-Subject-Token"]
    leaf = post_token(keystone.main, token_auth(middle)).headers["X-Subject-Token"]

    keystone.admin.delete("/v3/auth/tokens", headers=subject_headers(root), status=204)

    for token in (root, middle, leaf):
        assert_dead(keystone.admin, keystone.main, token)


# -- upgrade: tokens made before revisions ---------------------------------------------------------

def version_1_token(deployment, provider: str, user_id: str, scope_id: str, issued_at: int
                    ) -> str:
    """A project-scoped token as the code before payload version 2 made it (external method)."""
    data = msgpack.packb([1, 0b010, bytes.fromhex(user_id), 1, bytes.fromhex(scope_id),
                          issued_at, issued_at + 3600 * 1_000_000,
                          [uuid.uuid4().bytes]])
    if provider == "fernet":
        keys = deployment.services().settings.key_repository
        with open(os.path.join(keys, max(os.listdir(keys), key=int)), "rb") as handle:
            primary = Fernet(handle.read().strip())
        return primary.encrypt_at_time(data, issued_at // 1_000_000).rstrip(b"=").decode()
    token_id = uuid.uuid4().hex
    in_store(deployment, lambda session: session.add(models.Token(
        id=token_id, user_id=user_id, expires_at=issued_at + 3600 * 1_000_000, payload=data)))
    return token_id


def test_a_version_1_token_validates_until_the_next_change(keystone, provider):
    alice, demo = alice_id(keystone), project_id(keystone, "demo")
    token = version_1_token(keystone, provider, alice, demo, now_us())
    body = validate(keystone.admin, token).json["token"]
    assert (body["user"]["id"], body["project"]["id"]) == (alice, demo)

    patch(keystone, "users", alice, {"password": NEW_PASSWORD})

    assert_dead(keystone.admin, keystone.main, token)


def test_revocation_events_recorded_before_the_upgrade_still_kill_version_1_tokens(
        keystone, provider):
    """A user disabled and re-enabled before the upgrade left a "user" event and no revision
    change: the version-1 tokens it killed stay dead, later ones live."""
    alice, demo = alice_id(keystone), project_id(keystone, "demo")
    now = now_us()
    before = version_1_token(keystone, provider, alice, demo, now - 20_000_000)
    after = version_1_token(keystone, provider, alice, demo, now - 5_000_000)
    in_store(keystone, lambda session: session.add(models.RevocationEvent(
        kind="user", key=alice, revoked_at=now - 10_000_000, expires_at=now + 3600_000_000)))

    validate(keystone.admin, before, status=404)
    validate(keystone.admin, after)
