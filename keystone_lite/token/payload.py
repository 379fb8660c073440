"""What a token says, and its compact, self-describing binary encoding.

The encoding is a msgpack list whose first element says the layout. Auth methods are a bitmask
over a fixed tuple defined here (not over the configured method order, which broke Keystone
tokens when operators reordered ``[auth] methods``). 32-hex ids and audit ids travel as raw
bytes, which keeps a Fernet token around 200 characters.

Version 2 (``_VERSION``): ``[header, user id, scope id, issued_at, expires_at, audit ids, user
revision, project revision]``, where the header packs the method mask, the scope kind and the
version into one byte (``mask << 4 | scope << 2 | 2``). The two revisions cost two bytes and the
header saves two, so tokens are as long as in version 1 while revisions stay under 128 (a
msgpack int that small is one byte); the header of a token with the fourth method
(``ec2credential``) takes two. Version 1 (``[1, mask, user id, scope, scope id,
issued_at, expires_at, audit ids]``, made before revisions existed) still decodes, with both
revisions 0: the revision every user and project had when they were added (migration 0003).
"""
from __future__ import annotations

import base64
import dataclasses
import re
import secrets
import time

import msgpack

# Rendering order too: Keystone lists "token" before the methods it was rescoped from. New
# methods go last: a method's bit is its index here.
METHODS = ("token", "external", "password", "ec2credential")
# The method of a token made from an EC2 or S3 signature (keystone_lite.ec2.tokens).
EC2_CREDENTIAL = "ec2credential"
SCOPE_KINDS = ("project", "domain", "system")
_VERSION = 2
_VERSION_1 = 1
# A payload beyond what the service stores and prints was not made by ``encode`` and would
# fail validation's queries or rendering instead of the token: times up to the last
# microsecond of year 9999 (datetime's limit, well under BIGINT's), ids of up to 64 characters.
_MAX_TIME = 253_402_300_799_999_999
_MAX_ID = 64
_MAX_AUDIT_IDS = 3
_MAX_REVISION = 2**63 - 1  # BIGINT
_HEX_ID = re.compile(r"[0-9a-f]{32}")  # a uuid4().hex: packed as its 16 bytes


class MalformedPayload(ValueError):
    """The bytes are not a payload this version can read."""


@dataclasses.dataclass(frozen=True)
class TokenPayload:
    user_id: str
    methods: tuple[str, ...]
    issued_at: int  # microseconds since the epoch, UTC
    expires_at: int
    # Own id first; a rescoped token's then hold its branch and, last, its chain's root (see
    # TokenService.chained): three at most.
    audit_ids: tuple[str, ...]
    scope_kind: str | None = None  # one of SCOPE_KINDS, or None when unscoped
    scope_id: str | None = None  # project or domain id; "all" for the system scope
    # The user's revision, and for a project scope the project's, as read when the token was
    # earned (a rescoped token keeps its parent's): a change that must kill the token moves
    # the stored revision, and validation refuses a token whose revisions are not current.
    user_revision: int = 0
    project_revision: int = 0

    @property
    def project_id(self) -> str | None:
        return self.scope_id if self.scope_kind == "project" else None

    @property
    def shown_audit_ids(self) -> list[str]:
        """As Keystone shows them: the token's own id, then its chain's root when rescoped
        (``audit_chain_id``); the branch id between them is keystone_lite's own."""
        return list(dict.fromkeys((self.audit_ids[0], self.audit_ids[-1])))

    @property
    def domain_id(self) -> str | None:
        return self.scope_id if self.scope_kind == "domain" else None


def now_us() -> int:
    return time.time_ns() // 1000


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


def encode(payload: TokenPayload) -> bytes:
    """The bytes of ``payload`` (version 2); raises ValueError for a payload ``decode`` would
    not accept."""
    mask = 0
    for method in payload.methods:
        mask |= 1 << METHODS.index(method)  # ValueError for an unknown method
    scope = SCOPE_KINDS.index(payload.scope_kind) + 1 if payload.scope_kind else 0
    if not mask or not 0 < len(payload.audit_ids) <= _MAX_AUDIT_IDS \
            or bool(scope) != bool(payload.scope_id):
        raise ValueError("a payload needs a method, an audit id, and a scope id with its scope")
    if not all(_is_revision(revision) for revision in (payload.user_revision,
                                                      payload.project_revision)):
        raise ValueError("a revision is an integer from 0 to 2**63 - 1")
    return msgpack.packb([
        mask << 4 | scope << 2 | _VERSION, _pack_id(payload.user_id),
        _pack_id(payload.scope_id) if payload.scope_id else None,
        payload.issued_at, payload.expires_at,
        [_b64decode(audit_id) for audit_id in payload.audit_ids],
        payload.user_revision, payload.project_revision,
    ])


def decode(data: bytes) -> TokenPayload:
    """Inverse of ``encode``, and reads version 1; raises MalformedPayload for anything else."""
    try:
        fields = msgpack.unpackb(data)
        if not isinstance(fields, list) or len(fields) != 8 or not _is_int(fields[0]):
            raise MalformedPayload("unknown payload layout")
        if fields[0] == _VERSION_1:
            _, mask, user_id, scope, scope_id, issued_at, expires_at, audits = fields
            user_revision = project_revision = 0
        elif 0 <= fields[0] and fields[0] & 3 == _VERSION:
            (header, user_id, scope_id, issued_at, expires_at, audits, user_revision,
             project_revision) = fields
            mask, scope = header >> 4, header >> 2 & 3
        else:
            raise MalformedPayload("unknown payload layout")
        if not all(_is_int(field) for field in (mask, scope, issued_at, expires_at)) \
                or not 0 < mask < 1 << len(METHODS) \
                or not 0 <= scope <= len(SCOPE_KINDS) or (scope == 0) != (scope_id is None) \
                or not 0 <= issued_at <= _MAX_TIME or not 0 <= expires_at <= _MAX_TIME \
                or not isinstance(audits, list) or not 0 < len(audits) <= _MAX_AUDIT_IDS \
                or not _is_revision(user_revision) or not _is_revision(project_revision):
            raise MalformedPayload("unknown payload layout")
        return TokenPayload(
            user_id=_unpack_id(user_id),
            methods=tuple(m for i, m in enumerate(METHODS) if mask & (1 << i)),
            issued_at=issued_at,
            expires_at=expires_at,
            audit_ids=tuple(_b64encode(a) for a in audits),
            scope_kind=SCOPE_KINDS[scope - 1] if scope else None,
            scope_id=_unpack_id(scope_id) if scope_id is not None else None,
            user_revision=user_revision,
            project_revision=project_revision,
        )
    except MalformedPayload:
        raise
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise MalformedPayload(str(exc)) from None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_revision(value) -> bool:
    return _is_int(value) and 0 <= value <= _MAX_REVISION


def _pack_id(value: str) -> bytes | str:
    # Only the exact text bytes.hex() gives back (bytes.fromhex also accepts spaces).
    if _HEX_ID.fullmatch(value):
        return bytes.fromhex(value)
    return value


def _unpack_id(value) -> str:
    if isinstance(value, bytes) and len(value) * 2 <= _MAX_ID:
        return value.hex()
    if isinstance(value, str) and len(value) <= _MAX_ID and "\x00" not in value:
        return value
    raise MalformedPayload("id of unknown type or size")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(raw: bytes) -> str:
    if not isinstance(raw, bytes) or len(raw) > _MAX_ID * 3 // 4:
        raise MalformedPayload("audit id of unknown type or size")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
