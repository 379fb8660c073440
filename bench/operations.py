"""The benchmarked operations, as the same WSGI calls for every target.

Both deployments hold the bootstrap ``admin`` (admin role on project ``admin``) and ``alice``
(member of project ``demo``). The caller of validations and revocations is a real admin token,
validated on every request as a service's token would be (never keystone_lite's shared-secret
``admin_token``); the subject is alice's project-scoped token.
"""
from __future__ import annotations

from driver import Operation, call

TOKENS = "/v3/auth/tokens"
ADMIN, ADMIN_PROJECT = "admin", "admin"
USER, USER_PROJECT = "alice", "demo"


def user_name(number: int) -> str:
    """The generated users (datagen.py, keystone_datagen.py): ``bench-user-N``..."""
    return f"bench-user-{number:07d}"


def project_name(number: int) -> str:
    """... each the member of ``bench-project-N`` with ``--own-projects``."""
    return f"bench-project-{number:07d}"


def external_auth(project: str) -> dict:
    """A project-scoped request for the user the web server names in REMOTE_USER."""
    return {"auth": {"identity": {"methods": ["external"], "external": {}},
                     "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}


def server_identity(user: str) -> dict:
    """What mod_ssl's ``SSLUserName`` leaves in the environ for a verified certificate."""
    return {"REMOTE_USER": user, "AUTH_TYPE": "SSL"}


def issue_token(app, user: str, project: str) -> str:
    reply = call(app, "POST", TOKENS, document=external_auth(project),
                 extra=server_identity(user), expect=201)
    return reply.headers["x-subject-token"]


def tokens(public) -> tuple[str, str]:
    """``(caller, subject)``: an admin token and alice's token."""
    return issue_token(public, ADMIN, ADMIN_PROJECT), issue_token(public, USER, USER_PROJECT)


class Issue(Operation):
    def __init__(self, public):
        self.public = public

    def __call__(self):
        issue_token(self.public, USER, USER_PROJECT)


class Validate(Operation):
    def __init__(self, admin, caller: str, subject: str, query: str = ""):
        self.admin = admin
        self.path = TOKENS + query
        self.headers = {"X-Auth-Token": caller, "X-Subject-Token": subject}

    def __call__(self):
        call(self.admin, "GET", self.path, headers=self.headers, expect=200)


class Revoke(Operation):
    """DELETE of tokens issued (untimed) by ``prepare``."""

    def __init__(self, public, admin, caller: str):
        self.public = public
        self.admin = admin
        self.caller = caller
        self.pending: list[str] = []

    def prepare(self, count: int) -> None:
        self.pending = [issue_token(self.public, USER, USER_PROJECT) for _ in range(count)]

    def __call__(self):
        call(self.admin, "DELETE", TOKENS, expect=204, headers={
            "X-Auth-Token": self.caller, "X-Subject-Token": self.pending.pop()})


def operations(public, admin) -> dict[str, Operation]:
    """Every operation, in the order they run (revocation last: it leaves events behind)."""
    caller, subject = tokens(public)
    return {
        "issue": Issue(public),
        "validate": Validate(admin, caller, subject),
        "validate_nocatalog": Validate(admin, caller, subject, "?nocatalog"),
        "revoke": Revoke(public, admin, caller),
    }


_connections: list = []  # sqlite3 connections cannot be weakly referenced
_tracer = None  # the trace callback while statements_per_call runs


def trace_statements() -> None:
    """Remember every SQLite connection opened from now on, so that ``statements_per_call`` can
    have SQLite report what each runs: SQLite's own trace, so ORM, Core and raw driver use all
    count, for either product. Call it before the apps are built."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    def on_connect(dbapi_connection, _record):
        if hasattr(dbapi_connection, "set_trace_callback"):
            _connections.append(dbapi_connection)
            dbapi_connection.set_trace_callback(_tracer)

    event.listen(Pool, "connect", on_connect)


def statements_per_call(operation: Operation, count: int) -> tuple[float, list[str]]:
    """SQL statements the database receives per call (see ``trace_statements``), BEGIN and
    COMMIT included; the trace is on only while these calls run."""
    global _tracer
    operation.prepare(count)
    seen: list[str] = []

    def record(statement: str) -> None:
        seen.append(" ".join(statement.split()))

    _tracer = record
    _trace_open_connections(record)
    try:
        for _ in range(count):
            operation()
    finally:
        _tracer = None
        _trace_open_connections(None)
    return len(seen) / count, seen


def _trace_open_connections(callback) -> None:
    """Set the trace callback of every remembered connection, forgetting closed ones."""
    import sqlite3

    for connection in list(_connections):
        try:
            connection.set_trace_callback(callback)
        except sqlite3.ProgrammingError:  # closed since
            _connections.remove(connection)
