"""A token's principal read in few statements, built once: the user and the project (one
primary-key statement each, on the session's connection, no ORM objects), the roles the user
holds there (one statement: direct and through groups, inherited from the domain and parent
projects), and what changes rarely (domains, the implied-role rules) read once per cache epoch.

The answers are the ones ``store.roles_on`` and ``store.expand_implied`` give (the roles in
the database's name order, then those they imply, breadth-first); tests compare the two. A
change to a domain, a role, a rule or a group is logged as ``all`` (keystone_lite.db.
generation), which begins a new cache epoch: what ``Reference`` remembers is never stale.
"""
from __future__ import annotations

import functools
import types

from sqlalchemy import and_, bindparam, inspect, or_, select, union
from sqlalchemy.orm import Session

from keystone_lite.db import models
from keystone_lite.identity.store import _DEEPEST
from keystone_lite.token.cache import GenerationCache


def _snapshot_columns(model) -> tuple[tuple[str, ...], list]:
    """The attribute names and table columns of ``model``'s snapshots (Base.snapshot)."""
    attributes = [attribute for attribute in inspect(model).mapper.column_attrs
                  if attribute.key not in model.unsnapshotted]
    return (tuple(attribute.key for attribute in attributes),
            [attribute.columns[0] for attribute in attributes])


def _by_id(model):
    names, columns = _snapshot_columns(model)
    return names, select(*columns).where(model.__table__.c.id == bindparam("id"))


_USER = _by_id(models.User)
_PROJECT = _by_id(models.Project)
_DOMAIN = _by_id(models.Domain)
_ROLE_NAMES, _ROLE_COLUMNS = _snapshot_columns(models.Role)
_ROLES = models.Role.__table__
_RULES = select(models.ImpliedRole.__table__.c.prior_role_id, *_ROLE_COLUMNS).join_from(
    models.ImpliedRole.__table__, _ROLES,
    _ROLES.c.id == models.ImpliedRole.__table__.c.implied_role_id).order_by(_ROLES.c.name)


@functools.lru_cache(maxsize=_DEEPEST + 2)
def _roles_held(grants: int):
    """The roles a user (``user_id``) holds through ``grants`` (kind, target, inherited)
    triples (``kind0``, ``target0``, ``inherited0``...), by name: store.roles_on's query."""
    def holding(table):
        return or_(*(and_(table.c.target_type == bindparam(f"kind{number}"),
                          table.c.target_id == bindparam(f"target{number}"),
                          table.c.inherited == bindparam(f"inherited{number}"))
                     for number in range(grants)))
    direct_table = models.RoleAssignment.__table__
    group_grants = models.GroupAssignment.__table__
    members = models.GroupMembership.__table__
    direct = select(direct_table.c.role_id).where(
        direct_table.c.user_id == bindparam("user_id"), holding(direct_table))
    via_groups = select(group_grants.c.role_id).join_from(
        group_grants, members, members.c.group_id == group_grants.c.group_id).where(
        members.c.user_id == bindparam("user_id"), holding(group_grants))
    return select(*_ROLE_COLUMNS).where(_ROLES.c.id.in_(union(direct, via_groups))).order_by(
        _ROLES.c.name)


def _row(connection, statement, **parameters):
    names, query = statement
    row = connection.execute(query, parameters).first()
    return None if row is None else types.SimpleNamespace(**dict(zip(names, row)))


class Reference:
    """Domains and the implied-role rules, remembered for the cache epoch (see the module
    docstring); read afresh, and not remembered, by a transaction that has written."""

    _MISSING = types.SimpleNamespace()  # "no such domain", remembered too

    def __init__(self, budget):
        self._cache = GenerationCache(budget)

    def domain(self, connection, stamp, domain_id: str, cacheable: bool):
        key = ("domain", domain_id)
        domain = self._cache.get(stamp, key) if cacheable else None
        if domain is None:
            domain = _row(connection, _DOMAIN, id=domain_id) or self._MISSING
            if cacheable:
                self._cache.put(stamp, key, domain)
        return None if domain is self._MISSING else domain

    def rules(self, connection, stamp, cacheable: bool) -> dict:
        """prior role id -> the roles it implies, by name (store.inferences)."""
        rules = self._cache.get(stamp, "rules") if cacheable else None
        if rules is None:
            rules = {}
            for prior_id, *role in connection.execute(_RULES):
                rules.setdefault(prior_id, []).append(
                    types.SimpleNamespace(**dict(zip(_ROLE_NAMES, role))))
            if cacheable:
                self._cache.put(stamp, "rules", rules)
        return rules


def connection_of(session: Session):
    """The connection of ``session``'s transaction, with its pending changes flushed, as the
    ORM's queries would (autoflush): ``load`` reads rows with Core."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    return session.connection()


def load(connection, reference: Reference, stamp, cacheable: bool, user_id: str,
         scope_kind: str | None, scope_id: str | None):
    """``(user, user's domain, roles, project, domain)`` as snapshots for a token of
    ``user_id`` on that scope (no trust, no application credential), or None when the user,
    the scope or the roles are missing or disabled (TokenService._load_principal); read on
    ``connection`` (``connection_of`` a session, or one of its own)."""
    user = _row(connection, _USER, id=user_id)
    if user is None or not user.enabled:
        return None
    user_domain = reference.domain(connection, stamp, user.domain_id, cacheable)
    if user_domain is None or not user_domain.enabled:
        return None
    if scope_kind is None:
        return user, user_domain, (), None, None
    project = domain = None
    grants = [(scope_kind, scope_id, False)]
    if scope_kind == "project":
        project = _row(connection, _PROJECT, id=scope_id)
        if project is None or not project.enabled:
            return None
        domain = reference.domain(connection, stamp, project.domain_id, cacheable)
        grants.append(("domain", project.domain_id, True))
        parent = project
        for _depth in range(_DEEPEST):  # store.ancestors
            if parent.parent_id is None:
                break
            parent = _row(connection, _PROJECT, id=parent.parent_id)
            if parent is None:
                break
            grants.append(("project", parent.id, True))
    elif scope_kind == "domain":
        domain = reference.domain(connection, stamp, scope_id, cacheable)
    if scope_kind != "system" and (domain is None or not domain.enabled):
        return None
    parameters = {"user_id": user.id}
    for number, (kind, target, inherited) in enumerate(grants):
        parameters.update({f"kind{number}": kind, f"target{number}": target,
                           f"inherited{number}": inherited})
    held = [types.SimpleNamespace(**dict(zip(_ROLE_NAMES, row)))
            for row in connection.execute(_roles_held(len(grants)), parameters)]
    roles = held and _with_implied(held, reference.rules(connection, stamp, cacheable))
    if not roles:
        return None
    return user, user_domain, tuple(roles), project, domain


def _with_implied(roles: list, rules: dict) -> list:
    """store.expand_implied: the roles and those they imply, transitively, breadth-first,
    each once, less domain-specific ones."""
    found = list(roles)
    seen = {role.id for role in roles}
    for role in found:  # grows while it is walked
        for implied in rules.get(role.id, ()):
            if implied.id not in seen:
                seen.add(implied.id)
                found.append(implied)
    return [role for role in found if role.domain_id is None]
