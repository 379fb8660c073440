"""The identity store: domains, users, projects, roles, assignments, regions and the catalog.

Every function takes the request's session and only adds and flushes; the caller (the router or
the CLI) owns the transaction. Lookups return model objects or None; writes raise Conflict for
duplicates (via the transaction) and NotFound for missing references.
"""
from __future__ import annotations

import json
import uuid

from sqlalchemy import and_, bindparam, column as sql_column, or_, select, \
    table as sql_table, union, update as sql_update
from sqlalchemy.orm import Session, aliased

from keystone_lite import errors
from keystone_lite.db import models

DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"
INTERFACES = ("public", "internal", "admin")


def new_id() -> str:
    return uuid.uuid4().hex


# -- domains -----------------------------------------------------------------------------------

def ensure_default_domain(session: Session, domain_id: str = DEFAULT_DOMAIN_ID) -> models.Domain:
    domain = session.get(models.Domain, domain_id)
    if domain is None:
        domain = models.Domain(id=domain_id, name=DEFAULT_DOMAIN_NAME if domain_id ==
                               DEFAULT_DOMAIN_ID else domain_id,
                               description="The default domain", enabled=True)
        session.add(domain)
        session.flush()
    return domain


# Reads by name on every login, built once (building a statement costs more than running it).
_DOMAIN_BY_NAME = select(models.Domain).where(models.Domain.name == bindparam("name"))
_USER_BY_NAME = select(models.User).where(models.User.name == bindparam("name"),
                                          models.User.domain_id == bindparam("domain_id"))
_PROJECT_BY_NAME = select(models.Project).where(
    models.Project.name == bindparam("name"), models.Project.domain_id == bindparam("domain_id"))


def find_domain(session: Session, *, domain_id=None, name=None) -> models.Domain | None:
    if domain_id is not None:
        return session.get(models.Domain, domain_id)
    return session.scalar(_DOMAIN_BY_NAME, {"name": name})


# -- users ---------------------------------------------------------------------------------------

def find_user(session: Session, *, user_id=None, name=None, domain_id=None
              ) -> models.User | None:
    if user_id is not None:
        return session.get(models.User, user_id)
    return session.scalar(_USER_BY_NAME, {"name": name, "domain_id": domain_id})


def keystone_hash_sample(session: Session) -> str | None:
    """One password or application credential secret hash still in a format imported from
    Keystone (not argon2), or None (identity.passwords.PasswordHasher.legacy_stand_in)."""
    # The application credentials' table by name: its model is mapped on first use
    # (keystone_lite.db.feature_models), and every password login comes here once.
    secrets = sql_table("application_credentials", sql_column("secret_hash")).c.secret_hash
    for column in (models.User.password_hash, secrets):
        found = session.scalar(select(column).where(
            column.is_not(None), ~column.startswith("$argon2")).limit(1))
        if found:
            return found
    return None


def replace_hash(session: Session, column, row_id: str, old: str, new: str) -> None:
    """Store ``new`` (an argon2 re-hash of the same secret) in place of ``old``, unless the
    hash changed meanwhile. The secret is the same, so the user's revision stays: no token
    dies of it."""
    model = column.class_
    session.execute(sql_update(model).where(model.id == row_id, column == old).values(
        {column.key: new}))


def create_user(session: Session, *, name, domain_id, password_hash=None, enabled=True,
                default_project_id=None, description="", password_expires_at=None
                ) -> models.User:
    _require_domain(session, domain_id)
    user = models.User(id=new_id(), name=name, domain_id=domain_id, enabled=enabled,
                       password_hash=password_hash, default_project_id=default_project_id,
                       description=description, password_expires_at=password_expires_at)
    session.add(user)
    session.flush()
    return user


# Keystone's user options that keystone_lite acts on; the API refuses any other.
USER_OPTIONS = ("ignore_lockout_failure_attempts", "ignore_password_expiry")


