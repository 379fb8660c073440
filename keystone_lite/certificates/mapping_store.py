"""Stored mappings and the reads and writes of a mapped login: users by email, groups by name,
shadow users, memberships made by mappings.

As keystone_lite.identity.store: every function takes the request's session and only adds and
flushes; the caller owns the transaction.
"""
from __future__ import annotations

import json

from sqlalchemy import delete, select

from typing import TYPE_CHECKING

from keystone_lite.db import models, session as db_session
from keystone_lite.identity import store

if TYPE_CHECKING:
    from keystone_lite.certificates.mapping import Rules


# -- mappings ------------------------------------------------------------------------------------

def find_mapping(session, *, mapping_id: str) -> models.Mapping | None:
    return session.get(models.Mapping, mapping_id)


def list_mappings(session) -> list[models.Mapping]:
    return list(session.scalars(select(models.Mapping).order_by(models.Mapping.id)))


def rules_of(mapping) -> Rules:
    """The checked rules of a stored mapping (a row or its snapshot); ValueError if they no
    longer pass (stored before a check was added)."""
    # Imported here: the admin app serves the mapping API without loading the rule engine
    # until a mapping is used.
    from keystone_lite.certificates.mapping import parse_rules
    return parse_rules({"rules": json.loads(mapping.rules),
                        "schema_version": mapping.schema_version})


def load_rules(session, mapping_id: str) -> Rules | None:
    """The rules of the mapping ``mapping_id``; None when there is no such mapping. What
    Keystone's OAuth2 grant reads through ``[oauth2] oauth2_cert_dn_mapping_id``."""
    mapping = find_mapping(session, mapping_id=mapping_id)
    return None if mapping is None else rules_of(mapping)


def dump_rules(rules: Rules) -> str:
    # ensure_ascii: the stored text holds no NUL or lone surrogate whatever was sent.
    return json.dumps(rules.document, ensure_ascii=True)


# -- what a mapped login reads -------------------------------------------------------------------

def users_with_email(session, *, email: str, domain_id: str | None = None) -> list:
    """Users whose ``email`` (a Keystone extra attribute, in ``users.extra``) is ``email``, in
    ``domain_id`` when given. No index holds emails: the JSON text is searched for the
    address, then each candidate's attribute compared exactly."""
    escaped = json.dumps(email, ensure_ascii=True)  # as resources._dump wrote it
    query = select(models.User).where(models.User.extra.contains(escaped, autoescape=True))
    if domain_id is not None:
        query = query.where(models.User.domain_id == domain_id)
    return [user for user in session.scalars(query.order_by(models.User.id))
            if email_of(user) == email]


def email_of(user) -> str | None:
    """The user's ``email`` extra attribute (a row: snapshots carry no ``extra``)."""
    try:
        extra = json.loads(user.extra) if user.extra else {}
    except ValueError:
        return None
    email = extra.get("email") if isinstance(extra, dict) else None
    return email if isinstance(email, str) else None


def find_group(session, *, group_id=None, name=None, domain_id=None) -> models.Group | None:
    if group_id is not None:
        return session.get(models.Group, group_id)
    return session.scalar(select(models.Group).where(models.Group.name == name,
                                                     models.Group.domain_id == domain_id))


def memberships_of(session, *, user_id: str) -> list[models.GroupMembership]:
    return list(session.scalars(select(models.GroupMembership).where(
        models.GroupMembership.user_id == user_id).order_by(models.GroupMembership.group_id)))


# -- what a mapped login writes ------------------------------------------------------------------

def provision_user(session, *, name: str, domain_id: str, user_id: str | None = None,
                   email: str | None = None) -> models.User:
    """The user ``name`` of ``domain_id``, created as a shadow user (enabled, no password) if
    it does not exist yet. Two first logins at once both end with the same user: the INSERT
    does nothing when the name (or the id) is taken meanwhile, and the user is read again."""
    values = {"id": user_id or store.new_id(), "domain_id": domain_id, "name": name,
              "enabled": True, "password_hash": None, "default_project_id": None,
              "description": "", "revision": 0, "password_expires_at": None,
              "extra": json.dumps({"email": email}, ensure_ascii=True) if email else None}
    table = models.User.__table__
    session.execute(db_session.conflict_insert(session, table).values(**values)
                    .on_conflict_do_nothing())
    return store.find_user(session, name=name, domain_id=domain_id)


def sync_mapped_groups(session, user_id: str, group_ids: list[str], held: list) -> bool:
    """Make the user a member of ``group_ids`` (memberships marked ``via_mapping``), and take
    away the memberships an earlier mapped login made that ``group_ids`` no longer names.
    ``held`` is the user's memberships as read (rows or snapshots). Memberships made through
    the API are neither marked nor taken away. Returns whether anything was written."""
    current = {membership.group_id: membership for membership in held}
    missing = [group_id for group_id in dict.fromkeys(group_ids) if group_id not in current]
    stale = [group_id for group_id, membership in current.items()
             if membership.via_mapping and group_id not in group_ids]
    table = models.GroupMembership.__table__
    for group_id in missing:
        session.execute(db_session.conflict_insert(session, table).values(
            user_id=user_id, group_id=group_id, via_mapping=True).on_conflict_do_nothing())
    if stale:
        session.execute(delete(models.GroupMembership).where(
            models.GroupMembership.user_id == user_id,
            models.GroupMembership.group_id.in_(stale),
            models.GroupMembership.via_mapping.is_(True)))
    return bool(missing or stale)
