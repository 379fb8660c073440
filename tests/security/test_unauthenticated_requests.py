"""Before authentication nothing a client names is looked up or remembered (issue 10, findings 6
and 9): an unauthenticated request leaves no memory behind, and an existing and a missing
project name take the same path, the password hash included."""
from __future__ import annotations

import gc
import statistics
import time
import tracemalloc

from builders import ADMIN_PASSWORD, add_user, assert_keystone_error, password_auth, post_token
from keystone_lite.identity.passwords import PasswordHasher

# A name of ~100 KB: what a body under max_request_body_size (114688) can carry.
BIG = 100_000
REQUESTS = 120


def big_name(number: int) -> str:
    return f"{number:08d}" + "x" * BIG


def retained_bytes(work) -> int:
    """Python memory still allocated after ``work()`` than before it (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def cache_bytes(deployment) -> int:
    return deployment.services().cache_budget.used


class CountingHasher(PasswordHasher):
    """The real hasher, counting the hashes it checks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.checked = 0

    def verify(self, password_hash, password):
        self.checked += 1
        return super().verify(password_hash, password)


def counting_hasher(deployment) -> CountingHasher:
    """Put a CountingHasher with the deployment's costs in place of its hasher."""
    built = deployment.services()
    hasher = CountingHasher(built.settings.argon2_time_cost, built.settings.argon2_memory_cost)
    object.__setattr__(built, "passwords", hasher)  # Services is frozen: built once, at start-up
    return hasher


def warm_up(deployment) -> None:
    """One request of each kind, so that what is built on first use is built."""
    post_token(deployment.main, password_auth("admin", "wrong", "admin"), status=401)
    post_token(deployment.main, password_auth("admin", ADMIN_PASSWORD, "admin"))


def test_unauthenticated_requests_naming_large_distinct_projects_leave_nothing_behind(
        deployment):
    warm_up(deployment)
    cached_before = cache_bytes(deployment)

    def anonymous_requests():
        for number in range(REQUESTS):
            # A wrong password, and no credentials at all (no certificate, no method).
            post_token(deployment.main, password_auth("admin", "wrong", big_name(number)),
                       status=401)
            body = {"auth": {"identity": {"methods": []}, "scope": {"project": {
                "name": big_name(-number - 1), "domain": {"id": "default"}}}}}
            post_token(deployment.main, body, status=401)

    retained = retained_bytes(anonymous_requests)

    # 240 names of 100 KB: 24 MB if any were remembered.
    assert retained < 2_000_000, retained
    assert cache_bytes(deployment) <= cached_before


def test_unauthenticated_requests_naming_large_distinct_user_domains_leave_nothing_behind(
        deployment):
    warm_up(deployment)
    cached_before = cache_bytes(deployment)

    def anonymous_requests():
        for number in range(REQUESTS):
            body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": big_name(number)}, "password": "x"}}}}}
            post_token(deployment.main, body, status=401)

    retained = retained_bytes(anonymous_requests)

    assert retained < 2_000_000, retained
    assert cache_bytes(deployment) <= cached_before


def test_missing_project_names_of_an_authenticated_user_are_not_remembered(deployment):
    add_user(deployment, "alice", "demo", "member", password="alice-pw")
    post_token(deployment.main, password_auth("alice", "alice-pw", "demo"))
    cached_before = cache_bytes(deployment)

    def requests():
        for number in range(REQUESTS):
            post_token(deployment.main, password_auth("alice", "alice-pw", big_name(number)),
                       status=401)

    retained = retained_bytes(requests)

    assert retained < 2_000_000, retained
    assert cache_bytes(deployment) <= cached_before


def test_wrong_password_runs_the_hash_for_existing_and_missing_project_names_alike(deployment):
    hasher = counting_hasher(deployment)
    answers = {}
    for project in ("admin", "no-such-project"):
        before = hasher.checked
        response = post_token(deployment.main, password_auth("admin", "wrong", project),
                              status=401)
        answers[project] = (hasher.checked - before, response.json)

    assert answers["admin"] == answers["no-such-project"]
    assert answers["admin"][0] == 1
    assert_keystone_error(response, 401)


def test_wrong_password_takes_as_long_for_existing_and_missing_project_names(make_deployment):
    # Costs high enough that the hash (~25 ms) dwarfs a lookup; still cheap for a test. The
    # user is made under them: a hash keeps the costs it was made with (the bootstrap admin's
    # are the suite's cheap ones).
    deployment = make_deployment({"identity": {"argon2_time_cost": "2",
                                               "argon2_memory_cost": "16384"}})
    add_user(deployment, "carol", "demo", "member", password="carol-pw")
    bodies = {name: password_auth("carol", "wrong", name)
              for name in ("demo", "no-such-project")}
    post_token(deployment.main, bodies["demo"], status=401)
    timings = {name: [] for name in bodies}
    for _ in range(7):
        for name, body in bodies.items():
            started = time.perf_counter()
            post_token(deployment.main, body, status=401)
            timings[name].append(time.perf_counter() - started)

    ratio = statistics.median(timings["no-such-project"]) / statistics.median(timings["demo"])
    assert 0.5 < ratio < 2, timings
