"""The OAuth1 delegation flow and a user's access tokens, served by both apps as in Keystone.

1. ``POST /v3/OS-OAUTH1/request_token``: a consumer, signing with its secret, asks for a
   delegation on the project of its ``Requested-Project-Id`` header.
2. ``PUT /v3/OS-OAUTH1/authorize/{request_token_id}``: a user, with a token of their own, grants
   it roles they hold on that project and gets the ``oauth_verifier`` to hand to the consumer.
3. ``POST /v3/OS-OAUTH1/access_token``: the consumer, signing with the request token and the
   verifier, exchanges it (once) for an access token, with which it then gets ``oauth1`` tokens
   (keystone_lite.oauth1.method).

The consumer's calls answer ``application/x-www-form-urlencoded`` as Keystone's do; the secrets
in them are shown there only. ``/v3/users/{user_id}/OS-OAUTH1/access_tokens``, ``.../{id}``,
``.../{id}/roles`` and ``.../{id}/roles/{role_id}`` list, show and delete a user's access tokens;
deleting one kills its tokens.
"""
from __future__ import annotations

import json
import secrets
from urllib.parse import urlencode

import webob
from sqlalchemy import delete, select

from keystone_lite import errors, policy
from keystone_lite.context import get_context
from keystone_lite.db import models
from keystone_lite.identity import parsing, store
from keystone_lite.identity.admin import AdminController, ident, listing
from keystone_lite.identity.roles import ROLES
from keystone_lite.identity.users import USERS
from keystone_lite.oauth1 import method
from keystone_lite.router import json_response, no_content
from keystone_lite.token.delegation import ACCESS_TOKENS_REFUSED, AUTHORIZE_REFUSED, is_delegated
from keystone_lite.token.payload import now_us
from keystone_lite.token.render import isotime

_ROLE_REFERENCE = {"type": "object", "minProperties": 1, "maxProperties": 1,
                   "additionalProperties": False,
                   "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 64},
                                  "name": {"type": "string", "minLength": 1,
                                           "maxLength": 255}}}


