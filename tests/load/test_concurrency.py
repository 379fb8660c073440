"""Concurrency: many threads issuing, validating and revoking against the paste-loaded apps.

Runs on the run's database backend (SQLite by default, PostgreSQL with
KEYSTONE_LITE_TEST_DATABASE_URL). Each thread has its own WebTest client around the same WSGI
apps and its own certificate user, so every request is the thread's own. The promises checked:
no 5xx at all, no lost revocation (every revoked token is 404 afterwards, on every path), no
token ever validated as somebody else's, and a key rotation during the load fails no valid
token. Every test is bounded by a deadline and an iteration cap; the request and error counts
are printed at the end of the run (``load_report``, conftest.py here) and put into assertion
messages.
"""
from __future__ import annotations

import collections
import dataclasses
import os
import threading
import time

import pytest
import webtest

from builders import add_user, cert_environ, external_auth, subject_headers
from keystone_lite.cli import manage

THREADS = 8
#: Seconds a load phase runs (each test runs one or two phases, plus set-up).
PHASE_SECONDS = 4.0
#: Most iterations a thread runs in one phase, whatever the machine's speed.
MAX_ITERATIONS = 400


@dataclasses.dataclass
class Tally:
    """Requests and unexpected outcomes of one test, shared by its threads."""

    name: str
    report: list
    requests: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    problems: list = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def count(self, response: webtest.TestResponse, what: str) -> None:
        with self.lock:
            self.requests[f"{what} {response.status_int}"] += 1
            if response.status_int >= 500:
                self.problems.append(f"{what}: {response.status} {response.text[:200]}")

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def server_errors(self) -> int:
        return sum(count for key, count in self.requests.items() if key.split()[-1] >= "500")

    def summary(self) -> str:
        statuses = ", ".join(f"{key}: {count}" for key, count in sorted(self.requests.items()))
        return (f"{self.name}: {self.total} requests, {self.server_errors()} 5xx, "
                f"{len(self.problems)} problems ({statuses})")

    def check(self) -> None:
        self.report.append(self.summary())
        assert not self.problems, self.summary() + "\n" + "\n".join(self.problems[:20])
        assert self.server_errors() == 0, self.summary()


class Client:
    """One thread's own WebTest clients for the deployment's main and admin apps."""

    def __init__(self, deployment, user: str, tally: Tally):
        self.main = webtest.TestApp(deployment.main.app)
        self.admin = webtest.TestApp(deployment.admin.app)
        self.user = user
        self.tally = tally

    def issue(self, project: str | None = "demo") -> str | None:
        response = self.main.post_json("/v3/auth/tokens", external_auth(project),
                                       extra_environ=cert_environ(self.user), status="*")
        self.tally.count(response, "issue")
        if response.status_int != 201:
            self.tally.problem(f"{self.user}: issue answered {response.status}")
            return None
        return response.headers["X-Subject-Token"]

    def validate(self, token: str) -> webtest.TestResponse:
        response = self.admin.get("/v3/auth/tokens", headers=subject_headers(token), status="*")
        self.tally.count(response, "validate")
        return response

    def head(self, token: str) -> webtest.TestResponse:
        response = self.admin.head("/v3/auth/tokens", headers=subject_headers(token),
                                   status="*")
        self.tally.count(response, "head")
        return response

    def revoke(self, token: str) -> webtest.TestResponse:
        response = self.admin.delete("/v3/auth/tokens", headers=subject_headers(token),
                                     status="*")
        self.tally.count(response, "revoke")
        return response

    def expect_owner(self, token: str, owner: str, response=None) -> None:
        """The token validates (200) as ``owner``'s."""
        response = response or self.validate(token)
        if response.status_int != 200:
            self.tally.problem(f"{owner}'s live token answered {response.status}")
            return
        name = response.json["token"]["user"]["name"]
        if name != owner:
            self.tally.problem(f"{owner}'s token validated as {name!r}'s")

    def expect_revoked(self, token: str, owner: str) -> None:
        for response in (self.validate(token), self.head(token)):
            if response.status_int != 404:
                self.tally.problem(f"{owner}'s revoked token answered {response.status}")


def run_threads(target, count: int = THREADS, deadline_seconds: float = PHASE_SECONDS * 4):
    """Run ``target(index)`` in ``count`` threads; fail if one is still running at the end."""
    errors = []

    def guarded(index):
        try:
            target(index)
        except Exception as exc:  # noqa: BLE001 - reported below with the thread's index
            errors.append(f"thread {index}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=guarded, args=(index,), daemon=True)
               for index in range(count)]
    for thread in threads:
        thread.start()
    limit = time.monotonic() + deadline_seconds
    for thread in threads:
        thread.join(max(limit - time.monotonic(), 0.1))
    assert not [thread for thread in threads if thread.is_alive()], "load threads hung"
    assert not errors, "\n".join(errors)


def users(deployment, count: int = THREADS) -> list[str]:
    names = [f"user{index}" for index in range(count)]
    for name in names:
        add_user(deployment, name, "demo", "member")
    return names