def user_options(session: Session, user_ids: list[str]) -> dict[str, dict]:
    """``{user_id: {option: value}}`` for the users that have options set."""
    found: dict[str, dict] = {}
    if user_ids:
        for row in session.scalars(select(models.UserOption).where(
                models.UserOption.user_id.in_(user_ids))):
            found.setdefault(row.user_id, {})[row.name] = json.loads(row.value)
    return found


def set_user_options(session: Session, user_id: str, options: dict) -> None:
    """Set each option to its value; a None value removes it (as Keystone)."""
    for name, value in options.items():
        row = session.get(models.UserOption, (user_id, name))
        if value is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(models.UserOption(user_id=user_id, name=name, value=json.dumps(value)))
        else:
            row.value = json.dumps(value)
    session.flush()


# -- projects ------------------------------------------------------------------------------------

def find_project(session: Session, *, project_id=None, name=None, domain_id=None
                 ) -> models.Project | None:
    if project_id is not None:
        return session.get(models.Project, project_id)
    return session.scalar(_PROJECT_BY_NAME, {"name": name, "domain_id": domain_id})


def create_project(session: Session, *, name, domain_id, description="", enabled=True
                   ) -> models.Project:
    _require_domain(session, domain_id)
    project = models.Project(id=new_id(), name=name, domain_id=domain_id,
                             description=description, enabled=enabled)
    session.add(project)
    session.flush()
    return project


def projects_for_user(session: Session, user_id: str, *, enabled_only: bool = True
                      ) -> list[models.Project]:
    """Projects (only the enabled ones unless told otherwise) on which the user holds a role,
    directly or through a group, granted there or inherited from above (a grant flagged
    inherited on its domain or on a parent project)."""
    conditions = [models.Project.id.in_(_targets_of(user_id, "project", inherited=False))]
    sources = session.execute(_targets_of(user_id, None, inherited=True)).all()
    domain_ids = [target_id for target_type, target_id in sources if target_type == "domain"]
    if domain_ids:
        conditions.append(models.Project.domain_id.in_(domain_ids))
    tops = [target_id for target_type, target_id in sources if target_type == "project"]
    if tops:
        conditions.append(models.Project.id.in_(
            [project.id for project in descendants(session, tops)]))
    query = select(models.Project).where(or_(*conditions)).order_by(models.Project.name)
    if enabled_only:
        query = query.where(models.Project.enabled.is_(True))
    return list(session.scalars(query))


def domains_for_user(session: Session, user_id: str) -> list[models.Domain]:
    """Enabled domains on which the user holds at least one role, directly or through a group
    (a grant inherited to a domain's projects is no role on the domain)."""
    query = (select(models.Domain)
             .where(models.Domain.id.in_(_targets_of(user_id, "domain", inherited=False)),
                    models.Domain.enabled.is_(True))
             .order_by(models.Domain.name))
    return list(session.scalars(query))


def _targets_of(user_id: str, target_type: str | None, *, inherited: bool):
    """The targets the user holds a grant on (of ``target_type``: their ids; of any type:
    (target_type, target_id) rows), directly or through a group, inherited or not: a
    selectable."""
    def grants(model, *where):
        columns = [model.target_id] if target_type else [model.target_type, model.target_id]
        query = select(*columns).where(model.inherited == inherited, *where)
        return query.where(model.target_type == target_type) if target_type else query
    return union(
        grants(models.RoleAssignment, models.RoleAssignment.user_id == user_id),
        grants(models.GroupAssignment, models.GroupMembership.user_id == user_id).join(
            models.GroupMembership,
            models.GroupMembership.group_id == models.GroupAssignment.group_id))


# -- the project tree ------------------------------------------------------------------------------

_DEEPEST = 10  # a parent loop stored anyway cannot hang a walk up the tree


def ancestors(session: Session, project) -> list[models.Project]:
    """The project's parent projects, nearest first (the domain not included)."""
    found = []
    while project.parent_id is not None and len(found) < _DEEPEST:
        project = session.get(models.Project, project.parent_id)
        if project is None:
            break
        found.append(project)
    return found


def project_ids_in(session: Session, domain_id: str) -> list[str]:
    return list(session.scalars(select(models.Project.id).where(
        models.Project.domain_id == domain_id).order_by(models.Project.name)))


