"""Trust-scoped tokens (``"scope": {"OS-TRUST:trust": {"id": ...}}`` on POST /v3/auth/tokens):
what such a token stands on, checked when it is issued and at every validation.

The trustee authenticates as itself, by any method (a delegated token excepted: see
keystone_lite.token.delegation); the token is scoped to the trust's project with the trust's roles
and the roles they imply, and its body names the trust and shows the trustor as the user when the
trust impersonates. Inside keystone_lite the token's user is the trustee (its payload, revisions
and policy credentials, as Keystone's ``user_id``), and it carries the trust's id and the trustor's
revision (keystone_lite.token.payload).

A trust-scoped token is valid while its trust exists (deleting a trust, or its trustor, trustee
or project, deletes it: ``delete_trusts``), its trustee and trustor are enabled in enabled
domains, the trustor's revision is the one the token was earned under (a password change or a
disable kills it, as for the trustor's own tokens), and the trust's first trustor still holds
every delegated role on the project. Its lifetime never exceeds the trust's. A use is consumed
when a token is issued, with one conditional UPDATE that two concurrent logins cannot both pass;
tokens already issued stay valid when the uses run out (see docs/compatibility.md).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import delete, select, update

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity import store

# Keystone's [trust] max_redelegation_count default; a chain is never longer than this + 1.
MAX_REDELEGATION_COUNT = 3
REUSE_REFUSED = ("You are not authorized to perform the requested action: Using trust-scoped "
                 "token to create another token. Create a new trust-scoped token instead.")


@dataclasses.dataclass(frozen=True)
class Delegation:
    """What a trust-scoped token stands on beyond its trustee and project (snapshots)."""

    trust: Any
    trustor: Any
    trustor_domain: Any


def not_found(trust_id: str) -> errors.Unauthorized:
    # Keystone answers a login with a missing, expired or used-up trust 401 with this message.
    return errors.Unauthorized(f"Could not find trust: {trust_id[:64]}.")


def chain(session, trust) -> list:
    """The trust, then the trusts it was redelegated from, up to the one its first trustor
    made (the rows; a link that is gone ends the chain with None)."""
    found = [trust]
    while found[-1].redelegated_trust_id is not None and len(found) <= MAX_REDELEGATION_COUNT:
        found.append(session.get(models.Trust, found[-1].redelegated_trust_id))
        if found[-1] is None:
            break
    return found


def delete_trusts(session, condition) -> None:
    """Delete the trusts meeting the SQL ``condition``, with every trust redelegated from
    them and the roles they delegate (explicitly, as users.delete_dependents does). Here, not
    in identity/trusts.py, so that deleting a user or a project does not load the trust API."""
    found = set(session.scalars(select(models.Trust.id).where(condition)))
    frontier = found
    while frontier:
        frontier = set(session.scalars(select(models.Trust.id).where(
            models.Trust.redelegated_trust_id.in_(frontier)))) - found
        found |= frontier
    if found:
        session.execute(delete(models.TrustRole).where(models.TrustRole.trust_id.in_(found)))
        session.execute(delete(models.Trust).where(models.Trust.id.in_(found)))


def delegated_roles(session, trust_id: str) -> list:
    """The roles the trust names, by name (not the roles they imply)."""
    return list(session.scalars(select(models.Role).join(
        models.TrustRole, models.TrustRole.role_id == models.Role.id).where(
        models.TrustRole.trust_id == trust_id).order_by(models.Role.name)))


def held_role_ids(session, user_id: str, project_id: str) -> set[str]:
    """Every role the user holds on the project, with the roles they imply (domain-specific
    roles included: a trust may delegate one the user holds)."""
    return {role.id for role, _prior in store.inferences(
        session, store.roles_on(session, user_id, "project", project_id))}


def standing(session, trustee_id: str, trust_id: str) -> tuple[Delegation, list]:
    """(what the token stands on, the roles it carries) for the trustee using the trust now;
    raises Unauthorized or Forbidden with Keystone's reason when it may not.

    Expiry and remaining uses are the issuer's to check (``issuable``): a token's lifetime
    ends with its trust's, and a token stays valid when the uses run out.
    """
    trust = session.get(models.Trust, trust_id) if len(trust_id) <= 64 else None
    if trust is None:
        raise not_found(trust_id)
    if trust.trustee_user_id != trustee_id:
        raise errors.Forbidden("User is not a trustee.")
    links = chain(session, trust)
    if links[-1] is None or links[-1].redelegated_trust_id is not None:
        raise not_found(trust_id)  # a link is gone (being deleted), or a chain too long
    # Every trustor down the chain (each trustee that passed the trust on) must be enabled.
    trustors = [session.get(models.User, link.trustor_user_id) for link in links]
    trustor_domain = trustors[0] and session.get(models.Domain, trustors[0].domain_id)
    if not all(trustor is not None and trustor.enabled for trustor in trustors) or \
            trustor_domain is None or not trustor_domain.enabled:
        raise errors.Forbidden("Trustor is disabled.")
    roles = delegated_roles(session, trust.id)
    held = held_role_ids(session, links[-1].trustor_user_id, trust.project_id) \
        if trust.project_id is not None else set()
    if not roles or any(role.id not in held for role in roles):
        raise errors.Forbidden("Trustee has no delegated roles.")
    delegation = Delegation(trust.snapshot(), trustors[0].snapshot(), trustor_domain.snapshot())
    return delegation, store.expand_implied(session, roles)


def issuable(session, trustee_id: str, trust_id: str, now: int):
    """The trust the trustee may get a token with now (see ``standing``: a trust without a
    project delegates no role), one use consumed; 401 when it has expired or has no use left,
    403 when a concurrent login took its last use."""
    delegation, _roles = standing(session, trustee_id, trust_id)
    trust = delegation.trust
    if trust.remaining_uses == 0 or (trust.expires_at is not None and trust.expires_at <= now):
        raise not_found(trust_id)
    if trust.remaining_uses is not None:
        # Conditional: of two logins taking the last use at once, one updates nothing.
        taken = session.execute(update(models.Trust).where(
            models.Trust.id == trust.id, models.Trust.remaining_uses > 0).values(
            remaining_uses=models.Trust.remaining_uses - 1).execution_options(
            synchronize_session=False)).rowcount
        if taken != 1:
            raise errors.Forbidden(f"No remaining uses for trust: {trust.id}.")
    return trust


def render_into(body: dict, token, user_body) -> None:
    """Make the body of a trust-scoped token (a ValidatedToken with a Delegation) show it as
    Keystone does: the trust, the trustor as the user when impersonating (``user_body(user,
    domain)`` renders it), no ``is_domain``, roles in full."""
    delegation = token.principal.trust
    trust = delegation.trust
    body["OS-TRUST:trust"] = {"id": trust.id, "trustor_user": {"id": trust.trustor_user_id},
                              "trustee_user": {"id": trust.trustee_user_id},
                              "impersonation": trust.impersonation}
    if trust.impersonation:
        body["user"] = user_body(delegation.trustor, delegation.trustor_domain)
    body.pop("is_domain", None)
    body["roles"] = [{"id": role.id, "name": role.name, "domain_id": role.domain_id,
                      "description": role.description or None, "options": {}}
                     for role in token.roles]
