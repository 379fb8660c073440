"""A user's application credentials and access rules, self-service on both apps (as Keystone):
``/v3/users/{user_id}/application_credentials[/{id}]`` (list ``?name=``, create, show, delete)
and ``/v3/users/{user_id}/access_rules[/{id}]`` (list ``?service=&path=&method=``, show,
delete).

A credential is created by its user with a project-scoped token, for that project, with roles of
that token (all of them by default); its secret (sent, or 64 random bytes URL-safe base64) is
hashed as passwords are and shown only in the create response. A token standing on a restricted
credential (the default: ``unrestricted`` not true) may not create or delete credentials
(``require_unrestricted``); any other delegated token (trust-scoped, OAuth1, OAuth 2.0:
keystone_lite.token.delegation) may not even read them (``refuse_delegated``). Access rules are
the user's, shared by the credentials naming them; one in use is not deleted (403, as Keystone).
What a credential's tokens carry and when they die:
keystone_lite.identity.application_credential_store.for_token.

Not a generic admin resource (resources.ResourceController serves top-level collections): the
declaration below gives the create body's schema, Keystone's wording of its refusals and the
policy rule names; the handlers are here.
"""
from __future__ import annotations

import base64
import datetime
import secrets

from sqlalchemy import select

from keystone_lite import errors, policy
from keystone_lite.context import get_context
from keystone_lite.db import models
from keystone_lite.identity import application_credential_store as credentials, parsing, store
from keystone_lite.identity.application_credential_store import require_unrestricted
from keystone_lite.identity.admin import AdminController, ident, listing
from keystone_lite.identity.render import password_expires_at as render_time
from keystone_lite.identity.resources import (BOOLEAN, TEXT, Field, Resource, ensure_unique,
                                              name)
from keystone_lite.identity.users import PASSWORD_MAX
from keystone_lite.router import json_response, no_content
from keystone_lite.token.delegation import APPLICATION_CREDENTIALS_REFUSED, is_delegated
from keystone_lite.token.payload import now_us

SECRET_BYTES = 64  # Keystone's: 86 URL-safe characters
ID_STRING = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[a-zA-Z0-9-]+$"}
ROLES = {"type": "array", "items": {
    "type": "object", "properties": {"id": ID_STRING, "name": name(255)},
    "minProperties": 1, "maxProperties": 1, "additionalProperties": False}}
METHODS = ("POST", "GET", "HEAD", "PATCH", "PUT", "DELETE")
ACCESS_RULES = {"type": "array", "items": {
    "type": "object", "properties": {
        "path": {"type": "string", "minLength": 0, "maxLength": 225, "pattern": r"^\/.*"},
        "method": {"type": "string", "pattern": rf"^({'|'.join(METHODS)})$"},
        "service": ID_STRING,
        "id": ID_STRING},
    "additionalProperties": False}}
TIMESTAMP_REFUSED = ("Timestamp not in expected format. The server could not comply with the "
                     "request since it is either malformed or otherwise incorrect. The client "
                     "is assumed to be in error.")
PAST_REFUSED = ("The 'expires_at' must not be before now. The server could not comply with the "
                "request since it is either malformed or otherwise incorrect. The client is "
                "assumed to be in error.")

APPLICATION_CREDENTIALS = Resource(
    name="application_credential", collection="application_credentials",
    model=models.ApplicationCredential,
    fields=(
        Field("name", name(255), required=True),
        Field("description", TEXT),
        Field("secret", {"type": ["string", "null"], "maxLength": PASSWORD_MAX}, secret=True),
        Field("expires_at", {"type": ["string", "null"]}),
        Field("roles", ROLES),
        Field("unrestricted", BOOLEAN),
        Field("access_rules", ACCESS_RULES),
    ),
    unique=("name", "user_id"))


def routes(services) -> list:
    return ApplicationCredentialController(services).routes()


def new_secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=").decode()


def parse_expiry(value: str | None) -> int | None:
    """``expires_at`` as µs since the epoch: ISO 8601, UTC unless it names a zone (Keystone
    reads ``2026-12-05T22:30:36.000000``); 400 if unreadable or past."""
    if value is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):  # OverflowError: past year 9999 once in UTC
        raise errors.ValidationError(TIMESTAMP_REFUSED) from None
    expires_at = (moment - datetime.datetime(1970, 1, 1)) // datetime.timedelta(microseconds=1)
    if expires_at <= now_us():
        raise errors.ValidationError(PAST_REFUSED)
    return expires_at


def _storable(identifier: str) -> bool:
    """Whether a path id could be stored at all (no query for one that cannot)."""
    return len(identifier) <= 64 and "\x00" not in identifier


def credential_not_found(credential_id: str) -> errors.NotFound:
    return errors.NotFound(f"Could not find Application Credential: {credential_id[:255]}.")


