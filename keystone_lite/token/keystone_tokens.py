"""OpenStack Keystone's live Fernet tokens, honoured across the switch (docs/migration.md).

With ``[fernet_tokens] keystone_key_repository`` (a copy of Keystone's key directory), a token
Keystone issued opens here and becomes a ``TokenPayload`` like keystone_lite's own: the token
service then checks it like any other, against the imported user, scope, roles, trust,
application credential or OAuth1 access token as they are now. New tokens are keystone_lite's.

Keystone's payloads (keystone/token/token_formatters.py) are msgpack lists ``[version, ...]``;
ids are ``(is_uuid_bytes, value)`` pairs, expiry float seconds, audit ids raw bytes, methods a
bitmask over Keystone's ``[auth] methods`` (``keystone_auth_methods``). The issue time is the
Fernet timestamp (whole seconds). Versions read:

====  =====================  ==================================================
0     unscoped               honoured
1     domain                 honoured
2     project                honoured
3     trust                  honoured (the trust must have been imported)
4-6   federated              refused: the groups they carry come from an
                             identity provider keystone_lite does not have
7     OAuth1                 honoured (the access token must have been imported)
8     system                 honoured
9     application credential honoured
10    OAuth2 mTLS            refused: bound to a client certificate whose whole
                             thumbprint keystone_lite never saw
====  =====================  ==================================================

Revisions: a Keystone token carries none; it is read with revision 0, which every imported
user and project has until keystone_lite changes it (a password change, a disable), so such a
change kills Keystone's tokens as it kills keystone_lite's. What Keystone itself revoked before
the import arrives with its revocation events (keystone_import.source). A DELETE of a Keystone
token records its audit id, as for keystone_lite's.
"""
from __future__ import annotations

import base64
import uuid

import msgpack

from keystone_lite.token.payload import METHODS, TokenPayload
from keystone_lite.token.providers.fernet import FernetProvider

_UNSCOPED, _DOMAIN, _PROJECT, _TRUST, _OAUTH1, _SYSTEM, _APPLICATION_CREDENTIAL = (
    0, 1, 2, 3, 7, 8, 9)
SETUP_HINT = "copy Keystone's [fernet_tokens] key_repository there (docs/migration.md)"


class KeystoneTokens:
    """Opens Fernet tokens made with Keystone's keys; never makes any."""

    def __init__(self, path: str, auth_methods: tuple[str, ...]):
        self._methods = auth_methods
        # Keystone's keys, kept current as keystone_lite's own are; used to open tokens only.
        self._keys = FernetProvider(path, SETUP_HINT)

    def refresh_keys(self) -> int:
        """As FernetProvider.refresh_keys: a copy of newer Keystone keys takes effect."""
        return self._keys.refresh_keys()

    def open(self, token_id: str) -> TokenPayload | None:
        """The payload of a token Keystone made, or None (not Keystone's, not a version
        honoured here, or malformed)."""
        opened = self._keys.decrypt(token_id)
        if opened is None:
            return None
        data, plain = opened
        try:
            issued_at = int.from_bytes(data[1:9], "big") * 1_000_000
            return self._payload(msgpack.unpackb(plain), issued_at)
        except (ValueError, TypeError, IndexError, KeyError, AttributeError,
                msgpack.UnpackException):
            return None

    def _payload(self, fields: list, issued_at: int) -> TokenPayload | None:
        version, rest = fields[0], fields[1:]
        user_id, mask = _id(rest[0]), rest[1]
        common = dict(user_id=user_id, methods=self._method_names(mask), issued_at=issued_at)
        if version == _UNSCOPED:
            _, _, expires, audits = rest
            scope = {}
        elif version == _DOMAIN:
            _, _, domain, expires, audits = rest
            domain = uuid.UUID(bytes=domain).hex if isinstance(domain, bytes) and \
                len(domain) == 16 else _text(domain)
            scope = dict(scope_kind="domain", scope_id=domain)
        elif version == _PROJECT:
            _, _, project, expires, audits = rest
            scope = dict(scope_kind="project", scope_id=_id(project))
        elif version == _TRUST:
            _, _, project, expires, audits, trust = rest
            scope = dict(scope_kind="project", scope_id=_id(project),
                         trust_id=uuid.UUID(bytes=trust).hex)
        elif version == _OAUTH1:
            _, _, project, access_token, expires, audits = rest
            scope = dict(scope_kind="project", scope_id=_id(project),
                         access_token_id=_id(access_token))
        elif version == _SYSTEM:
            _, _, system, expires, audits = rest
            if _text(system) != "all":
                return None
            scope = dict(scope_kind="system", scope_id="all")
        elif version == _APPLICATION_CREDENTIAL:
            _, _, project, expires, audits, credential = rest
            scope = dict(scope_kind="project", scope_id=_id(project),
                         application_credential_id=_id(credential))
        else:
            return None  # federated (4-6), OAuth2 mTLS (10): see the module docstring
        methods = common["methods"]
        if methods is None or ("oauth1" in methods) != ("access_token_id" in scope):
            return None
        audit_ids = tuple(base64.urlsafe_b64encode(audit).rstrip(b"=").decode()
                          for audit in audits)
        if not 0 < len(audit_ids) <= 2:
            return None
        return TokenPayload(expires_at=int(round(float(expires) * 1_000_000)),
                            audit_ids=audit_ids, **common, **scope)

    def _method_names(self, mask: int) -> tuple[str, ...] | None:
        """Keystone's bitmask as keystone_lite's method names (in their order); None when a
        method is one keystone_lite has not (``mapped``) or the mask is unknown."""
        names = {name for index, name in enumerate(self._methods) if mask & (1 << index)}
        if not isinstance(mask, int) or not names or mask >> len(self._methods) \
                or names - set(METHODS):
            return None
        return tuple(method for method in METHODS if method in names)


def _id(pair) -> str:
    stored_as_bytes, value = pair
    if stored_as_bytes:
        return uuid.UUID(bytes=value).hex
    return _text(value)


def _text(value) -> str:
    text = value.decode("utf-8") if isinstance(value, bytes) else value
    if not isinstance(text, str) or not 0 < len(text) <= 64 or "\x00" in text:
        raise ValueError("not an id")
    return text


class WithKeystoneTokens:
    """A provider (fernet or uuid) that also opens Keystone's tokens; issues its own only."""

    def __init__(self, provider, keystone: KeystoneTokens):
        self._provider = provider
        self._keystone = keystone
        self.name = provider.name

    def issue(self, payload, session=None):
        return self._provider.issue(payload, session)

    def open(self, token_id: str, session=None):
        found = self._provider.open(token_id, session)
        return found if found is not None else self._keystone.open(token_id)

    def refresh_keys(self):
        return self._provider.refresh_keys(), self._keystone.refresh_keys()

    def __getattr__(self, name):
        return getattr(self._provider, name)
