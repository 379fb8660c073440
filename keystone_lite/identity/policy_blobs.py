"""Policy blobs (``/v3/policies``): Keystone's deprecated policy API, declared here.

Not to be confused with keystone_lite/policy.py, the rules that decide who may call what: a
policy here is a document a client stores (``type``, ``blob``, any extra attributes) and reads
back, as Keystone still serves it (Tempest tests it). Nothing enforces it. ``?type=`` filters
lists; the id is never chosen by the client and never changes (400, Keystone's wording).
"""
from __future__ import annotations

import json

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity.resources import Field, Hooks, Resource

# Keystone's keystone/policy/schema.py: any string, a type of at most 255 characters.
BLOB = {"type": "string"}
TYPE = {"type": "string", "maxLength": 255}


class PolicyBlobHooks(Hooks):
    def updating(self, call, row, changes, body):
        if "id" in body and body["id"] != row.id:
            raise errors.ValidationError("Cannot change policy ID")


def render(row, base: str) -> dict:
    """Keystone's policy document: the extra attributes, then the declared ones."""
    return {**(json.loads(row.extra) if row.extra else {}),
            "id": row.id, "type": row.type, "blob": row.blob,
            "links": {"self": f"{base}/v3/policies/{row.id}"}}


POLICY_BLOBS = Resource(
    name="policy", collection="policies", model=models.PolicyBlob,
    fields=(Field("type", TYPE, required=True, filter=True),
            Field("blob", BLOB, required=True)),
    render=render, order_by=("type", "id"), keeps_extra=True, hooks=PolicyBlobHooks())
