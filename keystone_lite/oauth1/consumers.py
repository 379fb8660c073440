"""OAuth1 consumers (``/v3/OS-OAUTH1/consumers``): the declaration and what is special about
consumers.

Special, as Keystone: the secret is generated, shown in the create's response only, and cannot
be changed (a PATCH naming it is a 400); deleting a consumer deletes its request and access
tokens, so every token made from them fails its next validation (the deletion moves the change
counter: keystone_lite.oauth1.method).
"""
from __future__ import annotations

import json
import secrets

from sqlalchemy import delete

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity.resources import TEXT, Field, Hooks, Resource


class ConsumerHooks(Hooks):
    def creating(self, call, values, body):
        values["secret"] = secrets.token_hex(16)  # whatever the body says (as Keystone)

    def created(self, call, row, body):
        return {"secret": row.secret}

    def updating(self, call, row, changes, body):
        if "secret" in body:
            raise errors.ValidationError("The secret of a consumer cannot be changed.")

    def deleting(self, call, row):
        # Explicit, as users.delete_dependents: not left to the foreign keys' cascade.
        for model in (models.OAuth1RequestToken, models.OAuth1AccessToken):
            call.session.execute(delete(model).where(model.consumer_id == row.id))


def render(consumer, base: str) -> dict:
    extra = json.loads(consumer.extra) if consumer.extra else {}
    return {**extra, "id": consumer.id, "description": consumer.description,
            "links": {"self": f"{base}/v3/OS-OAUTH1/consumers/{consumer.id}"}}


CONSUMERS = Resource(
    name="consumer", collection="consumers", prefix="/OS-OAUTH1", model=models.OAuth1Consumer,
    fields=(Field("description", TEXT),
            # Declared so that a body's secret is neither kept as an extra attribute nor echoed.
            Field("secret", {}, column=False, secret=True)),
    render=render, order_by=("id",), keeps_extra=True, hooks=ConsumerHooks())
