"""Bring keystone_lite's database to what ``source.read`` wants, in the caller's transaction.

Rows are matched by primary key: a missing row is added, a row whose columns differ is
updated, an equal row is left alone, so a second import of an unchanged Keystone writes
nothing. Rows keystone_lite holds and Keystone does not are kept, except the relations of what
Keystone owns (a project's tags, a user's assignments, options and memberships, a group's
members and assignments, a role's implications, a trust's roles, an application credential's
roles and access rules): for those Keystone is the truth, so a grant removed there is removed
here on the next import.

Users keep their revision: importing again never kills the tokens of anyone (Keystone's own
revocation events, imported beside, kill what Keystone killed).
"""
from __future__ import annotations

import dataclasses
import json

from sqlalchemy import select

from keystone_lite.db import models
from keystone_lite.identity import credential_keys
from keystone_lite.keystone_import.source import ImportRefused, Wanted
from keystone_lite.token import revocation

# Parents before children (foreign keys).
ORDER = (models.Domain, models.Project, models.ProjectTag, models.DomainConfigOption,
         models.User, models.UserOption, models.Group, models.GroupMembership, models.Role,
         models.ImpliedRole, models.RoleAssignment, models.GroupAssignment, models.Region,
         models.Service, models.Endpoint, models.EndpointGroup, models.ProjectEndpoint,
         models.ProjectEndpointGroup, models.Trust, models.TrustRole,
         models.ApplicationCredential, models.ApplicationCredentialRole, models.AccessRule,
         models.ApplicationCredentialAccessRule, models.Credential, models.RegisteredLimit,
         models.Limit, models.OAuth1Consumer, models.OAuth1AccessToken)
# Relation rows whose owner (the column named) Keystone is the truth for.
OWNED_BY = {models.ProjectTag: ("project_id", models.Project),
            models.UserOption: ("user_id", models.User),
            models.GroupMembership: ("group_id", models.Group),
            models.ImpliedRole: ("prior_role_id", models.Role),
            models.RoleAssignment: ("user_id", models.User),
            models.GroupAssignment: ("group_id", models.Group),
            models.TrustRole: ("trust_id", models.Trust),
            models.ApplicationCredentialRole: ("application_credential_id",
                                               models.ApplicationCredential),
            models.ApplicationCredentialAccessRule: ("application_credential_id",
                                                     models.ApplicationCredential),
            models.DomainConfigOption: ("domain_id", models.Domain)}
# Columns keystone_lite changes itself after the import, left as they are on an existing row:
# a password hash re-hashed to argon2 at the first login is the same password.
_REHASHED = {models.User: "password_hash", models.ApplicationCredential: "secret_hash"}
# Names unique within a domain (or globally): a keystone_lite row holding one under another
# id would make the import fail half-way; it is refused before anything is written.
_UNIQUE_NAMES = {models.Domain: ("name",), models.User: ("domain_id", "name"),
                 models.Project: ("domain_id", "name"), models.Group: ("domain_id", "name"),
                 models.Role: ("domain_id", "name")}


@dataclasses.dataclass
class Changes:
    added: dict = dataclasses.field(default_factory=dict)  # table -> count
    updated: dict = dataclasses.field(default_factory=dict)
    removed: dict = dataclasses.field(default_factory=dict)
    revocations: int = 0
    lines: list = dataclasses.field(default_factory=list)  # what changed, for --dry-run

    @property
    def total(self) -> int:
        return sum(self.added.values()) + sum(self.updated.values()) + sum(
            self.removed.values()) + self.revocations

    def count(self, kind: dict, table: str, line: str) -> None:
        kind[table] = kind.get(table, 0) + 1
        self.lines.append(line)


def apply(session, wanted: Wanted, keys: credential_keys.CredentialKeys | None,
          rehashed_ok, event_lifetime_us: int) -> Changes:
    """Write the difference; ``rehashed_ok(stored, keystone)`` says whether a stored hash is
    the argon2 re-hash of Keystone's (kept then)."""
    _refuse_name_clashes(session, wanted)
    changes = Changes()
    for model in ORDER:
        rows = wanted.rows.get(model, [])
        if model is models.Credential:
            _credentials(session, rows, keys, changes)
            continue
        _sync(session, model, rows, changes, rehashed_ok)
        session.flush()
    for model in reversed(ORDER):
        if model in OWNED_BY:
            _remove_unowned(session, model, wanted.rows.get(model, []), wanted, changes)
    session.flush()
    _revocations(session, wanted.revocations, event_lifetime_us, changes)
    return changes


def _key(model, row: dict) -> tuple:
    return tuple(row[column.key] for column in model.__mapper__.primary_key)


