"""The store of application credentials and access rules (tables of migration 0016).

As keystone_lite.identity.store: every function takes the request's session and only adds and
flushes. Kept apart from the API module so that token validation (keystone_lite.token.service)
can read credentials without importing the admin API.
"""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity import store

def find(session: Session, credential_id: str) -> models.ApplicationCredential | None:
    return session.get(models.ApplicationCredential, credential_id)


def find_by_name(session: Session, user_id: str, name: str
                 ) -> models.ApplicationCredential | None:
    credential = models.ApplicationCredential
    return session.scalar(select(credential).where(credential.user_id == user_id,
                                                   credential.name == name))


def list_for_user(session: Session, user_id: str, name: str | None = None
                  ) -> list[models.ApplicationCredential]:
    credential = models.ApplicationCredential
    query = select(credential).where(credential.user_id == user_id).order_by(credential.name)
    if name is not None:
        query = query.where(credential.name == name)
    return list(session.scalars(query))


def role_ids(session: Session, credential_ids: list[str]) -> dict[str, list[str]]:
    """``{credential id: [role id, ...]}`` (by role id, as Keystone lists them), one query."""
    found: dict[str, list[str]] = {credential_id: [] for credential_id in credential_ids}
    if credential_ids:
        role = models.ApplicationCredentialRole
        for row in session.scalars(select(role).where(
                role.application_credential_id.in_(credential_ids)).order_by(role.role_id)):
            found[row.application_credential_id].append(row.role_id)
    return found


def access_rules(session: Session, credential_ids: list[str]) -> dict[str, list]:
    """``{credential id: [AccessRule, ...]}`` for the credentials that have rules, one query."""
    found: dict[str, list] = {}
    if credential_ids:
        link, rules = models.ApplicationCredentialAccessRule, models.AccessRule
        for credential_id, rule in session.execute(
                select(link.application_credential_id, rules)
                .join(rules, rules.id == link.access_rule_id)
                .where(link.application_credential_id.in_(credential_ids))
                .order_by(rules.service, rules.path, rules.method)):
            found.setdefault(credential_id, []).append(rule)
    return found


def create(session: Session, values: dict, role_ids_: list[str], rules: list
           ) -> models.ApplicationCredential:
    """Insert the credential (``values``: its columns, the secret already hashed) with its
    roles and its access rules (AccessRule rows of the same user, new or already stored)."""
    credential = models.ApplicationCredential(**values)
    session.add(credential)
    session.flush()
    for role_id in role_ids_:
        session.add(models.ApplicationCredentialRole(application_credential_id=credential.id,
                                                     role_id=role_id))
    for rule in rules:
        if rule not in session:
            session.add(rule)
        session.add(models.ApplicationCredentialAccessRule(
            application_credential_id=credential.id, access_rule_id=rule.id))
    session.flush()
    return credential


def remove(session: Session, credential: models.ApplicationCredential) -> None:
    """Delete the credential with its roles and links to rules (the rules stay, as Keystone's)."""
    for model in (models.ApplicationCredentialRole, models.ApplicationCredentialAccessRule):
        session.execute(delete(model).where(model.application_credential_id == credential.id))
    session.delete(credential)
    session.flush()


def remove_for_users(session: Session, user_ids: list[str]) -> None:
    """What goes with deleted users: their credentials and access rules (explicitly, as
    identity.users.delete_dependents does for the rest)."""
    credential, rule = models.ApplicationCredential, models.AccessRule
    credential_ids = select(credential.id).where(credential.user_id.in_(user_ids))
    for model in (models.ApplicationCredentialRole, models.ApplicationCredentialAccessRule):
        session.execute(delete(model).where(model.application_credential_id.in_(
            credential_ids)))
    session.execute(delete(credential).where(credential.user_id.in_(user_ids)))
    session.execute(delete(rule).where(rule.user_id.in_(user_ids)))


# -- access rules --------------------------------------------------------------------------------

def find_rule(session: Session, rule_id: str) -> models.AccessRule | None:
    return session.get(models.AccessRule, rule_id)


def find_same_rule(session: Session, user_id: str, service: str, path: str, method: str
                   ) -> models.AccessRule | None:
    rule = models.AccessRule
    return session.scalar(select(rule).where(rule.user_id == user_id, rule.service == service,
                                             rule.path == path, rule.method == method))


def list_rules(session: Session, user_id: str, filters: dict) -> list[models.AccessRule]:
    """The user's rules whose columns equal ``filters`` (``service``, ``path``, ``method``)."""
    rule = models.AccessRule
    query = select(rule).where(rule.user_id == user_id).order_by(rule.service, rule.path,
                                                                 rule.method)
    for column, value in filters.items():
        query = query.where(getattr(rule, column) == value)
    return list(session.scalars(query))


def rule_in_use(session: Session, rule_id: str) -> bool:
    link = models.ApplicationCredentialAccessRule
    return session.scalar(select(link.application_credential_id).where(
        link.access_rule_id == rule_id).limit(1)) is not None


# -- token validation ----------------------------------------------------------------------------

def for_token(session: Session, credential_id: str, user_id: str, project_id: str):
    """``(credential, roles)`` for a token of ``user_id`` on ``project_id`` earned with this
    credential: a snapshot with its ``access_rules`` (dicts as tokens show them) and the roles
    the token carries (the credential's and those they imply). None when the credential is gone
    or is not that user's on that project, or when the user no longer holds every role it
    carries (Keystone would drop the missing role; here the credential is only as good as all
    of its roles)."""
    credential = find(session, credential_id)
    if credential is None or credential.user_id != user_id or \
            credential.project_id != project_id:
        return None
    carried = set(role_ids(session, [credential_id])[credential_id])
    held = store.roles_on(session, user_id, "project", project_id)
    held = held and store.expand_implied(session, held)
    if not carried or not carried <= {role.id for role in held}:
        return None
    roles = store.expand_implied(session, [role for role in held if role.id in carried])
    snapshot = credential.snapshot()
    snapshot.access_rules = tuple(
        {"id": rule.id, "service": rule.service, "path": rule.path, "method": rule.method}
        for rule in access_rules(session, [credential_id]).get(credential_id, ()))
    return snapshot, roles


def expired(credential, now_us: int) -> bool:
    return credential.expires_at is not None and credential.expires_at <= now_us


def require_unrestricted(caller) -> None:
    """403 when ``caller`` (a ValidatedToken, or None for the admin token) stands on a
    restricted application credential: such a token may not create or delete application
    credentials (Keystone's _check_unrestricted_application_credential; trusts are refused to
    every application credential: keystone_lite.token.delegation)."""
    credential = caller.application_credential if caller is not None else None
    if credential is not None and not credential.unrestricted:
        raise errors.Forbidden("You are not authorized to perform the requested action: Using "
                               "method 'application_credential' is not allowed for managing "
                               "additional application credentials.")