class DelegationController(AdminController):
    def __init__(self, services):
        super().__init__(services, {"user": USERS})

    def routes(self):
        tokens = rf"/users/{ident('user_id')}/OS-OAUTH1/access_tokens"
        token = rf"{tokens}/{ident('access_token_id')}"
        return [
            (r"/OS-OAUTH1/request_token", {"POST": self.create_request_token}),
            (rf"/OS-OAUTH1/authorize/{ident('request_token_id')}",
             {"PUT": self.authorize_request_token}),
            (r"/OS-OAUTH1/access_token", {"POST": self.create_access_token}),
            (tokens, {"GET": self.list_access_tokens}),
            (token, {"GET": self.get_access_token, "DELETE": self.delete_access_token}),
            (rf"{token}/roles", {"GET": self.list_roles}),
            (rf"{token}/roles/{ident('role_id')}", {"GET": self.get_role}),
        ]

    # -- the flow -----------------------------------------------------------------------------

    def create_request_token(self, req, session):
        signatures = method.signatures()
        signatures.required(signatures.oauth_parameters(req), "oauth_consumer_key")
        project_id = req.headers.get("Requested-Project-Id")
        if not project_id:
            raise errors.ValidationError("Expecting to find Requested-Project-Id in request.")
        consumer = signatures.check_request_token_request(req, session)
        # Looked up once the consumer proved who it is.
        parsing.load(session, models.Project, project_id, "project")
        row = models.OAuth1RequestToken(
            id=store.new_id(), secret=secrets.token_hex(16), consumer_id=consumer.id,
            project_id=project_id,
            expires_at=self._expiry(self.settings.oauth1_request_token_duration))
        session.add(row)
        session.flush()
        return _form_response(row)

    def authorize_request_token(self, req, session, request_token_id):
        caller = policy.require_caller(req)
        policy.enforce(req, self.settings, "identity:authorize_request_token")
        if caller is None:
            raise errors.Forbidden("Only a user can authorize a request token.")
        if is_delegated(caller, counting_trusts=True):
            raise errors.Forbidden(AUTHORIZE_REFUSED)
        roles = self._requested_roles(req)
        row = session.get(models.OAuth1RequestToken, request_token_id) \
            if len(request_token_id) <= 64 else None
        if row is None:
            raise errors.NotFound("Request token not found")
        if _expired(row):
            raise errors.Unauthorized("Request token is expired")
        role_ids = {self._role_id(session, role) for role in roles}
        held = {role.id for role in store.expand_implied(session, store.roles_on(
            session, caller.user.id, "project", row.project_id))}
        if not role_ids <= held:
            raise errors.Unauthorized("authorizing user does not have role required")
        row.authorizing_user_id = caller.user.id
        row.role_ids = json.dumps(sorted(role_ids))
        row.verifier = method.signatures().new_verifier()
        session.flush()
        return json_response({"token": {"oauth_verifier": row.verifier}})

    def create_access_token(self, req, session):
        request_token = method.signatures().check_access_token_request(req, session)
        if _expired(request_token):
            raise errors.Unauthorized("Request token is expired")
        # Exchanged once: of two exchanges at the same time, the second deletes nothing.
        if not session.execute(delete(models.OAuth1RequestToken).where(
                models.OAuth1RequestToken.id == request_token.id)).rowcount:
            raise errors.Unauthorized("Request token not found")
        row = models.OAuth1AccessToken(
            id=store.new_id(), secret=secrets.token_hex(16),
            consumer_id=request_token.consumer_id,
            authorizing_user_id=request_token.authorizing_user_id,
            project_id=request_token.project_id, role_ids=request_token.role_ids,
            expires_at=self._expiry(self.settings.oauth1_access_token_duration))
        session.add(row)
        session.flush()
        return _form_response(row)

    def _requested_roles(self, req) -> list[dict]:
        """``{"roles": [{"id": ...} or {"name": ...}, ...]}`` (Keystone's schema)."""
        document = get_context(req.environ)["json"] or {}
        roles = document.get("roles", [])
        if not isinstance(roles, list) or not all(
                isinstance(role, dict) and len(role) == 1 and set(role) <= {"id", "name"}
                and _is_text(next(iter(role.values())), 64 if "id" in role else 255)
                for role in roles):
            raise errors.ValidationError("Invalid input for field/attribute roles: a list of "
                                         '{"id": ...} or {"name": ...} objects.')
        return roles

    @staticmethod
    def _role_id(session, role: dict) -> str:
        if "id" in role:
            return role["id"]
        found = store.find_role(session, name=role["name"])
        if found is None:
            raise errors.NotFound(f"Could not find role: {role['name']}.")
        return found.id

    @staticmethod
    def _expiry(duration: int) -> int | None:
        """Whole seconds, as the form and JSON documents print them; None: never."""
        return (now_us() // 1_000_000 + duration) * 1_000_000 if duration else None

    # -- a user's access tokens -----------------------------------------------------------------

    def list_access_tokens(self, req, session, user_id):
        base = self._authorize_user(req, session, "identity:list_access_tokens", user_id)
        rows = session.scalars(select(models.OAuth1AccessToken).where(
            models.OAuth1AccessToken.authorizing_user_id == user_id).order_by(
            models.OAuth1AccessToken.id))
        return listing(req, "access_tokens", f"/users/{user_id}/OS-OAUTH1/access_tokens",
                       [_show(row, base) for row in rows])

    def get_access_token(self, req, session, user_id, access_token_id):
        base = self._authorize_user(req, session, "identity:get_access_token", user_id)
        return json_response({"access_token": _show(
            _access_token(session, user_id, access_token_id), base)})

    def delete_access_token(self, req, session, user_id, access_token_id):
        self._authorize_user(req, session, "identity:delete_access_token", user_id)
        session.delete(_access_token(session, user_id, access_token_id))
        session.flush()
        return no_content()

    def list_roles(self, req, session, user_id, access_token_id):
        base = self._authorize_user(req, session, "identity:list_access_token_roles", user_id)
        row = _access_token(session, user_id, access_token_id)
        roles = session.scalars(select(models.Role).where(
            models.Role.id.in_(json.loads(row.role_ids))).order_by(models.Role.name))
        return listing(req, "roles", f"/users/{user_id}/OS-OAUTH1/access_tokens/{row.id}/roles",
                       [_show_role(role, base) for role in roles])

    def get_role(self, req, session, user_id, access_token_id, role_id):
        base = self._authorize_user(req, session, "identity:get_access_token_role", user_id)
        row = _access_token(session, user_id, access_token_id)
        role = session.get(models.Role, role_id) if role_id in json.loads(row.role_ids) \
            else None
        if role is None:
            raise errors.NotFound(f"Could not find role: {role_id}.")
        return json_response({"role": _show_role(role, base)})

    def _authorize_user(self, req, session, rule: str, user_id: str) -> str:
        base, _rows = self.authorize_on(req, session, rule, user=user_id)
        caller = policy.require_caller(req)
        if is_delegated(caller, counting_trusts=True):
            # As Keystone: a delegation cannot see or manage delegations.
            raise errors.Forbidden(ACCESS_TOKENS_REFUSED)
        return base


def _access_token(session, user_id: str, access_token_id: str) -> models.OAuth1AccessToken:
    """The user's access token; 404 for another user's, as for a missing one."""
    row = session.get(models.OAuth1AccessToken, access_token_id) \
        if len(access_token_id) <= 64 else None
    if row is None or row.authorizing_user_id != user_id:
        raise errors.NotFound("Access token not found")
    return row


def _show(row: models.OAuth1AccessToken, base: str) -> dict:
    """Keystone's rendering: never the secret, roles only by their link."""
    url = f"{base}/v3/users/{row.authorizing_user_id}/OS-OAUTH1/access_tokens/{row.id}"
    return {"id": row.id, "consumer_id": row.consumer_id,
            "authorizing_user_id": row.authorizing_user_id, "project_id": row.project_id,
            "expires_at": None if row.expires_at is None else isotime(row.expires_at),
            "links": {"self": url, "roles": f"{url}/roles"}}


def _show_role(role, base: str) -> dict:
    """As Keystone shows an access token's roles: the role less its description."""
    return {key: value for key, value in ROLES.show(role, base).items()
            if key != "description"}


def _form_response(row) -> webob.Response:
    """A consumer's new token, form-encoded as Keystone answers (201)."""
    values = {"oauth_token": row.id, "oauth_token_secret": row.secret}
    if row.expires_at is not None:
        values["oauth_expires_at"] = isotime(row.expires_at)
    return webob.Response(status=201, body=urlencode(values, safe=":").encode(), headerlist=[
        ("Content-Type", "application/x-www-form-urlencoded"), ("Cache-Control", "no-store")])


def _expired(row) -> bool:
    return row.expires_at is not None and row.expires_at <= now_us()


def _is_text(value, max_length: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= max_length
