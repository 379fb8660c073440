"""Password guessing is bounded (issue 10, finding 10): an account locks after
``[security_compliance] lockout_failure_attempts`` consecutive failures for ``lockout_duration``
seconds, answering exactly as a wrong password does; ``ignore_lockout_failure_attempts`` exempts
a user; the failure count moves no change counter; and password hashing runs at most
``[identity] max_concurrent_password_hashes`` at a time, then answers 503 with Retry-After."""
from __future__ import annotations

import threading
import time

from sqlalchemy import select

from builders import (ADMIN_PASSWORD, add_user, admin_headers, assert_keystone_error,
                      password_auth, post_token)
from keystone_lite import settings as settings_module
from keystone_lite.db import models
from keystone_lite.identity.passwords import PasswordHasher

ATTEMPTS = 3
LOCKOUT = {"security_compliance": {"lockout_failure_attempts": str(ATTEMPTS),
                                   "lockout_duration": "2"}}


def login(deployment, password: str, status: int, user: str = "carol"):
    return post_token(deployment.main, password_auth(user, password), status=status)


def fail(deployment, times: int, user: str = "carol") -> dict:
    for _ in range(times):
        body = login(deployment, "wrong", 401, user).json
    return body


def counter_value(deployment) -> int:
    return deployment.services().tokens.counter.read()[1]


def failure_row(deployment, user_name: str):
    with deployment.services().transaction() as session:
        user = session.scalar(select(models.User).where(models.User.name == user_name))
        row = session.get(models.LoginFailure, user.id)
        return None if row is None else (row.failures, row.last_failure_at)


# -- lockout ----------------------------------------------------------------------------------

def test_lockout_is_on_by_default(tmp_path):
    path = tmp_path / "keystone-lite.conf"
    path.write_text("")
    loaded = settings_module.load(str(path))
    assert 0 < loaded.lockout_failure_attempts <= 10
    assert loaded.lockout_duration > 0


def test_account_locks_after_the_failures_and_refuses_the_right_password_alike(make_deployment):
    deployment = make_deployment(LOCKOUT)
    add_user(deployment, "carol", password="carol-pw")
    wrong = fail(deployment, ATTEMPTS)

    locked = login(deployment, "carol-pw", 401)
    unknown_user = login(deployment, "wrong", 401, user="nobody")

    assert locked.json == wrong == unknown_user.json
    assert locked.headers["WWW-Authenticate"] == unknown_user.headers["WWW-Authenticate"]
    assert_keystone_error(locked, 401)


def test_fewer_failures_than_the_limit_do_not_lock(make_deployment):
    deployment = make_deployment(LOCKOUT)
    add_user(deployment, "carol", password="carol-pw")
    fail(deployment, ATTEMPTS - 1)

    login(deployment, "carol-pw", 201)


def test_success_resets_the_failure_count(make_deployment):
    deployment = make_deployment(LOCKOUT)
    add_user(deployment, "carol", password="carol-pw")
    fail(deployment, ATTEMPTS - 1)
    login(deployment, "carol-pw", 201)
    fail(deployment, ATTEMPTS - 1)

    login(deployment, "carol-pw", 201)


def test_lock_ends_after_the_duration(make_deployment):
    deployment = make_deployment(LOCKOUT)
    add_user(deployment, "carol", password="carol-pw")
    fail(deployment, ATTEMPTS)
    login(deployment, "carol-pw", 401)

    time.sleep(2.1)

    login(deployment, "carol-pw", 201)


def test_attempts_while_locked_do_not_extend_the_lock(make_deployment):
    # Keystone's semantics: the lock lasts lockout_duration from the failure that set it.
    deployment = make_deployment(LOCKOUT)
    add_user(deployment, "carol", password="carol-pw")
    fail(deployment, ATTEMPTS)
    time.sleep(1.2)
    fail(deployment, 2)

    time.sleep(1.0)

    login(deployment, "carol-pw", 201)


def test_v2_password_failures_count_towards_the_same_lock(make_deployment):
    deployment = make_deployment(LOCKOUT)
    add_user(deployment, "carol", password="carol-pw")
    for _ in range(ATTEMPTS):
        deployment.main.post_json("/v2.0/tokens", {"auth": {"passwordCredentials": {
            "username": "carol", "password": "wrong"}}}, status=401)

    login(deployment, "carol-pw", 401)