def rule_not_found(rule_id: str) -> errors.NotFound:
    return errors.NotFound(f"Could not find Access Rule: {rule_id[:255]}.")


# -- rendering ----------------------------------------------------------------------------------

def render_rule(rule) -> dict:
    return {"id": rule.id, "service": rule.service, "path": rule.path, "method": rule.method}


def render_role(role) -> dict:
    return {"id": role.id, "name": role.name, "domain_id": role.domain_id,
            "description": role.description or None, "options": {}}


def render(session, rows: list, base: str, secret: str | None = None) -> list[dict]:
    """Keystone's bodies, in its key order; the ``secret`` only for the create response."""
    ids = [row.id for row in rows]
    role_ids = credentials.role_ids(session, ids)
    wanted = {role_id for found in role_ids.values() for role_id in found}
    roles = {role.id: role for role in session.scalars(
        select(models.Role).where(models.Role.id.in_(wanted)))} if wanted else {}
    rules = credentials.access_rules(session, ids)
    bodies = []
    for row in rows:
        body = {
            "id": row.id, "name": row.name, "description": row.description,
            "user_id": row.user_id, "project_id": row.project_id, "system": None,
            "expires_at": render_time(row.expires_at), "unrestricted": row.unrestricted,
            "roles": [render_role(roles[role_id]) for role_id in role_ids[row.id]
                      if role_id in roles],
        }
        if row.id in rules:
            body["access_rules"] = [render_rule(rule) for rule in rules[row.id]]
        if secret is not None:
            body["secret"] = secret
        body["links"] = {"self": f"{base}/v3/application_credentials/{row.id}"}
        bodies.append(body)
    return bodies


def render_listed_rule(rule, base: str) -> dict:
    return {**render_rule(rule), "links": {"self": f"{base}/v3/access_rules/{rule.id}"}}


def refuse_delegated(req) -> None:
    """Keystone's _block_delegated_token_app_creds, after the policy check of every call here:
    a delegated token, trust-scoped ones included, neither reads nor makes credentials, except
    an application credential's own (``require_unrestricted`` says what that one may do)."""
    caller = get_context(req.environ)["caller"]
    if caller is not None and caller.payload.application_credential_id is None \
            and is_delegated(caller, counting_trusts=True):
        raise errors.Forbidden(APPLICATION_CREDENTIALS_REFUSED)


# -- the API --------------------------------------------------------------------------------------