def loop(seconds: float = PHASE_SECONDS, iterations: int = MAX_ITERATIONS):
    """Iteration numbers until the deadline or the cap, whichever comes first."""
    deadline = time.monotonic() + seconds
    for iteration in range(iterations):
        if time.monotonic() >= deadline:
            return
        yield iteration


# -- issue / validate / revoke ------------------------------------------------------------------

@pytest.mark.parametrize("provider", ["fernet", "uuid"])
def test_threads_issuing_validating_and_revoking_see_no_5xx_no_lost_revocation_no_mixup(
        make_deployment, load_report, provider):
    deployment = make_deployment({"token": {"provider": provider}})
    names = users(deployment)
    tally = Tally(f"issue/validate/revoke ({provider}, {THREADS} threads)", load_report)
    live: dict[str, str] = {}  # token -> owner
    revoked: dict[str, str] = {}
    book = threading.Lock()

    def work(index):
        client = Client(deployment, names[index], tally)
        neighbour = names[(index + 1) % len(names)]
        for iteration in loop():
            token = client.issue()
            if token is None:
                continue
            client.expect_owner(token, client.user)
            if iteration % 3 == 0:
                status = client.revoke(token).status_int
                if status != 204:
                    tally.problem(f"{client.user}: revoking a live token answered {status}")
                client.expect_revoked(token, client.user)
                with book:
                    revoked[token] = client.user
            else:
                with book:
                    live[token] = client.user
            # Somebody else's token, fetched while its owner keeps working.
            with book:
                others = [(t, owner) for t, owner in list(live.items())[-8:]
                          if owner == neighbour]
            for other, owner in others[-1:]:
                response = client.validate(other)
                if response.status_int == 200:
                    client.expect_owner(other, owner, response)
                elif other not in revoked:
                    tally.problem(f"{owner}'s token answered {response.status} to another")

    run_threads(work)

    # Afterwards, from a fresh client: every revoked token is dead, every other one alive and
    # still its owner's.
    checker = Client(deployment, "admin", tally)
    for token, owner in revoked.items():
        checker.expect_revoked(token, owner)
    for token, owner in live.items():
        checker.expect_owner(token, owner)
    assert len(revoked) >= THREADS and len(live) >= THREADS, tally.summary()
    tally.check()


def test_the_same_token_revoked_by_many_threads_at_once_is_204_then_404_never_an_error(
        make_deployment, load_report):
    """Racing DELETEs of one token (and of the user's tokens) insert the same revocation row:
    the losers must see 204 or 404, not 409 (unique violation) or 5xx."""
    deployment = make_deployment()
    (name,) = users(deployment, 1)
    tally = Tally(f"racing revocations ({THREADS} threads)", load_report)
    client = Client(deployment, name, tally)
    rounds = []
    for _ in loop(PHASE_SECONDS / 2, 40):
        rounds.append(client.issue())
    barrier = threading.Barrier(THREADS)

    def work(index):
        racer = Client(deployment, name, tally)
        for token in rounds:
            try:
                barrier.wait(timeout=10)
            except threading.BrokenBarrierError:
                tally.problem(f"thread {index}: barrier broken")
                return
            status = racer.revoke(token).status_int
            if status not in (204, 404):
                tally.problem(f"racing revocation answered {status}")

    run_threads(work)
    for token in rounds:
        client.expect_revoked(token, name)
    assert tally.requests["revoke 204"] >= len(rounds), tally.summary()
    tally.check()


# -- key rotation under load --------------------------------------------------------------------

def test_fernet_rotate_during_load_fails_no_valid_token(make_deployment, load_report):
    # Four active keys: two rotations during the test never drop a key a live token needs.
    deployment = make_deployment({"fernet_tokens": {"max_active_keys": "4"}})
    names = users(deployment)
    tally = Tally(f"fernet_rotate under load ({THREADS} threads, 2 rotations)", load_report)
    issued: dict[str, str] = {}
    book = threading.Lock()
    stop = threading.Event()
    rotations = []

    def work(index):
        client = Client(deployment, names[index], tally)
        mine = []
        for _ in loop(PHASE_SECONDS * 2):
            if stop.is_set():
                break
            token = client.issue()
            if token is None:
                continue
            mine.append(token)
            with book:
                issued[token] = client.user
            client.expect_owner(token, client.user)
            # A token from before the latest rotation must still be good.
            client.expect_owner(mine[len(mine) // 2], client.user)

    def rotate():
        keys = os.path.join(deployment.data_dir, "fernet-keys")
        for _ in range(2):
            time.sleep(PHASE_SECONDS / 2)
            assert manage.main(["--config-file", deployment.config, "fernet_rotate"]) == 0
            rotations.append(sorted(os.listdir(keys)))
        time.sleep(PHASE_SECONDS / 2)
        stop.set()

    rotator = threading.Thread(target=rotate, daemon=True)
    rotator.start()
    try:
        run_threads(work)
    finally:
        stop.set()
        rotator.join(PHASE_SECONDS * 3)
    assert rotations == [["0", "1", "2"], ["0", "1", "2", "3"]], rotations

    checker = Client(deployment, "admin", tally)
    for token, owner in issued.items():
        checker.expect_owner(token, owner)
    tally.check()
