"""A user's EC2 credentials (``/v3/users/{user_id}/credentials/OS-EC2[/{access}]``), as
Keystone 30 serves them: credentials of type ``ec2`` of the credentials API
(keystone_lite.identity.credentials stores them, encrypted), shown in the OS-EC2 shape
``{"user_id", "tenant_id", "access", "secret", "trust_id", "links"}``.

A new credential gets a random access and secret (hex UUIDs, as Keystone makes them). As
Keystone 30, a delegated token (trust-scoped, an application credential's, OAuth1, OAuth 2.0:
keystone_lite.token.delegation) lists, makes, reads and deletes none (403), so a new blob binds
the credential to no delegation; one bound to a trust, an application credential or an OAuth1
access token (made before, or imported from Keystone) is refused by ``/v3/ec2tokens``, as long
as keystone_lite cannot issue a token restricted to that delegation. A token made from an EC2
signature cannot make credentials (policy.require_caller refuses it everywhere).

Policy: Keystone's ``identity:ec2_*`` rules (the owner, a system reader for reads, an admin).
Served on both apps: users manage their own (keystone_lite/app.py). Unlike Keystone, a
credential is found only under its own user's path (Keystone shows any user's credential
under the path of any existing user to whom policy lets see it).
"""
from __future__ import annotations

import json
import uuid

from keystone_lite import errors
from keystone_lite.context import get_context
from keystone_lite.db import models
from keystone_lite.identity import credential_keys, credentials as credential_store, parsing
from keystone_lite.identity.admin import AdminController, ident, listing
from keystone_lite.router import json_response, no_content
from keystone_lite.token.body import field

# What an EC2 credential may be bound to (the blob's keys, Keystone's names): null in a blob
# made here.
DELEGATIONS = ("trust_id", "app_cred_id", "access_token_id")


def routes(services) -> list:
    controller = Ec2Credentials(services)
    collection = rf"/users/{ident('user_id')}/credentials/OS-EC2"
    return [(collection, {"GET": controller.list, "POST": controller.create}),
            (rf"{collection}/{ident('access')}", {"GET": controller.get,
                                                   "DELETE": controller.delete})]


def render(row, blob: dict, base: str) -> dict:
    access = blob["access"]
    return {"user_id": row.user_id, "tenant_id": row.project_id, "access": access,
            "secret": blob.get("secret"), "trust_id": blob.get("trust_id"),
            "links": {"self": f"{base}/v3/users/{row.user_id}/credentials/OS-EC2/{access}"}}


class Ec2Credentials(AdminController):
    def __init__(self, services):
        super().__init__(services, {})

    def list(self, req, session, user_id):
        base = self.authorize(req, "identity:ec2_list_credentials", {"user_id": user_id})
        credential_store.refuse_delegated(req)
        parsing.load(session, models.User, user_id, "user")
        keys = credential_keys.for_request(self.settings)
        return listing(req, "credentials", f"/users/{user_id}/credentials/OS-EC2", [
            render(row, credential_store.ec2_blob(blob), base)
            for row, blob in credential_store.of_user(session, keys, user_id)
            if credential_store.is_ec2(row.type)])

    def create(self, req, session, user_id):
        base = self.authorize(req, "identity:ec2_create_credential",
                              {"user_id": user_id, "credential.user_id": user_id})
        document = get_context(req.environ)["json"]
        if document is None:
            raise errors.ValidationError("Expecting to find tenant_id in request body.")
        tenant_id = field(document, "tenant_id", str, "request body")
        parsing.load(session, models.User, user_id, "user")
        project = parsing.load(session, models.Project, tenant_id, "project")
        credential_store.refuse_delegated(req)
        keys = credential_keys.for_request(self.settings)
        blob = {"access": uuid.uuid4().hex, "secret": uuid.uuid4().hex,
                **dict.fromkeys(DELEGATIONS)}
        row = credential_store.add(
            session, keys, credential_id=credential_store.ec2_id(blob["access"]),
            user_id=user_id, project_id=project.id, credential_type=credential_store.EC2,
            blob=json.dumps(blob))
        return json_response({"credential": render(row, blob, base)}, status=201)

    def get(self, req, session, user_id, access):
        base, row = self._authorized(req, session, "identity:ec2_get_credential", user_id,
                                     access)
        blob = credential_keys.decrypt(credential_keys.for_request(self.settings),
                                       row.encrypted_blob)
        return json_response({"credential": render(row, credential_store.ec2_blob(blob),
                                                   base)})

    def delete(self, req, session, user_id, access):
        _base, row = self._authorized(req, session, "identity:ec2_delete_credential", user_id,
                                      access)
        session.delete(row)
        session.flush()
        return no_content()

    def _authorized(self, req, session, rule: str, user_id: str, access: str):
        """(base URL, the credential) after ``rule``'s check on it; a missing one is checked
        as the path's user's, so that its owner gets the 404 (Keystone's) and nobody else
        learns whether it exists."""
        credential_id = credential_store.ec2_id(access)
        row = session.get(models.Credential, credential_id)
        if row is not None and (not credential_store.is_ec2(row.type)
                                or row.user_id != user_id):
            row = None
        base = self.authorize(req, rule, {"credential.user_id": user_id})
        parsing.load(session, models.User, user_id, "user")
        if row is None:
            raise errors.NotFound(f"Could not find credential: {credential_id}.")
        credential_store.refuse_delegated(req)
        return base, row