class ApplicationCredentialController(AdminController):
    def __init__(self, services):
        super().__init__(services, {})
        self.resource = APPLICATION_CREDENTIALS

    def routes(self):
        user = rf"/users/{ident('user_id')}"
        return [
            (rf"{user}/application_credentials", {"GET": self.list, "POST": self.create}),
            (rf"{user}/application_credentials/{ident('credential_id')}",
             {"GET": self.get, "DELETE": self.delete}),
            (rf"{user}/access_rules", {"GET": self.list_rules}),
            (rf"{user}/access_rules/{ident('rule_id')}",
             {"GET": self.get_rule, "DELETE": self.delete_rule}),
        ]

    # GET /v3/users/{user_id}/application_credentials
    def list(self, req, session, user_id):
        params = parsing.query(req)
        base = self.authorize(req, self.resource.rule("list"), {"user.id": user_id})
        refuse_delegated(req)
        rows = credentials.list_for_user(session, user_id, params.get("name")) \
            if _storable(user_id) else []
        return listing(req, "application_credentials", f"/users/{user_id}/application_credentials",
                       render(session, rows, base))

    # GET /v3/users/{user_id}/application_credentials/{id}
    def get(self, req, session, user_id, credential_id):
        base, row = self._credential(req, session, "get", user_id, credential_id)
        return json_response({"application_credential": render(session, [row], base)[0]})

    # DELETE /v3/users/{user_id}/application_credentials/{id}
    def delete(self, req, session, user_id, credential_id):
        _base, row = self._credential(req, session, "delete", user_id, credential_id)
        require_unrestricted(policy.require_caller(req))
        credentials.remove(session, row)
        self.services.audit.changed(req, session, "deleted", "application_credential", row.id)
        return no_content()

    def _credential(self, req, session, action: str, user_id: str, credential_id: str):
        """The policy check on the credential's owner (Keystone reads it from the credential,
        not the path), then the row, which must be the path user's: 404 otherwise."""
        row = credentials.find(session, credential_id) if _storable(credential_id) else None
        if row is not None and row.user_id != user_id:
            row = None
        base = self.authorize(req, self.resource.rule(action), {"user.id": user_id})
        refuse_delegated(req)
        if row is None:
            raise credential_not_found(credential_id)
        return base, row

    # POST /v3/users/{user_id}/application_credentials
    def create(self, req, session, user_id):
        base = self.authorize(req, self.resource.rule("create"), {"user.id": user_id})
        body = parsing.entity(req, self.resource.name)
        self.resource.validate(body, creating=True)
        refuse_delegated(req)
        caller = policy.require_caller(req)
        require_unrestricted(caller)
        if caller.project is None:
            raise errors.ValidationError("Invalid application credential: an application "
                                         "credential is created with a project-scoped token.")
        expires_at = parse_expiry(body.get("expires_at"))
        secret = body.get("secret") or new_secret()
        # Before the first query: the request holds no connection while it waits to hash.
        secret_hash = self.services.passwords.hash(secret)
        values = {"id": store.new_id(), "user_id": user_id, "project_id": caller.project.id,
                  "name": body["name"], "description": body.get("description"),
                  "secret_hash": secret_hash, "expires_at": expires_at,
                  "unrestricted": body.get("unrestricted")}
        role_ids = self._roles(session, caller, body.get("roles"))
        rules = self._rules(session, user_id, body.get("access_rules") or [])
        ensure_unique(session, self.resource, values)
        row = credentials.create(session, values, role_ids, rules)
        self.services.audit.changed(req, session, "created", "application_credential", row.id)
        return json_response({"application_credential": render(session, [row], base, secret)[0]},
                             status=201)

    @staticmethod
    def _roles(session, caller, wanted: list | None) -> list[str]:
        """The ids of the roles asked for (by id or name), each one the token carries (roles
        it implies included); all of the token's when none are asked for."""
        carried = [role.id for role in caller.roles]
        if not wanted:
            return carried
        chosen = []
        for reference in wanted:
            role_id = reference.get("id")
            if role_id is None:
                role = store.find_role(session, name=reference["name"])
                if role is None:
                    raise errors.NotFound(f"Could not find role: {reference['name']}.")
                role_id = role.id
            if role_id not in carried:
                raise errors.ValidationError("Invalid application credential: Cannot create an "
                                             "application credential with unassigned role")
            if role_id not in chosen:
                chosen.append(role_id)
        return chosen

    @staticmethod
    def _rules(session, user_id: str, wanted: list[dict]) -> list:
        """The user's access rules the body names: by ``id`` (one of the user's), or by
        service, method and path (the same rule of the user's, else a new one)."""
        rules = []
        for document in wanted:
            rule = None
            if "id" in document:
                rule = credentials.find_rule(session, document["id"])
                if rule is not None and rule.user_id != user_id:
                    raise rule_not_found(document["id"])
            if rule is None:
                if any(key not in document for key in ("service", "method", "path")):
                    if "id" in document:
                        raise rule_not_found(document["id"])
                    raise errors.ValidationError("Invalid input for field/attribute "
                                                 "access_rules: an access rule needs service, "
                                                 "method and path.")
                rule = credentials.find_same_rule(session, user_id, document["service"],
                                                  document["path"], document["method"])
            if rule is None:
                rule = models.AccessRule(id=document.get("id") or store.new_id(),
                                         user_id=user_id, service=document["service"],
                                         path=document["path"], method=document["method"])
                session.add(rule)  # found by the next identical rule of the body
            if rule not in rules:
                rules.append(rule)
        return rules

    # GET /v3/users/{user_id}/access_rules
    def list_rules(self, req, session, user_id):
        params = parsing.query(req)
        base = self.authorize(req, "identity:list_access_rules", {"user.id": user_id})
        refuse_delegated(req)
        filters = {key: params[key] for key in ("service", "path", "method") if key in params}
        rules = credentials.list_rules(session, user_id, filters) if _storable(user_id) else []
        return listing(req, "access_rules", f"/users/{user_id}/access_rules",
                       [render_listed_rule(rule, base) for rule in rules])

    # GET /v3/users/{user_id}/access_rules/{id}
    def get_rule(self, req, session, user_id, rule_id):
        base, rule = self._rule(req, session, "identity:get_access_rule", user_id, rule_id)
        return json_response({"access_rule": render_listed_rule(rule, base)})

    # DELETE /v3/users/{user_id}/access_rules/{id}
    def delete_rule(self, req, session, user_id, rule_id):
        _base, rule = self._rule(req, session, "identity:delete_access_rule", user_id, rule_id)
        if credentials.rule_in_use(session, rule.id):
            raise errors.Forbidden("May not delete access rule in use")
        session.delete(rule)
        session.flush()
        return no_content()

    def _rule(self, req, session, rule_name: str, user_id: str, rule_id: str):
        base = self.authorize(req, rule_name, {"user.id": user_id})
        refuse_delegated(req)
        rule = credentials.find_rule(session, rule_id) if _storable(rule_id) else None
        if rule is None or rule.user_id != user_id:
            raise rule_not_found(rule_id)
        return base, rule