def children(session: Session, project_ids: list[str]) -> list[models.Project]:
    return list(session.scalars(select(models.Project).where(
        models.Project.parent_id.in_(project_ids)).order_by(models.Project.name)))


def descendants(session: Session, project_ids: list[str]) -> list[models.Project]:
    """Every project under these projects (not they themselves), level by level: one query
    per level, and the depth is bounded."""
    found, level = [], list(project_ids)
    for _depth in range(_DEEPEST):
        level = children(session, level) if level else []
        found += level
        level = [row.id for row in level]
    return found


# -- roles and assignments -----------------------------------------------------------------------

def find_role(session: Session, *, role_id=None, name=None) -> models.Role | None:
    """A role by id, or a global role by name (domain-specific roles share names)."""
    if role_id is not None:
        return session.get(models.Role, role_id)
    return session.scalar(select(models.Role).where(models.Role.name == name,
                                                    models.Role.domain_id.is_(None)))


def list_roles(session: Session, *, name=None) -> list[models.Role]:
    """Global roles (as ``GET /v3/roles`` without ``?domain_id``)."""
    query = select(models.Role).where(models.Role.domain_id.is_(None)).order_by(models.Role.name)
    if name is not None:
        query = query.where(models.Role.name == name)
    return list(session.scalars(query))


def inferences(session: Session, roles) -> list[tuple[models.Role, str | None]]:
    """Every role ``roles`` stand for, each once, with the id of the role that implied it
    (None for the given ones): the given roles first, then the implied ones breadth-first.
    One query reads every rule with its implied role (the rule table is small and the
    closure is taken here); a cycle stored anyway cannot loop."""
    rules: dict[str, list[models.Role]] = {}
    for prior_id, implied in session.execute(select(
            models.ImpliedRole.prior_role_id, models.Role).join(
            models.Role, models.Role.id == models.ImpliedRole.implied_role_id).order_by(
            models.Role.name)):
        rules.setdefault(prior_id, []).append(implied)
    found = [(role, None) for role in roles]
    seen = {role.id for role in roles}
    for role, _prior in found:  # grows while it is walked: breadth-first
        for implied in rules.get(role.id, ()):
            if implied.id not in seen:
                seen.add(implied.id)
                found.append((implied, role.id))
    return found


def expand_implied(session: Session, roles) -> list[models.Role]:
    """What a token (or ``?effective``) carries for directly held ``roles``: the roles and
    every role they imply, transitively, except domain-specific roles, which only stand for
    the roles they imply (as Keystone)."""
    return [role for role, _prior in inferences(session, roles) if role.domain_id is None]


def implies(session: Session, prior_id: str) -> list[models.Role]:
    """The roles ``prior_id`` implies directly, by name."""
    return list(session.scalars(select(models.Role).join(
        models.ImpliedRole, models.ImpliedRole.implied_role_id == models.Role.id).where(
        models.ImpliedRole.prior_role_id == prior_id).order_by(models.Role.name)))


def all_implications(session: Session) -> list[tuple[models.Role, models.Role]]:
    """Every rule as (prior, implied), by prior name then implied name."""
    prior = aliased(models.Role)
    implied = aliased(models.Role)
    return list(session.execute(select(prior, implied).join(
        models.ImpliedRole, models.ImpliedRole.prior_role_id == prior.id).join(
        implied, implied.id == models.ImpliedRole.implied_role_id).order_by(
        prior.name, implied.name)))


def imply(session: Session, prior_id: str, implied_id: str) -> None:
    """Add the rule ``prior ⇒ implied``; adding it again is a no-op (PUT is idempotent)."""
    if session.get(models.ImpliedRole, (prior_id, implied_id)) is None:
        session.add(models.ImpliedRole(prior_role_id=prior_id, implied_role_id=implied_id))
        session.flush()


def create_role(session: Session, *, name, description="", domain_id=None) -> models.Role:
    role = models.Role(id=new_id(), name=name, description=description, domain_id=domain_id)
    session.add(role)
    session.flush()
    return role


