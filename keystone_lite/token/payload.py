"""What a token says, and its compact, self-describing binary encoding.

The encoding is a msgpack list whose first element says the layout. Auth methods are a bitmask
over a fixed tuple defined here (not over the configured method order, which broke Keystone
tokens when operators reordered ``[auth] methods``). 32-hex ids and audit ids travel as raw
bytes, which keeps a Fernet token around 200 characters.

Version 2 (``_VERSION``): ``[header, user id, scope id, issued_at, expires_at, audit ids, user
revision, project revision]``, where the header packs the method mask, the scope kind and the
version into one byte (``mask << 4 | scope << 2 | 2``). The two revisions cost two bytes and the
header saves two, so tokens are as long as in version 1 while revisions stay under 128 (a
msgpack int that small is one byte). Version 1 (``[1, mask, user id, scope, scope id,
issued_at, expires_at, audit ids]``, made before revisions existed) still decodes, with both
revisions 0: the revision every user and project had when they were added (migration 0003).

What only some tokens carry comes after, in one msgpack map of optional parts, absent when
empty (so every token made before stays as it was, and decodes): ``"t": [trust id, trustor
revision]`` for a trust-scoped token, ``"o": access token id`` for one made with an OAuth1
access token (method ``oauth1``), ``"a": application credential id`` for one earned with an
application credential (or rescoped from one), and ``"c"`` or ``"b"``: the id of the client
certificate the token was earned with (its row in the ``certificates`` table, see
keystone_lite.certificates: an integer, three bytes up to 65,535 certificates, so that a
trust-scoped or application credential token made with a token stays under 255 characters),
``"b"`` when the token is bound to it (only that certificate may present it); an OAuth 2.0
mutual-TLS token (method ``oauth2_credential``) always is. A part this version does not know is
refused, so that no token validates without what restricts it. Methods past the third take the
header past one byte (two more bytes).
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
METHODS = ("token", "external", "password", "oauth1", "application_credential", "ec2credential",
           "oauth2_credential")
# The method of a token made from an EC2 or S3 signature (keystone_lite.ec2.tokens).
EC2_CREDENTIAL = "ec2credential"
# The method of a token made by OAuth 2.0 mutual TLS (keystone_lite.token.oauth2_mtls). Keystone
# does not register it as an auth method, so its tokens show ``"methods": []``: rendering hides
# it (HIDDEN_METHODS), while the payload keeps it to tell such a token apart.
OAUTH2_CREDENTIAL = "oauth2_credential"
HIDDEN_METHODS = frozenset({OAUTH2_CREDENTIAL})
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
_MAX_CERTIFICATE_ID = 2**31 - 1  # INTEGER
_HEX_ID = re.compile(r"[0-9a-f]{32}")  # a uuid4().hex: packed as its 16 bytes
# The keys of the optional parts.
_TRUST = "t"  # a trust-scoped token's
_OAUTH1 = "o"  # an oauth1 token's
_APPLICATION_CREDENTIAL = "a"  # an application credential's token's
_CERTIFICATE = "c"  # a token earned with a certificate: which one
_BOUND = "b"  # the same, for a token bound to that certificate


class MalformedPayload(ValueError):
    """The bytes are not a payload this version can read."""


@dataclasses.dataclass(frozen=True, slots=True)
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
    # A trust-scoped token's trust (its user is the trustee), and the revision the trustor had
    # when the token was earned: as user_revision, for the user it stands on (token.trust_scope).
    trust_id: str | None = None
    trustor_revision: int = 0
    # The OAuth1 access token an ``oauth1`` token was made with (keystone_lite.oauth1.method).
    access_token_id: str | None = None
    # The application credential the token was earned with (or its parent was), if any.
    application_credential_id: str | None = None
    # The certificate the token was earned with (the id of its certificates row), if any, and
    # whether only that certificate may present it.
    certificate: int | None = None
    bound: bool = False

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
    if ("oauth1" in payload.methods) != (payload.access_token_id is not None):
        raise ValueError("an oauth1 token, and only one, names its access token")
    if not all(_is_revision(revision) for revision in (
            payload.user_revision, payload.project_revision, payload.trustor_revision)):
        raise ValueError("a revision is an integer from 0 to 2**63 - 1")
    fields = [
        mask << 4 | scope << 2 | _VERSION, _pack_id(payload.user_id),
        _pack_id(payload.scope_id) if payload.scope_id else None,
        payload.issued_at, payload.expires_at,
        [_b64decode(audit_id) for audit_id in payload.audit_ids],
        payload.user_revision, payload.project_revision,
    ]
    optional = {}
    if payload.trust_id is not None:
        optional[_TRUST] = [_pack_id(payload.trust_id), payload.trustor_revision]
    if payload.access_token_id is not None:
        optional[_OAUTH1] = _pack_id(payload.access_token_id)
    if payload.application_credential_id is not None:
        optional[_APPLICATION_CREDENTIAL] = _pack_id(payload.application_credential_id)
    if payload.certificate is not None:
        if not _is_certificate_id(payload.certificate):
            raise ValueError("a certificate id is an integer from 1 to 2**31 - 1")
        optional[_BOUND if payload.bound else _CERTIFICATE] = payload.certificate
    elif payload.bound:
        raise ValueError("a bound token names its certificate")
    if OAUTH2_CREDENTIAL in payload.methods and not payload.bound:
        raise ValueError("an oauth2_credential token is bound to its certificate")
    if optional:
        fields.append(optional)
    return msgpack.packb(fields)


def decode(data: bytes) -> TokenPayload:
    """Inverse of ``encode``, and reads version 1; raises MalformedPayload for anything else."""
    try:
        fields = msgpack.unpackb(data)
        if not isinstance(fields, list) or len(fields) not in (8, 9) or not _is_int(fields[0]):
            raise MalformedPayload("unknown payload layout")
        optional = _optional_parts(fields.pop() if len(fields) == 9 else None)
        if fields[0] == _VERSION_1 and not optional:  # version 1 had no optional parts
            _, mask, user_id, scope, scope_id, issued_at, expires_at, audits = fields
            user_revision = project_revision = 0
        elif fields[0] >= 0 and fields[0] & 3 == _VERSION:
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
                or not _is_revision(user_revision) or not _is_revision(project_revision) \
                or bool(mask & 1 << METHODS.index("oauth1")) != ("access_token_id" in optional) \
                or mask & 1 << METHODS.index(OAUTH2_CREDENTIAL) and not optional.get("bound"):
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
            **optional,
        )
    except MalformedPayload:
        raise
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise MalformedPayload(str(exc)) from None


def _optional_parts(parts) -> dict:
    """The TokenPayload attributes the map of optional parts gives (None: the token has none;
    ``encode`` never writes an empty map)."""
    if parts is None:
        return {}
    if not isinstance(parts, dict) or not parts \
            or set(parts) - {_TRUST, _OAUTH1, _APPLICATION_CREDENTIAL, _CERTIFICATE, _BOUND} \
            or {_CERTIFICATE, _BOUND} <= set(parts):
        raise MalformedPayload("unknown optional parts")
    attributes = {}
    if _TRUST in parts:
        trust = parts[_TRUST]
        if not isinstance(trust, list) or len(trust) != 2 or not _is_revision(trust[1]):
            raise MalformedPayload("unknown trust part")
        attributes.update(trust_id=_unpack_id(trust[0]), trustor_revision=trust[1])
    if _OAUTH1 in parts:
        attributes["access_token_id"] = _unpack_id(parts[_OAUTH1])
    if _APPLICATION_CREDENTIAL in parts:
        attributes["application_credential_id"] = _unpack_id(parts[_APPLICATION_CREDENTIAL])
    for key in (_CERTIFICATE, _BOUND):
        if key in parts:
            if not _is_certificate_id(parts[key]):
                raise MalformedPayload("unknown certificate part")
            attributes.update(certificate=parts[key], bound=key == _BOUND)
    return attributes


def _is_certificate_id(value) -> bool:
    return _is_int(value) and 0 < value <= _MAX_CERTIFICATE_ID


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
