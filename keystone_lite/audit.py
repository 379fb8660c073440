"""Audit events: who authenticated (or failed to, and why), which tokens were issued and revoked,
and every change made through the admin identity API, as Keystone's CADF notifications.

Each event is one JSON line shaped as the message oslo.messaging sends for Keystone
(``event_type``, ``publisher_id``, ``priority``, ``timestamp``, ``message_id``, ``payload``), whose
``payload`` is the CADF event Keystone builds with pycadf: ``typeURI``, ``id``, ``eventTime``,
``eventType`` ``activity``, ``action`` (``authenticate``, ``created.user``, ...), ``outcome``,
``initiator`` (who, from where, with the request id), ``target``, ``observer`` and, for a
failure, ``reason``. ``[audit] destination`` sends the lines to a file (one ``write`` of an
O_APPEND descriptor per line: processes sharing the file never interleave lines), to the
Python log (logger ``keystone_lite.audit``), or nowhere.

An event never holds a token, password or key: tokens are named by their audit id, which
Keystone shows in token bodies for exactly this purpose. Validation is not an audited event (it
is not one in Keystone either): the validation path does no audit work at all.

Changes are written once their transaction is committed (``db.session.after_commit``); a
failed authentication is written at once, its transaction being rolled back.
"""
from __future__ import annotations

import datetime
import functools
import logging
import os
import socket
import uuid

from keystone_lite import errors, metrics
from keystone_lite.context import get_context
from keystone_lite.db.session import after_commit
from keystone_lite.router import json_bytes

LOG = logging.getLogger("keystone_lite.audit")
DESTINATIONS = ("log", "file", "none")

# Why an authentication failed: a bounded set, so that events can be counted by reason. The
# client never learns which (it gets a bare 401); the operator does.
NO_CERTIFICATE = "no_certificate"  # external login without a certificate the server verified
CERTIFICATE_REFUSED = "certificate_refused"  # untrusted issuer, unusable subject, CRL unknown
REVOKED_CERTIFICATE = "revoked_certificate"
NO_SUCH_DOMAIN = "no_such_domain"
NO_SUCH_USER = "no_such_user"
USER_DISABLED = "user_disabled"
BAD_PASSWORD = "bad_password"
LOCKED_OUT = "locked_out"
PASSWORD_EXPIRED = "password_expired"
INVALID_TOKEN = "invalid_token"  # the token method's token is unknown, expired or revoked
BAD_CREDENTIAL = "bad_credential"  # an application credential's secret, an EC2/S3 signature
IDENTITY_MISMATCH = "identity_mismatch"  # the methods name different users
NO_SUCH_SCOPE = "no_such_scope"
NO_ROLE_ON_SCOPE = "no_role_on_scope"  # or the scope (or user) is disabled
DELEGATION_REFUSED = "delegation_refused"  # 403: a trust, a delegated token, a rescope
OTHER = "other"
REASONS = frozenset((NO_CERTIFICATE, CERTIFICATE_REFUSED, REVOKED_CERTIFICATE, NO_SUCH_DOMAIN,
                     NO_SUCH_USER, USER_DISABLED, BAD_PASSWORD, LOCKED_OUT, PASSWORD_EXPIRED,
                     INVALID_TOKEN, BAD_CREDENTIAL, IDENTITY_MISMATCH, NO_SUCH_SCOPE,
                     NO_ROLE_ON_SCOPE, DELEGATION_REFUSED, OTHER))

CADF_EVENT = "http://schemas.dmtf.org/cloud/audit/1.0/event"
USER_URI = "service/security/account/user"
OBSERVER_URI = "service/security"
TOKEN_URI = "data/security/credential"
UNKNOWN = "unknown"
# The target typeURIs of Keystone's notifications (keystone.notifications.CADF_TYPE_MAP); other
# kinds are "unknown" there too.
TYPE_URIS = {
    "group": "data/security/group", "project": "data/security/project",
    "role": "data/security/role", "user": "data/security/account/user",
    "domain": "data/security/domain", "region": "data/security/region",
    "endpoint": "data/security/endpoint", "service": "data/security/service",
    "policy": "data/security/policy", "OS-TRUST:trust": "data/security/trust",
    "OS-OAUTH1:consumer": "data/security/account",
    "application_credential": "data/security/credential",
    "credential": "data/security/credential",
}
# keystone_lite's resource names that Keystone's events spell otherwise.
KEYSTONE_KINDS = {"trust": "OS-TRUST:trust", "consumer": "OS-OAUTH1:consumer"}
_TEXT_LIMIT = 255  # client-chosen text (a claimed user name, a user agent) is cut to this