def roles_on(session: Session, user_id: str, target_type: str, target_id: str
             ) -> list[models.Role]:
    """The roles ``user_id`` holds on the target, directly or through its groups, ordered by
    name: every role computation (tokens, default scoping, /auth/*) goes through here. On a
    project, also the roles inherited to it: grants flagged inherited on its domain or on one
    of its parent projects (never on itself). One query (after the project's parents, which
    a top-level project does not need), so a token's principal load costs what it did
    before groups."""
    grants = [(target_type, target_id, False)]
    project = session.get(models.Project, target_id) if target_type == "project" else None
    if project is not None:
        grants += [("domain", project.domain_id, True)] + [
            ("project", parent.id, True) for parent in ancestors(session, project)]

    def holding(model):
        return or_(*(and_(model.target_type == kind, model.target_id == held_on,
                          model.inherited == inherited)
                     for kind, held_on, inherited in grants))
    direct = select(models.RoleAssignment.role_id).where(
        models.RoleAssignment.user_id == user_id, holding(models.RoleAssignment))
    via_groups = (select(models.GroupAssignment.role_id)
                  .join(models.GroupMembership,
                        models.GroupMembership.group_id == models.GroupAssignment.group_id)
                  .where(models.GroupMembership.user_id == user_id,
                         holding(models.GroupAssignment)))
    query = (select(models.Role).where(models.Role.id.in_(union(direct, via_groups)))
             .order_by(models.Role.name))
    return list(session.scalars(query))


# Who a grant is to -> the table of such grants; both have the key
# (actor id, target_type, target_id, role_id, inherited).
ASSIGNMENTS = {"user": models.RoleAssignment, "group": models.GroupAssignment}


def _actor_column(model):
    return model.user_id if model is models.RoleAssignment else model.group_id


def granted_roles(session: Session, actor_id: str, target_type: str, target_id: str, *,
                  actor: str = "user", inherited: bool = False) -> list[models.Role]:
    """The roles granted to the user (or group) itself on the target (those inherited to its
    projects with ``inherited``), ordered by name: what ``GET .../{users,groups}/{id}/roles``
    lists (a user's groups' grants are not its own)."""
    model = ASSIGNMENTS[actor]
    query = (select(models.Role).join(model, model.role_id == models.Role.id)
             .where(_actor_column(model) == actor_id, model.target_type == target_type,
                    model.target_id == target_id, model.inherited == inherited)
             .order_by(models.Role.name))
    return list(session.scalars(query))


def grant(session: Session, user_id: str, target_type: str, target_id: str, role_id: str, *,
          actor: str = "user", inherited: bool = False) -> None:
    """Grant a role to a user (or, ``actor="group"``, to a group: ``user_id`` is then the
    group's id), on the target or, ``inherited``, on the projects under it; granting one
    already held is a no-op (PUT is idempotent)."""
    model = ASSIGNMENTS[actor]
    key = (user_id, target_type, target_id, role_id, inherited)
    if session.get(model, key) is None:
        session.add(model(**{f"{actor}_id": user_id}, target_type=target_type,
                          target_id=target_id, role_id=role_id, inherited=inherited))
        session.flush()


def has_grant(session: Session, user_id, target_type, target_id, role_id, *,
              actor: str = "user", inherited: bool = False) -> bool:
    return session.get(ASSIGNMENTS[actor],
                       (user_id, target_type, target_id, role_id, inherited)) is not None


def revoke_grant(session: Session, user_id, target_type, target_id, role_id, *,
                 actor: str = "user", inherited: bool = False) -> bool:
    """Remove a grant; returns False when there was none."""
    assignment = session.get(ASSIGNMENTS[actor],
                             (user_id, target_type, target_id, role_id, inherited))
    if assignment is None:
        return False
    session.delete(assignment)
    session.flush()
    return True


