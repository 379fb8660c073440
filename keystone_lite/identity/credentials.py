"""Credentials (``/v3/credentials``): the declaration, what is special about credentials, and
the store functions the EC2 credentials API builds on (its credentials are rows of type ``ec2``).

Special, as Keystone 30:
- the blob is stored only encrypted (credential_keys.py) and shown decrypted;
- an ``ec2`` credential needs a ``project_id`` and a blob that is a JSON object with an
  ``access``; its id is the SHA-256 (hex) of that access (how ``ec2tokens`` finds it); an update
  cannot change what its blob binds it to (``trust_id``, ``app_cred_id``, ...);
- policy: the owner, a system reader (reads) or an admin. A list shows each caller only the
  credentials ``identity:get_credential`` lets it see, and an update is checked again on the
  credential as it would be, so that an owner cannot hand a credential to another user
  (Keystone's fix of OSSA-2020-005);
- a delegated token, trust-scoped ones included (keystone_lite.token.delegation), touches no
  credential: 403, and an empty list (Keystone's _require_primary_auth, without the exception
  its deprecated ``allow_insecure_admin_trust_cross_project_credentials_access`` makes);
- a credential goes with its user or its project (the foreign keys' ON DELETE CASCADE).

Served on both apps: users manage their own credentials (keystone_lite/app.py). Unlike
Keystone, the user and the project must exist (Keystone stores any id).
"""
from __future__ import annotations

import hashlib
import json

from sqlalchemy import false, select

from keystone_lite import errors, policy
from keystone_lite.context import get_context
from keystone_lite.db import models
from keystone_lite.identity import credential_keys, store
from keystone_lite.identity.resources import (ID, NULLABLE_ID, Field, Hooks, Resource,
                                              ResourceController)
from keystone_lite.token.delegation import CREDENTIALS_REFUSED, is_delegated

EC2 = "ec2"
# What an ec2 blob binds its credential to: an update may not change them.
EC2_BOUND_KEYS = ("trust_id", "app_cred_id", "access_token_id", "access_id")


def is_ec2(credential_type: str) -> bool:
    return credential_type.lower() == EC2


def ec2_id(access: str) -> str:
    """The id of the ec2 credential whose blob has this ``access``."""
    return hashlib.sha256(access.encode("utf-8")).hexdigest()


def ec2_blob(blob: str) -> dict:
    """The parsed blob of an ec2 credential; 400 worded as Keystone's unless it is a JSON object
    with an ``access`` string. The blob is never put in a message (it holds the secret)."""
    try:
        parsed = json.loads(blob)
    except ValueError:
        raise errors.ValidationError("Invalid blob in credential") from None
    if not parsed or not isinstance(parsed, dict):
        raise _expecting("blob")
    if not isinstance(parsed.get("access"), str):
        raise _expecting("access")
    return parsed


def _expecting(attribute: str) -> errors.ValidationError:
    return errors.ValidationError(
        f"Expecting to find {attribute} in credential. The server could not comply with the "
        "request since it is either malformed or otherwise incorrect. The client is assumed to "
        "be in error.")


# -- store functions (for this API and the EC2 credentials API) ----------------------------------

def ensure_new(session, credential_id: str) -> None:
    """409 as Keystone's when the id is taken (an ec2 access key used twice)."""
    if session.get(models.Credential, credential_id) is not None:
        raise errors.Conflict("Conflict occurred attempting to store credential - Duplicate "
                              f"entry found with ID {credential_id}.")


def add(session, keys, *, credential_id: str, user_id: str, project_id: str | None,
        credential_type: str, blob: str) -> models.Credential:
    """Store a credential with its blob encrypted by ``keys`` (credential_keys.for_request);
    409 when the id is taken."""
    ensure_new(session, credential_id)
    encrypted_blob, key_hash = credential_keys.encrypt(keys, blob)
    row = models.Credential(id=credential_id, user_id=user_id, project_id=project_id,
                            type=credential_type, encrypted_blob=encrypted_blob,
                            key_hash=key_hash)
    session.add(row)
    session.flush()
    return row


def of_user(session, keys, user_id: str, credential_type: str | None = None
            ) -> list[tuple[models.Credential, str]]:
    """The user's credentials (of ``credential_type`` only, when given), in id order, each with
    its decrypted blob."""
    query = select(models.Credential).where(models.Credential.user_id == user_id)
    if credential_type is not None:
        query = query.where(models.Credential.type == credential_type)
    return [(row, credential_keys.decrypt(keys, row.encrypted_blob))
            for row in session.scalars(query.order_by(models.Credential.id))]


def ec2_of_access(session, keys, access: str) -> tuple[models.Credential, dict] | None:
    """The ec2 credential whose blob has this ``access``, with its parsed blob; None when
    there is none."""
    row = session.get(models.Credential, ec2_id(access))
    if row is None or not is_ec2(row.type):
        return None
    return row, ec2_blob(credential_keys.decrypt(keys, row.encrypted_blob))


