"""The ``application_credential`` auth method of ``POST /v3/auth/tokens`` (and of the OAuth2
``client_secret_basic`` grant, keystone_lite.token.oauth2).

``auth.identity.application_credential`` is ``{"id", "secret"}``, or ``{"name", "user":
{"id"} | {"name", "domain"}, "secret"}``. The secret is checked as passwords are (in a hashing
slot, with no database connection held, and for a credential that does not exist too, so that
neither the answer nor its time tells which ids or names exist); every failure is the same bare
401. The token is then the credential's: its project, its roles (keystone_lite.token.service).

Access rules are enforced by the services, from the token body (keystonemiddleware with
``service_type`` set); ``allows`` is the same check, for keystone_lite's own API (the
token_auth filter, service type ``identity``).
"""
from __future__ import annotations

import dataclasses
import logging
import re

from keystone_lite import errors, metrics
from keystone_lite.db import models, session as db_session
from keystone_lite.identity import application_credential_store as credentials, store
from keystone_lite.token.body import domain_reference, field
from keystone_lite.token.payload import now_us

LOG = logging.getLogger(__name__)
METHOD = "application_credential"
WHERE = "auth.identity.application_credential"

# Keystone's answer to a scope in the request: the credential is the scope.
SCOPE_REFUSED = ("Error authenticating with application credential: Application credentials "
                 "cannot request a scope.")


@dataclasses.dataclass(frozen=True)
class Verified:
    user: object  # snapshots (see Base.snapshot)
    credential: object


def authenticate(services, session, find, document: dict) -> Verified:
    """The credential ``document`` names and its user, once the secret matches; 401 when it
    does not, or the credential is unknown or expired (a disabled user is refused when the
    token is issued)."""
    secret = field(document, "secret", str, WHERE)
    credential = _lookup(session, find, document)
    user = credential and store.find_user(session, user_id=credential.user_id)
    secret_hash = credential.secret_hash if credential is not None else None
    credential, user = credential and credential.snapshot(), user and user.snapshot()
    db_session.release_reads(session)  # no connection held while hashing
    if not services.passwords.verify(secret_hash, secret) or user is None:
        LOG.info("application credential authentication refused: %s",
                 "no such credential" if credential is None else "wrong secret")
        metrics.auth_failed("bad_secret")
        raise errors.Unauthorized()
    if credentials.expired(credential, now_us()):
        LOG.info("application credential authentication refused: %s expired", credential.id)
        metrics.auth_failed("credential_expired")
        raise errors.Unauthorized()
    if services.passwords.needs_rehash(secret_hash):
        # Imported from Keystone: argon2 from now on.
        store.replace_hash(session, models.ApplicationCredential.secret_hash, credential.id,
                           secret_hash, services.passwords.hash(secret))
    return Verified(user, credential)


def _lookup(session, find, document: dict):
    credential_id = field(document, "id", str, WHERE, required=False)
    if credential_id is not None:
        return credentials.find(session, credential_id) if len(credential_id) <= 64 else None
    name = field(document, "name", str, WHERE)
    user_doc = field(document, "user", dict, WHERE)
    user_id = field(user_doc, "id", str, f"{WHERE}.user", required=False)
    if user_id is None:
        user_name = field(user_doc, "name", str, f"{WHERE}.user")
        domain = find(store.find_domain, **domain_reference(
            field(user_doc, "domain", dict, f"{WHERE}.user"), f"{WHERE}.user.domain"))
        user = domain and store.find_user(session, name=user_name, domain_id=domain.id)
        user_id = user.id if user is not None else None
    return credentials.find_by_name(session, user_id, name) if user_id else None


# Keystone's glob of access rule paths, as keystonemiddleware reads it: ``*`` (or a ``{tag}``)
# is one or more characters of one path segment, ``**`` any characters, ``/`` included.
_GLOB = re.compile(r"(?P<one>{[^}]*}|\*(?=$|[^*]))|(?P<any>\*\*)|(?P<literal>[^{}*])")
_ONE, _ANY = object(), object()
_PATH_MAX = 1024  # a longer path matches no rule: the check costs each pair of characters


def path_matches(path: str, pattern: str) -> bool:
    """Whether ``path`` matches the glob ``pattern``, in time proportional to their lengths'
    product (the steps of an automaton, not a backtracking regular expression: the patterns
    are the users')."""
    if len(path) > _PATH_MAX:
        return False
    parts = [_ONE if match["one"] else _ANY if match["any"] else match["literal"]
             for match in _GLOB.finditer(pattern)]
    # A state is (index of the next part, whether that part, a segment, has begun).
    states = _closure(parts, {(0, False)})
    for char in path:
        moved = set()
        for index, begun in states:
            part = parts[index] if index < len(parts) else None
            if part is _ANY or (part is _ONE and char != "/"):
                moved.add((index, True))
            elif part is not None and part is not _ONE and part == char:
                moved.add((index + 1, False))
        states = _closure(parts, moved)
        if not states:
            return False
    return (len(parts), False) in states


def _closure(parts: list, states: set) -> set:
    """``states`` and those reached without a character: past a ``**``, or past a segment
    that has begun."""
    pending, reached = list(states), set(states)
    while pending:
        index, begun = pending.pop()
        if index < len(parts) and (parts[index] is _ANY or (parts[index] is _ONE and begun)):
            if (index + 1, False) not in reached:
                reached.add((index + 1, False))
                pending.append((index + 1, False))
    return reached


def allows(access_rules, service: str, method: str, path: str) -> bool:
    """Whether one of ``access_rules`` (as tokens show them) lets ``method`` on ``path`` of
    ``service`` through."""
    return any(rule["service"] == service and rule["method"] == method
               and path_matches(path, rule["path"]) for rule in access_rules)