def assignments(session: Session, actor: str, *, actor_ids=None, target_type=None,
                target_ids=None, role_id=None, inherited=None) -> list:
    """The grants to users (``actor="user"``) or groups, each filter applied when given:
    ``actor_ids`` and ``target_ids`` are lists, ``inherited`` True or False."""
    model = ASSIGNMENTS[actor]
    actor_column = _actor_column(model)
    query = select(model).order_by(actor_column, model.target_id, model.role_id,
                                   model.inherited)
    if actor_ids is not None:
        query = query.where(actor_column.in_(actor_ids))
    if target_type is not None:
        query = query.where(model.target_type == target_type)
    if target_ids is not None:
        query = query.where(model.target_id.in_(target_ids))
    if role_id is not None:
        query = query.where(model.role_id == role_id)
    if inherited is not None:
        query = query.where(model.inherited == inherited)
    return list(session.scalars(query))


# -- group memberships ---------------------------------------------------------------------------

def add_member(session: Session, group_id: str, user_id: str) -> None:
    """Put the user in the group; a member already is one (PUT is idempotent). A membership
    a certificate login's mapping made becomes the administrator's: no later login takes it
    away (GroupMembership.via_mapping)."""
    membership = session.get(models.GroupMembership, (user_id, group_id))
    if membership is None:
        session.add(models.GroupMembership(user_id=user_id, group_id=group_id))
        session.flush()
    elif membership.via_mapping:
        membership.via_mapping = False
        session.flush()


def is_member(session: Session, group_id: str, user_id: str) -> bool:
    return session.get(models.GroupMembership, (user_id, group_id)) is not None


def remove_member(session: Session, group_id: str, user_id: str) -> bool:
    """Take the user out of the group; returns False when it was not in it."""
    membership = session.get(models.GroupMembership, (user_id, group_id))
    if membership is None:
        return False
    session.delete(membership)
    session.flush()
    return True


def members(session: Session, group_id: str) -> list[models.User]:
    """The group's users, ordered by name."""
    return list(session.scalars(
        select(models.User).join(models.GroupMembership,
                                 models.GroupMembership.user_id == models.User.id)
        .where(models.GroupMembership.group_id == group_id).order_by(models.User.name)))


def groups_of(session: Session, user_id: str) -> list[models.Group]:
    """The groups the user is in, ordered by name."""
    return list(session.scalars(
        select(models.Group).join(models.GroupMembership,
                                  models.GroupMembership.group_id == models.Group.id)
        .where(models.GroupMembership.user_id == user_id).order_by(models.Group.name)))


def member_ids(session: Session, group_ids: list[str]) -> dict[str, list[str]]:
    """``{group_id: [user_id, ...]}`` for the groups that have members, in one query."""
    found: dict[str, list[str]] = {}
    if group_ids:
        for row in session.scalars(
                select(models.GroupMembership)
                .where(models.GroupMembership.group_id.in_(group_ids))
                .order_by(models.GroupMembership.user_id)):
            found.setdefault(row.group_id, []).append(row.user_id)
    return found


# -- catalog -------------------------------------------------------------------------------------

def ensure_region(session: Session, region_id: str) -> models.Region:
    region = session.get(models.Region, region_id)
    if region is None:
        region = models.Region(id=region_id, description="")
        session.add(region)
        session.flush()
    return region


def list_services(session: Session, *, service_type=None) -> list[models.Service]:
    query = select(models.Service).order_by(models.Service.type, models.Service.name)
    if service_type is not None:
        query = query.where(models.Service.type == service_type)
    return list(session.scalars(query))


def list_endpoints(session: Session, *, service_id=None, interface=None
                   ) -> list[models.Endpoint]:
    query = select(models.Endpoint).order_by(models.Endpoint.service_id,
                                             models.Endpoint.interface)
    if service_id is not None:
        query = query.where(models.Endpoint.service_id == service_id)
    if interface is not None:
        query = query.where(models.Endpoint.interface == interface)
    return list(session.scalars(query))


def create_service(session: Session, *, type, name="", description="", enabled=True
                   ) -> models.Service:
    service = models.Service(id=new_id(), type=type, name=name, description=description,
                             enabled=enabled)
    session.add(service)
    session.flush()
    return service


