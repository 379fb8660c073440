"""UUID provider: an opaque random id persisted with its payload (the 2012 behaviour)."""
from __future__ import annotations

import re
import uuid

from keystone_lite.db import models
from keystone_lite.token import payload as token_payload


# What issue() makes; checked before the lookup because PostgreSQL refuses a NUL in a query
# parameter (DataError, a 500) where SQLite merely finds nothing.
_TOKEN_ID = re.compile(r"[0-9a-f]{32}")


class UUIDProvider:
    name = "uuid"
    opens_from_store = True  # a token is a row (TokenService validates it in a session)

    def issue(self, payload: token_payload.TokenPayload, session) -> str:
        token_id = uuid.uuid4().hex
        session.add(models.Token(id=token_id, user_id=payload.user_id,
                                 expires_at=payload.expires_at,
                                 payload=token_payload.encode(payload)))
        return token_id

    @staticmethod
    def refresh_keys():
        """No keys: a uuid token's answer depends on database rows alone."""
        return None

    def open(self, token_id: str, session) -> token_payload.TokenPayload | None:
        if not _TOKEN_ID.fullmatch(token_id):
            return None
        row = session.get(models.Token, token_id)
        if row is None:
            return None
        try:
            return token_payload.decode(row.payload)
        except token_payload.MalformedPayload:
            return None