def test_a_locked_account_still_runs_the_hash(make_deployment):
    deployment = make_deployment(LOCKOUT)
    add_user(deployment, "carol", password="carol-pw")
    fail(deployment, ATTEMPTS)
    hasher = CountingHasher(1, 1024)
    object.__setattr__(deployment.services(), "passwords", hasher)

    login(deployment, "carol-pw", 401)

    assert hasher.checked == 1


def test_failures_move_no_change_counter_and_outlive_the_failed_request(make_deployment):
    deployment = make_deployment(LOCKOUT)
    add_user(deployment, "carol", password="carol-pw")
    before = counter_value(deployment)

    fail(deployment, 2)

    assert counter_value(deployment) == before  # no node's caches were emptied
    failures, last_failure_at = failure_row(deployment, "carol")  # the 401 rolled back the rest
    assert failures == 2
    assert abs(last_failure_at / 1e6 - time.time()) < 60


def test_a_successful_login_with_failures_behind_it_moves_no_change_counter(make_deployment):
    deployment = make_deployment(LOCKOUT)
    add_user(deployment, "carol", password="carol-pw")
    fail(deployment, 1)
    before = counter_value(deployment)

    login(deployment, "carol-pw", 201)

    assert counter_value(deployment) == before
    assert failure_row(deployment, "carol") is None


def test_success_after_failures_with_the_uuid_provider_issues_a_token(make_deployment):
    # The count is emptied in a transaction of its own, before the token row is written.
    deployment = make_deployment({**LOCKOUT, "token": {"provider": "uuid"}})
    add_user(deployment, "carol", password="carol-pw")
    fail(deployment, ATTEMPTS - 1)

    token = login(deployment, "carol-pw", 201).headers["X-Subject-Token"]

    deployment.admin.get("/v3/auth/tokens", headers={**admin_headers(token)})
    assert failure_row(deployment, "carol") is None


def test_ignore_lockout_failure_attempts_exempts_a_user(make_deployment):
    deployment = make_deployment(LOCKOUT)
    created = deployment.admin.post_json("/v3/users", {"user": {
        "name": "svc", "password": "svc-pw",
        "options": {"ignore_lockout_failure_attempts": True}}},
        headers=admin_headers(), status=201).json["user"]
    assert created["options"] == {"ignore_lockout_failure_attempts": True}
    shown = deployment.admin.get(f"/v3/users/{created['id']}", headers=admin_headers()).json
    assert shown["user"]["options"] == {"ignore_lockout_failure_attempts": True}

    fail(deployment, ATTEMPTS * 2, user="svc")

    login(deployment, "svc-pw", 201, user="svc")


def test_options_set_and_removed_by_update(make_deployment):
    deployment = make_deployment(LOCKOUT)
    add_user(deployment, "carol", password="carol-pw")
    (user,) = deployment.admin.get("/v3/users?name=carol", headers=admin_headers()
                                   ).json["users"]
    assert user["options"] == {}
    url = f"/v3/users/{user['id']}"

    updated = deployment.admin.patch_json(url, {"user": {"options": {
        "ignore_lockout_failure_attempts": True}}}, headers=admin_headers()).json["user"]
    assert updated["options"] == {"ignore_lockout_failure_attempts": True}
    fail(deployment, ATTEMPTS)
    login(deployment, "carol-pw", 201)

    # As Keystone: null removes the option.
    cleared = deployment.admin.patch_json(url, {"user": {"options": {
        "ignore_lockout_failure_attempts": None}}}, headers=admin_headers()).json["user"]
    assert cleared["options"] == {}
    fail(deployment, ATTEMPTS)
    login(deployment, "carol-pw", 401)


def test_unknown_or_malformed_user_options_are_400(make_deployment):
    deployment = make_deployment(LOCKOUT)
    for options in ({"no_such_option": True}, {"ignore_lockout_failure_attempts": "yes"},
                    ["ignore_lockout_failure_attempts"]):
        response = deployment.admin.post_json("/v3/users", {"user": {
            "name": "svc", "options": options}}, headers=admin_headers(), status=400)
        assert_keystone_error(response, 400)


def test_enabling_or_a_new_password_unlocks_the_account(make_deployment):
    deployment = make_deployment(LOCKOUT)
    add_user(deployment, "carol", password="carol-pw")
    (user,) = deployment.admin.get("/v3/users?name=carol", headers=admin_headers()
                                   ).json["users"]
    url = f"/v3/users/{user['id']}"
    fail(deployment, ATTEMPTS)

    deployment.admin.patch_json(url, {"user": {"password": "new-pw"}}, headers=admin_headers())
    login(deployment, "new-pw", 201)

    fail(deployment, ATTEMPTS)
    deployment.admin.patch_json(url, {"user": {"enabled": False}}, headers=admin_headers())
    deployment.admin.patch_json(url, {"user": {"enabled": True}}, headers=admin_headers())
    login(deployment, "new-pw", 201)