def create_endpoint(session: Session, *, service_id, interface, url, region_id=None,
                    enabled=True) -> models.Endpoint:
    if interface not in INTERFACES:
        raise errors.ValidationError(f"interface must be one of {', '.join(INTERFACES)}.")
    if session.get(models.Service, service_id) is None:
        raise errors.ValidationError(f"Could not find service: {service_id}.")
    if region_id is not None and session.get(models.Region, region_id) is None:
        raise errors.ValidationError(f"Could not find region: {region_id}.")
    endpoint = models.Endpoint(id=new_id(), service_id=service_id, interface=interface,
                               url=url, region_id=region_id, enabled=enabled)
    session.add(endpoint)
    session.flush()
    return endpoint


def catalog(session: Session) -> list[tuple[models.Service, list[models.Endpoint]]]:
    """Enabled services with their enabled endpoints, in one query."""
    rows = session.execute(
        select(models.Service, models.Endpoint)
        .join(models.Endpoint, models.Endpoint.service_id == models.Service.id)
        .where(models.Service.enabled.is_(True), models.Endpoint.enabled.is_(True))
        .order_by(models.Service.type, models.Service.id, models.Endpoint.interface))
    grouped: dict[str, tuple[models.Service, list[models.Endpoint]]] = {}
    for service, endpoint in rows:
        grouped.setdefault(service.id, (service, []))[1].append(endpoint)
    return list(grouped.values())


def endpoints_in_group(endpoints, filters: dict) -> list:
    """The endpoints an endpoint group's ``filters`` select: those whose attributes equal every
    entry (Keystone's OS-EP-FILTER)."""
    return [endpoint for endpoint in endpoints
            if all(getattr(endpoint, key, None) == value for key, value in filters.items())]


def filtered_project_ids(session: Session) -> frozenset[str]:
    """The projects associated with any endpoint or endpoint group (OS-EP-FILTER)."""
    return frozenset(session.scalars(union(
        select(models.ProjectEndpoint.project_id),
        select(models.ProjectEndpointGroup.project_id))))


def project_endpoint_ids(session: Session, project_id: str) -> set[str]:
    """The ids of the endpoints associated with the project, directly or through endpoint
    groups; empty when none is, and its tokens then show the whole catalog."""
    ids = set(session.scalars(select(models.ProjectEndpoint.endpoint_id).where(
        models.ProjectEndpoint.project_id == project_id)))
    group_filters = list(session.scalars(
        select(models.EndpointGroup.filters)
        .join(models.ProjectEndpointGroup,
              models.ProjectEndpointGroup.endpoint_group_id == models.EndpointGroup.id)
        .where(models.ProjectEndpointGroup.project_id == project_id)))
    if group_filters:
        endpoints = list(session.scalars(select(models.Endpoint)))
        for filters in group_filters:
            ids.update(endpoint.id for endpoint in endpoints_in_group(endpoints, filters))
    return ids


def _require_domain(session: Session, domain_id: str) -> None:
    if session.get(models.Domain, domain_id) is None:
        raise errors.NotFound(f"Could not find domain: {domain_id}.")


def move_revision(session: Session, entity) -> None:
    """Kill every token a loaded user or project holds now (see ``update``): what the account
    page's "revoke all my tokens" does. New tokens carry the new revision and live."""
    entity.revision = type(entity).revision + 1
    session.flush()


# Attributes whose change kills the entity's tokens: it moves the entity's revision.
_REVOKING = {models.User: ("enabled", "password_hash"), models.Project: ("enabled",)}


def update(session: Session, entity, changes: dict) -> None:
    """Apply ``{attribute: value}`` to a loaded entity and flush.

    Enabling or disabling a user or project, or giving a user a new password hash, also moves
    its revision, in the same UPDATE: every token earned before no longer validates
    (keystone_lite.token.service), even once the user or project is enabled again. The
    increment is SQL (``revision + 1``), not a value computed here, so that two nodes changing
    the same row at once both count.
    """
    revoking = any(attribute in changes and changes[attribute] != getattr(entity, attribute)
                   for attribute in _REVOKING.get(type(entity), ()))
    for attribute, value in changes.items():
        setattr(entity, attribute, value)
    if revoking:
        entity.revision = type(entity).revision + 1
    session.flush()
