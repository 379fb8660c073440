"""The ``oauth1`` auth method of ``POST /v3/auth/tokens``, and what its tokens stand for.

A consumer signs the request with an access token (keystoneauth1's ``v3.OAuth1`` plugin sends
``"methods": ["oauth1"]`` and the ``Authorization: OAuth ...`` header). The token it gets is the
access token's user's, scoped to the access token's project, carrying only the delegated roles
(and the roles they imply) and ``OS-OAUTH1: {access_token_id, consumer_id}``; it expires no later
than the access token. Every validation checks the delegation again (``narrowed``): deleting
the access token or its consumer, or the user no longer holding a delegated role there, kills the
token at its next check (each is a write that moves the change counter). As Keystone's, such a
token cannot make other tokens, nor authorize or see delegations
(keystone_lite.token.delegation).
"""
from __future__ import annotations

import dataclasses
import json
import types

from sqlalchemy import select

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity import store
from keystone_lite.token.payload import now_us

METHOD = "oauth1"


def signatures():
    """keystone_lite.oauth1.signatures, imported on first use: it loads oauthlib, which a
    deployment without OAuth1 consumers never needs in its workers."""
    from keystone_lite.oauth1 import signatures as module
    return module


def authenticate(req, session):
    """The access token that signed the request, as a snapshot; 401 otherwise."""
    access_token = signatures().check_access_token_use(req, session)
    if access_token.expires_at is not None and access_token.expires_at <= now_us():
        raise errors.Unauthorized("Access token is expired")
    return access_token.snapshot()


def user_of(session, access_token):
    """The user who delegated (the token's user); 401 when gone or disabled."""
    user = session.get(models.User, access_token.authorizing_user_id)
    if user is None or not user.enabled:
        raise errors.Unauthorized()
    return user.snapshot()


def scope_of(access_token, requested):
    """The access token's project: a token made with it has no other scope."""
    # A trust scope (token.body.TrustScope) has no kind: refused too.
    if requested is not None and (getattr(requested, "kind", None), requested.id) != (
            "project", access_token.project_id):
        raise errors.Forbidden("An OAuth1 access token gives a token on its own project only.")
    return access_token.project_id


def narrowed(session, principal, payload):
    """What an ``oauth1`` token stands for: ``principal`` (its user on its project, as the store
    has them now) with only the delegated roles and the roles they imply, and the access token
    as ``principal.oauth1``. None when the access token is gone, or the user no longer holds
    every delegated role there (a token never carries more than what earned it)."""
    row = session.get(models.OAuth1AccessToken, payload.access_token_id)
    if row is None or row.authorizing_user_id != payload.user_id \
            or row.project_id != payload.scope_id:
        return None
    delegated = set(json.loads(row.role_ids))
    if not delegated or not delegated <= {role.id for role in principal.roles}:
        return None
    roles = store.expand_implied(session, list(session.scalars(
        select(models.Role).where(models.Role.id.in_(delegated)).order_by(models.Role.name))))
    return dataclasses.replace(
        principal, roles=tuple(role.snapshot() for role in roles),
        oauth1=types.SimpleNamespace(access_token_id=row.id, consumer_id=row.consumer_id))