def refused(reason: str, message: str | None = None) -> errors.Unauthorized:
    """A 401 carrying the audit ``reason`` (one of REASONS) of a failed authentication."""
    error = errors.Unauthorized(message)
    error.audit_reason = reason
    return error


def reason_of(error: errors.KeystoneError, default: str = OTHER) -> str:
    """The audit reason of a refused authentication (``refused``; a 403 is a delegation
    refused)."""
    return getattr(error, "audit_reason", None) or (
        DELEGATION_REFUSED if error.code == 403 else default)


class FileSink:
    """Appends a request's lines with one write() on an O_APPEND descriptor, opened each time
    so that log rotation (a rename) needs no signal: processes sharing the file never tear or
    interleave a line."""

    def __init__(self, path: str):
        self.path = path

    def check(self) -> None:
        """Create the file (mode 0600) or raise OSError, at start-up."""
        os.close(self._open())

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def write(self, lines: list[bytes]) -> None:
        data = b"".join(line + b"\n" for line in lines)  # one write: the lines stay together
        descriptor = self._open()
        try:
            written = os.write(descriptor, data)
        finally:
            os.close(descriptor)
        if written != len(data):  # a full disk: say so rather than leave half a line unnoticed
            raise OSError(f"short write ({written} of {len(data)} bytes)")


class LogSink:
    def write(self, lines: list[bytes]) -> None:
        for line in lines:
            LOG.info("%s", line.decode())