def test_lockout_can_be_switched_off(make_deployment):
    deployment = make_deployment({"security_compliance": {"lockout_failure_attempts": "0"}})
    add_user(deployment, "carol", password="carol-pw")
    fail(deployment, 8)

    login(deployment, "carol-pw", 201)


# -- bounded hashing --------------------------------------------------------------------------

class CountingHasher(PasswordHasher):
    """The real hasher, counting the hashes it checks and how many run at once."""

    def __init__(self, *args, hold: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.hold = hold
        self.checked = 0
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def _check(self, password_hash, password):
        with self._lock:
            self.checked += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.hold)  # long enough that the requests overlap
            return super()._check(password_hash, password)
        finally:
            with self._lock:
                self.running -= 1


def test_saturated_password_hashing_answers_503_with_retry_after(make_deployment):
    deployment = make_deployment({"identity": {"max_concurrent_password_hashes": "1",
                                               "password_hash_wait": "0.05"}})
    hasher = deployment.services().passwords

    with hasher.slot():  # every slot taken: another password check cannot start
        busy = post_token(deployment.main, password_auth("admin", ADMIN_PASSWORD, "admin"),
                          status=503)

    error = assert_keystone_error(busy, 503)
    assert ADMIN_PASSWORD not in busy.text and "argon2" not in error["message"]
    assert int(busy.headers["Retry-After"]) >= 1
    post_token(deployment.main, password_auth("admin", ADMIN_PASSWORD, "admin"))


def parallel_wrong_passwords(deployment, user: str, count: int) -> list:
    """``count`` password logins of ``user`` with wrong passwords, all at once: their responses."""
    responses = []

    def attempt(number):
        responses.append(deployment.main.post_json(
            "/v3/auth/tokens", password_auth(user, f"wrong-{number}"), expect_errors=True))

    threads = [threading.Thread(target=attempt, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def test_concurrent_password_checks_never_exceed_the_limit(make_deployment):
    deployment = make_deployment({"identity": {"max_concurrent_password_hashes": "2",
                                               "password_hash_wait": "30"}})
    hasher = CountingHasher(1, 1024, max_concurrent=2, wait=30, hold=0.2)
    object.__setattr__(deployment.services(), "passwords", hasher)
    statuses = [response.status_int for response in
                parallel_wrong_passwords(deployment, "admin", 8)]

    assert statuses == [401] * 8  # everyone waited for a slot; nobody was refused
    assert hasher.checked == 8
    assert hasher.most_at_once == 2


def test_password_checks_beyond_the_wait_are_refused_not_queued_forever(make_deployment):
    deployment = make_deployment(LOCKOUT)
    hasher = CountingHasher(1, 1024, max_concurrent=1, wait=0.01, hold=0.5)
    object.__setattr__(deployment.services(), "passwords", hasher)
    responses = parallel_wrong_passwords(deployment, "admin", 6)
    statuses = [response.status_int for response in responses]

    assert all(response.headers["Retry-After"] for response in responses
               if response.status_int == 503)
    assert 503 in statuses and 401 in statuses and set(statuses) == {401, 503}
    assert hasher.most_at_once == 1


def test_parallel_failed_logins_do_not_starve_the_connection_pool(make_deployment):
    # More requests than the pool has connections (5 + 10 overflow), each failing: waiting for
    # a hashing slot or writing its failure must not hold a connection while needing another.
    deployment = make_deployment({**LOCKOUT, "identity": {
        "max_concurrent_password_hashes": "2", "password_hash_wait": "30"}})
    hasher = CountingHasher(1, 1024, max_concurrent=2, wait=30, hold=0.02)
    object.__setattr__(deployment.services(), "passwords", hasher)
    add_user(deployment, "carol", password="carol-pw")
    started = time.monotonic()
    statuses = [response.status_int for response in
                parallel_wrong_passwords(deployment, "carol", 24)]

    assert statuses == [401] * 24
    assert time.monotonic() - started < 10  # the pool's timeout is 30 s
    assert failure_row(deployment, "carol")[0] >= ATTEMPTS
