"""``GET /healthcheck`` on both apps: can this process serve tokens now? For load balancers.

The answer has oslo.middleware's healthcheck shape (what operators' probes of other OpenStack
services already expect): 200 ``OK`` as text/plain, or 503 with one reason a line; with
``Accept: application/json`` the same as ``{"detailed": false, "reasons": [...]}``; HEAD is 204
or 503 without a body. No authentication and no secret: the reasons are fixed phrases, the
details (paths, the driver's message) go to the log, once per change of state.

The checks are the two reads every validation makes anyway (the database change counter, on its
own connection, and a ``stat`` of the token keys), and their result is kept for
``CACHE_SECONDS``: a probe every second from several balancers costs at most one round of them
a second, and never a token, a password hash or a transaction. ``run_checks`` is shared with
``keystone-lite-manage doctor``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time

import webob

from keystone_lite import errors, services as services_module
from keystone_lite.router import Router, outside_transaction
from keystone_lite.token.key_repository import KeyRepositoryError

LOG = logging.getLogger(__name__)

CACHE_SECONDS = 1.0
DATABASE_UNREACHABLE = "database unreachable"
KEYS_UNREADABLE = "key repository unreadable"
_OFFERS = ("text/plain", "application/json")


@dataclasses.dataclass(frozen=True)
class Check:
    """One check's outcome: ``reason`` is a fixed phrase for clients, ``detail`` for the log."""

    name: str
    ok: bool
    reason: str = "OK"
    detail: str = ""


def check_database(counter) -> Check:
    """``counter``: the CounterReader (db.session) whose one-row read every request makes."""
    try:
        counter.read()
    except errors.KeystoneError as failure:
        return Check("database", False, DATABASE_UNREACHABLE,
                     getattr(failure, "detail", "") or failure.message)
    return Check("database", True)


def check_token_keys(provider) -> Check:
    """The token keys as the provider sees them (re-read when they changed); always OK for
    uuid tokens, which need no keys."""
    try:
        provider.refresh_keys()
    except KeyRepositoryError as failure:
        return Check("token keys", False, KEYS_UNREADABLE, str(failure))
    return Check("token keys", True)


def run_checks(services) -> list[Check]:
    return [check_database(services.tokens.counter), check_token_keys(services.tokens.provider)]


class HealthCheck:
    """The checks' latest results, refreshed at most every ``CACHE_SECONDS`` by one caller."""

    def __init__(self, services, cache_seconds: float | None = None, clock=time.monotonic):
        self.services, self.clock = services, clock
        self.cache_seconds = CACHE_SECONDS if cache_seconds is None else cache_seconds
        self._lock = threading.Lock()
        self._results: list[Check] | None = None
        self._taken_at = 0.0

    def results(self) -> list[Check]:
        with self._lock:
            now = self.clock()
            if self._results is None or now - self._taken_at >= self.cache_seconds:
                results = run_checks(self.services)
                self._log_changes(results)
                self._results, self._taken_at = results, now
            return self._results

    def _log_changes(self, results: list[Check]) -> None:
        before = {check.name: check.ok for check in self._results or ()}
        for check in results:
            if not check.ok and before.get(check.name, True):
                LOG.error("healthcheck: %s: %s (%s)", check.name, check.reason, check.detail)
            elif check.ok and before.get(check.name) is False:
                LOG.info("healthcheck: %s: OK again", check.name)

    @outside_transaction
    def respond(self, req) -> webob.Response:
        results = self.results()
        failed = [check.reason for check in results if not check.ok]
        healthy = not failed
        reasons = failed or ["OK"]
        if req.method == "HEAD":
            return webob.Response(status=204 if healthy else 503, content_type="text/plain",
                                  charset="UTF-8")
        offers = req.accept.acceptable_offers(_OFFERS)
        if offers and offers[0][0] == "application/json":
            # As oslo.middleware: indented, sorted keys.
            body = json.dumps({"detailed": False, "reasons": reasons}, indent=4, sort_keys=True)
            content_type = "application/json"
        else:
            body, content_type = "\n".join(reasons), "text/plain"
        response = webob.Response(status=200 if healthy else 503, body=body.encode(),
                                  content_type=content_type, charset="UTF-8")
        response.cache_control = "no-store"  # a cache in between must not hide an outage
        return response


def app_factory(global_conf, **local_conf):
    """The ``/healthcheck`` app of etc/keystone-lite-paste.ini (mounted in both urlmaps)."""
    check = HealthCheck(services_module.for_paste(global_conf))
    return Router(None, [(r"/", {"GET": check.respond})])
