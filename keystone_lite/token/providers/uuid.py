"""UUID provider: an opaque random id persisted with its payload (the 2012 behaviour)."""
from __future__ import annotations

import uuid

from keystone_lite.db import models
from keystone_lite.token import payload as token_payload


class UUIDProvider:
    name = "uuid"

    def issue(self, payload: token_payload.TokenPayload, session) -> str:
        token_id = uuid.uuid4().hex
        session.add(models.Token(id=token_id, user_id=payload.user_id,
                                 expires_at=payload.expires_at,
                                 payload=token_payload.encode(payload)))
        return token_id

    def open(self, token_id: str, session) -> token_payload.TokenPayload | None:
        if len(token_id) != 32:
            return None
        row = session.get(models.Token, token_id)
        if row is None:
            return None
        try:
            return token_payload.decode(row.payload)
        except token_payload.MalformedPayload:
            return None