def _label(model, row: dict) -> str:
    name = row.get("name")
    key = "/".join(str(part) for part in _key(model, row))
    return f"{model.__tablename__} {key}" + (f" ({name})" if name and name != key else "")


def _sync(session, model, rows: list[dict], changes: Changes, rehashed_ok) -> None:
    table = model.__tablename__
    existing = {_key(model, {c.key: getattr(obj, c.key) for c in model.__mapper__.primary_key}):
                obj for obj in session.scalars(select(model))}
    for row in rows:
        current = existing.get(_key(model, row))
        if current is None:
            session.add(model(**row))
            changes.count(changes.added, table, f"add {_label(model, row)}")
            continue
        differing = [name for name, value in row.items()
                     if getattr(current, name) != value and not (
                         _REHASHED.get(model) == name
                         and rehashed_ok(getattr(current, name), value))]
        if differing:
            for name in differing:
                setattr(current, name, row[name])
            changes.count(changes.updated, table,
                          f"update {_label(model, row)}: {', '.join(sorted(differing))}")


def _credentials(session, rows: list[dict], keys, changes: Changes) -> None:
    """Credentials compare by their plaintext (each encryption differs) and are encrypted
    with keystone_lite's primary credential key."""
    if rows and keys is None:
        raise ImportRefused(["Keystone holds credentials but keystone_lite's credential key "
                             "repository is missing: run keystone-lite-manage "
                             "credential_setup first"])
    existing = {obj.id: obj for obj in session.scalars(select(models.Credential))}
    for row in rows:
        blob = row["encrypted_blob"]
        current = existing.get(row["id"])
        if current is None:
            encrypted, key_hash = credential_keys.encrypt(keys, blob)
            session.add(models.Credential(**{**row, "encrypted_blob": encrypted,
                                             "key_hash": key_hash}))
            changes.count(changes.added, "credentials", f"add credentials {row['id']}")
            continue
        differing = [name for name in ("user_id", "project_id", "type", "extra")
                     if getattr(current, name) != row[name]]
        if credential_keys.decrypt(keys, current.encrypted_blob) != blob:
            current.encrypted_blob, current.key_hash = credential_keys.encrypt(keys, blob)
            differing.append("blob")
        for name in differing:
            if name != "blob":
                setattr(current, name, row[name])
        if differing:
            changes.count(changes.updated, "credentials",
                          f"update credentials {row['id']}: {', '.join(sorted(differing))}")


def _remove_unowned(session, model, rows: list[dict], wanted: Wanted,
                    changes: Changes) -> None:
    column, owner = OWNED_BY[model]
    owners = {_key(owner, row)[0] for row in wanted.rows.get(owner, [])}
    keep = {_key(model, row) for row in rows}
    for obj in session.scalars(select(model).where(getattr(model, column).in_(owners))):
        key = _key(model, {c.key: getattr(obj, c.key) for c in model.__mapper__.primary_key})
        if key not in keep:
            session.delete(obj)
            changes.count(changes.removed, model.__tablename__,
                          f"remove {model.__tablename__} {'/'.join(map(str, key))}")


def _revocations(session, events: list, lifetime_us: int, changes: Changes) -> None:
    stored = {(row.kind, row.key): row.revoked_at
              for row in session.scalars(select(models.RevocationEvent))}
    for kind, key, revoked_at in events:
        if stored.get((kind, key), -1) >= revoked_at:
            continue
        # revoke() records the time it is given as both the revocation time and the expiry;
        # the row's expiry is widened by the tokens' longest life after it.
        revocation.revoke(session, kind, key, revoked_at)
        session.execute(models.RevocationEvent.__table__.update().where(
            models.RevocationEvent.kind == kind, models.RevocationEvent.key == key).values(
            expires_at=revoked_at + lifetime_us))
        stored[(kind, key)] = revoked_at
        changes.revocations += 1
        changes.lines.append(f"revoke {kind} {key}")


def _refuse_name_clashes(session, wanted: Wanted) -> None:
    clashes = []
    for model, columns in _UNIQUE_NAMES.items():
        ours = {tuple(getattr(obj, c) for c in columns): obj.id
                for obj in session.scalars(select(model))}
        for row in wanted.rows.get(model, []):
            held = ours.get(tuple(row[c] for c in columns))
            if held is not None and held != row["id"]:
                clashes.append(f"{model.__tablename__} {json.dumps(row['name'])} is "
                               f"{row['id']} in Keystone but {held} in keystone_lite")
    if clashes:
        raise ImportRefused(clashes + ["import into a keystone_lite database that was not "
                                       "bootstrapped (db_sync only), or delete those rows"])