class Auditor:
    """Builds and writes the events; ``enabled`` is False for ``destination = none``, and for
    ``log`` while the ``keystone_lite.audit`` logger would drop INFO (nothing is built then)."""

    def __init__(self, destination: str = "none", path: str | None = None):
        self.sink = FileSink(path) if destination == "file" else \
            LogSink() if destination == "log" else None
        self.publisher_id = f"identity.{socket.gethostname()}"

    @property
    def enabled(self) -> bool:
        if isinstance(self.sink, LogSink):
            return LOG.isEnabledFor(logging.INFO)
        return self.sink is not None

    # -- what the service calls ---------------------------------------------------------------

    def authentication_failed(self, environ: dict, error: errors.KeystoneError,
                              default: str = OTHER) -> None:
        """``identity.authenticate`` failure: the claimed user, the reason; written at once.
        Counted by reason in the metrics too, audited or not."""
        reason = reason_of(error, default)
        metrics.auth_failed(reason)
        if not self.enabled:
            return
        initiator = self._initiator(environ, claimed(get_context(environ)))
        self.write("identity.authenticate", self.event(
            "authenticate", "failure", initiator,
            {"typeURI": USER_URI, "id": initiator["id"]},
            reason={"reasonType": reason, "reasonCode": str(error.code)}))

    def authenticated(self, req, session, token) -> None:
        """``identity.authenticate`` success and ``identity.token.created``, after the commit."""
        if not self.enabled:
            return
        initiator = self._initiator(req.environ, _user_of(token))
        events = [
            ("identity.authenticate", self.event(
                "authenticate", "success", initiator, {"typeURI": USER_URI, "id": token.user.id},
                methods=list(token.payload.methods))),
            ("identity.token.created", self.event(
                "created.token", "success", initiator, _token_target(token))),
        ]
        after_commit(session, functools.partial(self._write_all, events))

    def token_revoked(self, req, session, token) -> None:
        """``identity.token.deleted``: the caller revoked ``token``."""
        self.changed(req, session, "deleted", "token", target=_token_target(token))

    def changed(self, req, session, operation: str, kind: str, target_id: str | None = None,
                *, target: dict | None = None, who: dict | None = None, **attributes) -> None:
        """``identity.<kind>.<operation>`` (``created``, ``updated``, ``deleted``) made by the
        request's caller (or ``who``: a user without a token, as on the account page), written
        after the commit. ``attributes`` join the payload, as Keystone's (a role assignment's
        ``role``, ``user``, ``project``, ...)."""
        if not self.enabled:
            return
        kind = KEYSTONE_KINDS.get(kind, kind)
        if target is None:
            target = {"typeURI": TYPE_URIS.get(kind, UNKNOWN), "id": target_id}
        if target_id is not None:
            attributes["resource_info"] = target_id
        initiator = self._initiator(req.environ, caller(req) if who is None else who)
        event = self.event(f"{operation}.{kind}", "success", initiator, target, **attributes)
        after_commit(session, functools.partial(self._write_all,
                                                [(f"identity.{kind}.{operation}", event)]))

    def role_assignment(self, req, session, operation: str, key: tuple, actor: str,
                        inherited: bool) -> None:
        """``identity.role_assignment.<operation>`` of the grant ``key`` (actor id, target
        type, target id, role id; ``actor``: user or group), with Keystone's attributes."""
        actor_id, target_type, target_id, role_id = key
        attributes = {"role": role_id, actor: actor_id, "inherited_to_projects": inherited,
                      target_type: target_id}
        self.changed(req, session, operation, "role_assignment",
                     target={"typeURI": USER_URI, "id": actor_id}, **attributes)

    def membership(self, req, session, operation: str, group_id: str, user_id: str) -> None:
        """``identity.group.updated``: the user ``added`` to or ``removed`` from the group, as
        Keystone's ``Audit.added_to`` / ``removed_from``."""
        self.changed(req, session, "updated", "group", group_id, actor_id=user_id,
                     actor_type="user", actor_operation=operation)

    # -- the shape ------------------------------------------------------------------------------

    def event(self, action: str, outcome: str, initiator: dict, target: dict, *,
              reason: dict | None = None, **attributes) -> dict:
        """A CADF activity event as pycadf's ``Event.as_dict()``."""
        payload = {"typeURI": CADF_EVENT, "id": _uuid4(), "eventTime": _now(),
                   "eventType": "activity", "action": action, "outcome": outcome,
                   "initiator": initiator, "target": target,
                   "observer": {"typeURI": OBSERVER_URI, "id": "keystone_lite"}}
        if reason is not None:
            payload["reason"] = reason
        payload.update(attributes)
        return payload

    def write(self, event_type: str, payload: dict) -> None:
        self._write_all([(event_type, payload)])

    def _write_all(self, events: list) -> None:
        """Write the events, in one write; a failure to write is logged, never the request's
        failure (as Keystone's notifier)."""
        lines = [json_bytes({"event_type": event_type, "publisher_id": self.publisher_id,
                             "priority": "INFO", "message_id": _uuid4(),
                             "timestamp": payload["eventTime"], "payload": payload})
                 for event_type, payload in events]
        try:
            self.sink.write(lines)
        except OSError as exc:
            LOG.error("audit events %s not written: %s",
                      ", ".join(event_type for event_type, _ in events), exc)

    @staticmethod
    def _initiator(environ: dict, who: dict) -> dict:
        initiator = {"typeURI": USER_URI, "id": who.get("user_id") or UNKNOWN, **who,
                     "host": {"address": environ.get("REMOTE_ADDR"),
                              "agent": _cut(environ.get("HTTP_USER_AGENT"))},
                     "request_id": get_context(environ)["request_id"]}
        if "name" in who:
            initiator["username"] = who["name"]  # Keystone sends both
        return initiator


def authentication(method=None, *, default: str = OTHER):
    """Decorate ``method(controller, req, session, ...) -> ValidatedToken`` (an issue path):
    its refusals (401, 403; ``default`` is the reason of a 401 that names none) and its
    success are audited with ``controller.services.audit``."""
    if method is None:
        return functools.partial(authentication, default=default)

    @functools.wraps(method)
    def audited(controller, req, session, *args, **kwargs):
        auditor = controller.services.audit
        try:
            token = method(controller, req, session, *args, **kwargs)
        except errors.KeystoneError as error:
            if error.code in (401, 403):
                auditor.authentication_failed(req.environ, error, default)
            raise
        auditor.authenticated(req, session, token)
        return token
    return audited


