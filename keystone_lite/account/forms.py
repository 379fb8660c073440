"""Cross-site request protection of the account page's forms.

A browser sends the client certificate by itself, to any page that posts to us: a form posts
only when it carries a token the page gave (``FormTokens``) and the browser says it comes from
this site (``same_origin``). Both are checked; either alone refuses.

A form token is ``<issued at>.<HMAC-SHA256>`` of the user id, the certificate's thumbprint and
the issue time, under a key derived (HKDF) from the token key repository, so that every node
sharing the keys accepts the forms of the others. Every current key is tried, so a key rotation
does not break a page already open; the token is valid for ``LIFETIME`` seconds.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from typing import Callable
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keystone_lite.token import key_repository

LOG = logging.getLogger(__name__)
LIFETIME = 8 * 3600
_PURPOSE = b"keystone_lite account page form token v1"


def derive(key: bytes) -> bytes:
    """The form key of one token key: the token key itself never signs anything else."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(key)


def key_source(services) -> Callable[[], tuple[bytes, ...]]:
    """The token keys, primary first, as the provider has them now (Fernet), else as the key
    repository held them at start-up (uuid tokens), else a random key of this process (forms
    then post only to the process that served them: logged)."""
    current = getattr(services.tokens.provider, "current_keys", None)
    if current is not None:
        return current
    try:
        fixed = tuple(key_repository.load(services.settings.key_repository)[0])
    except key_repository.KeyRepositoryError as unusable:
        LOG.warning("account page: no token key repository (%s); its forms are signed with a "
                    "key of this process only", unusable)
        fixed = (secrets.token_bytes(32),)
    return lambda: fixed


class FormTokens:
    def __init__(self, keys: Callable[[], tuple[bytes, ...]], clock=time.time):
        self._keys = keys
        self._derived: dict[bytes, bytes] = {}
        self.clock = clock

    def issue(self, user_id: str, binding: str) -> str:
        issued = int(self.clock())
        return f"{issued}.{self._mac(self._keys()[0], user_id, binding, issued)}"

    def check(self, user_id: str, binding: str, token: str | None) -> bool:
        """Whether ``token`` was issued for this user and certificate, less than LIFETIME
        seconds ago, under one of the current keys."""
        issued_text, _, mac = (token or "").partition(".")
        if not issued_text.isdigit() or not mac:
            return False
        issued = int(issued_text)
        if not 0 <= self.clock() - issued < LIFETIME:
            return False
        return any(hmac.compare_digest(self._mac(key, user_id, binding, issued), mac)
                   for key in self._keys())

    def _mac(self, key: bytes, user_id: str, binding: str, issued: int) -> str:
        derived = self._derived.get(key)
        if derived is None:
            derived = self._derived[key] = derive(key)
        # Lengths first: no two (user, binding) pairs make the same message.
        message = f"{len(user_id)}:{user_id}|{len(binding)}:{binding}|{issued}".encode()
        digest = hmac.new(derived, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def same_origin(req) -> bool:
    """Whether the browser says the request comes from a page of this site: its ``Origin``
    (every current browser sends it with a POST), else its ``Referer``, names the scheme, host
    and port the request was made to. Neither: refused (a client that sends neither is no
    browser, and has no business posting the account page's forms)."""
    own = _origin_of(f"{req.scheme}://{req.host}")
    origin = req.headers.get("Origin")
    if origin is not None:
        return own is not None and _origin_of(origin) == own
    referer = req.headers.get("Referer")
    return own is not None and referer is not None and _origin_of(referer) == own


def _origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if port is None or port == default else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}".lower()