def refuse_delegated(req) -> None:
    """403 for a delegated caller (trust-scoped included): the credentials are its user's,
    not the delegation's (Keystone's _require_primary_auth; the OS-EC2 calls too)."""
    if is_delegated(get_context(req.environ)["caller"], counting_trusts=True):
        raise errors.Forbidden(CREDENTIALS_REFUSED)


# -- the API ------------------------------------------------------------------------------------

def render(row, base: str) -> dict:
    """Keystone's credential without its blob (decorate adds it, decrypted)."""
    return {**(json.loads(row.extra) if row.extra else {}), "id": row.id,
            "user_id": row.user_id, "project_id": row.project_id, "type": row.type,
            "links": {"self": f"{base}/v3/credentials/{row.id}"}}


class CredentialHooks(Hooks):
    def creating(self, call, values, body):
        refuse_delegated(call.req)
        _check_references(call.session, values["user_id"], values["project_id"])
        if is_ec2(values["type"]):
            if values["project_id"] is None:
                raise _ec2_needs_project()
            values["id"] = ec2_id(ec2_blob(body["blob"])["access"])
            ensure_new(call.session, values["id"])
        keys = credential_keys.for_request(call.settings)
        values["encrypted_blob"], values["key_hash"] = credential_keys.encrypt(keys, body["blob"])

    def list_conditions(self, call, params):
        # Keystone shows each listed credential only to whom identity:get_credential allows.
        # Its rule admits a credential of no user only for what is not ownership (an admin, a
        # system reader): such a caller sees all, anyone else their own; a delegated one none.
        if is_delegated(get_context(call.req.environ)["caller"], counting_trusts=True):
            return [false()]
        caller = policy.credentials_of(call.req, call.settings)
        if policy.RULES["identity:get_credential"](caller, {"credential.user_id": None}):
            return []
        return [models.Credential.user_id == caller.user_id]

    def updating(self, call, row, changes, body):
        refuse_delegated(call.req)
        if body.get("id") not in (None, row.id):
            raise errors.ValidationError("Cannot change ID")
        after = {name: changes.get(name, getattr(row, name))
                 for name in ("user_id", "project_id", "type")}
        policy.enforce(call.req, call.settings, "identity:update_credential",
                       {f"credential.{name}": value
                        for name, value in {"id": row.id, **after}.items()})
        _check_references(call.session, changes.get("user_id"), changes.get("project_id"))
        keys = None
        if is_ec2(after["type"]):
            if after["project_id"] is None:
                raise _ec2_needs_project()
            if "blob" in body or not is_ec2(row.type):
                keys = credential_keys.for_request(call.settings)
                _check_ec2_update(keys, row, body.get("blob"))
        if "blob" in body:
            keys = keys or credential_keys.for_request(call.settings)
            changes["encrypted_blob"], changes["key_hash"] = credential_keys.encrypt(
                keys, body["blob"])

    def deleting(self, call, row):
        refuse_delegated(call.req)

    def showing_one(self, call, row, body):
        refuse_delegated(call.req)

    def decorate(self, call, rows, bodies):
        if rows:
            keys = credential_keys.for_request(call.settings)
            for row, body in zip(rows, bodies):
                body["blob"] = credential_keys.decrypt(keys, row.encrypted_blob)


def _check_references(session, user_id: str | None, project_id: str | None) -> None:
    if user_id is not None and store.find_user(session, user_id=user_id) is None:
        raise errors.ValidationError(f"Could not find user: {user_id}.")
    if project_id is not None and store.find_project(session, project_id=project_id) is None:
        raise errors.ValidationError(f"Could not find project: {project_id}.")


def _ec2_needs_project() -> errors.ValidationError:
    return errors.ValidationError("Invalid input for field/attribute project_id. An ec2 "
                                  "credential requires a project_id.")


def _check_ec2_update(keys, row, new_blob: str | None) -> None:
    """The blob an ec2 credential will have is an ec2 blob, bound to what it was bound to."""
    old_blob = credential_keys.decrypt(keys, row.encrypted_blob)
    parsed = ec2_blob(new_blob if new_blob is not None else old_blob)
    if new_blob is None or not is_ec2(row.type):
        return
    try:
        old = json.loads(old_blob)
    except ValueError:
        old = {}
    for key in EC2_BOUND_KEYS:
        if (old.get(key) if isinstance(old, dict) else None) != parsed.get(key):
            raise errors.ValidationError(f"{key} can not be updated for credential")


def routes(services) -> list:
    """``/v3/credentials`` and ``/v3/credentials/{id}``."""
    return ResourceController(services, {"credential": CREDENTIALS}, CREDENTIALS).routes()


CREDENTIALS = Resource(
    name="credential", collection="credentials", model=models.Credential,
    fields=(
        Field("user_id", ID, required=True, filter=True),
        Field("project_id", NULLABLE_ID),
        Field("type", {"type": "string", "maxLength": 255}, required=True, filter=True),
        Field("blob", {"type": "string"}, required=True, column=False, secret=True),
    ),
    render=render, order_by=("id",), target=("id", "user_id", "project_id", "type"),
    keeps_extra=True, hooks=CredentialHooks())