def from_settings(settings) -> Auditor:
    """The Auditor of ``[audit]``; a file that cannot be created is a start-up error."""
    auditor = Auditor(settings.audit_destination, settings.audit_file)
    if isinstance(auditor.sink, FileSink):
        try:
            auditor.sink.check()
        except OSError as exc:
            from keystone_lite.settings import ConfigError
            raise ConfigError(f"{settings.config_file}: [audit] file: cannot append to "
                              f"{settings.audit_file}: {exc.strerror}") from None
    return auditor


# -- who ---------------------------------------------------------------------------------------

def caller(req) -> dict:
    """The initiator attributes of the request's caller (its X-Auth-Token)."""
    context = get_context(req.environ)
    token = context["caller"]
    if token is not None:
        return _user_of(token)
    if context["is_admin_token"]:
        return {"user_id": "admin_token"}  # [DEFAULT] admin_token: no user behind it
    return {}


def claimed(context: dict) -> dict:
    """Who a refused login claimed to be: the certificate's user, or the password method's
    user id or name (cut to 255 characters; never the password)."""
    if context["remote_user"] is not None:
        return {"name": _cut(context["remote_user"]),
                **({"domain_name": _cut(context["remote_domain"])}
                   if context["remote_domain"] else {})}
    auth = (context["json"] or {}).get("auth")
    if not isinstance(auth, dict):
        return {}
    identity = auth.get("identity") if isinstance(auth.get("identity"), dict) else {}
    password = identity.get("password") if isinstance(identity.get("password"), dict) else {}
    user = password.get("user") if isinstance(password.get("user"), dict) else {}
    v2 = auth.get("passwordCredentials") if isinstance(auth.get("passwordCredentials"),
                                                        dict) else {}
    found = {"user_id": user.get("id", v2.get("userId")),
             "name": user.get("name", v2.get("username"))}
    return {key: _cut(value) for key, value in found.items() if isinstance(value, str)}


def _user_of(token) -> dict:
    """As Keystone's initiator: ``project_id`` / ``domain_id`` are the token's scope."""
    who = {"user_id": token.user.id, "name": token.user.name,
           "user_domain_id": getattr(token.user, "domain_id", None)}
    payload = token.payload
    if payload.scope_kind in ("project", "domain"):
        who[f"{payload.scope_kind}_id"] = payload.scope_id
    elif payload.scope_kind == "system":
        who["system_scope"] = payload.scope_id
    return {key: value for key, value in who.items() if value is not None}


def _token_target(token) -> dict:
    """A token as a target: its audit id, never the token."""
    payload = token.payload
    target = {"typeURI": TOKEN_URI, "id": payload.audit_ids[0], "user_id": token.user.id,
              "methods": list(payload.methods),
              "expires_at": _time(payload.expires_at)}
    if payload.scope_kind is not None:
        target[f"{payload.scope_kind}_id" if payload.scope_kind != "system" else "system"] = \
            payload.scope_id
    if len(payload.audit_ids) > 1:
        target["audit_chain_id"] = payload.audit_ids[-1]
    return target


def _cut(text):
    return text[:_TEXT_LIMIT] if isinstance(text, str) else None


# isoformat() rather than strftime(): several times cheaper, and a login writes two events.

def _now() -> str:
    """pycadf's TIME_FORMAT: 2026-12-05T09:20:00.123456+0000."""
    return _naive_utc(datetime.datetime.now(datetime.timezone.utc)) + "+0000"


def _time(microseconds: int) -> str:
    """As tokens show times: 2026-12-05T09:20:00.123456Z."""
    return _naive_utc(datetime.datetime.fromtimestamp(microseconds / 1_000_000,
                                                      datetime.timezone.utc)) + "Z"


def _naive_utc(moment: datetime.datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds")


def _uuid4() -> str:
    return str(uuid.uuid4())
