"""Fernet provider: the token is the encrypted, authenticated payload; nothing is stored."""
from __future__ import annotations

import base64
import binascii
import re
import threading
import time

from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes, hmac, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from keystone_lite.token import key_repository, payload as token_payload

_TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]+")


class FernetProvider:
    """Mint and open Fernet tokens with the keys of ``key_repository_path``.

    ``refresh_keys`` re-reads the keys when the repository changed, so ``fernet_rotate`` and
    keys copied in from another node take effect without a restart; ``issue`` and ``open`` use
    the keys of the last refresh. The token service refreshes once per request: a ``stat`` of
    the directory and of each key file, and a re-read when they changed or changed so recently
    that their timestamps cannot be trusted (``key_repository.is_racy``).
    """

    name = "fernet"

    def __init__(self, key_repository_path: str, setup_hint: str = "fernet_setup"):
        self._path = key_repository_path
        self._setup_hint = setup_hint  # what an error tells the operator to run or do
        self._lock = threading.Lock()
        self._keys: list[bytes] = []
        self._key_paths: tuple[str, ...] = ()
        self._seen = None
        self._racy = True
        self._version = 0
        self._fernet = None
        self._opening_keys: tuple = ()  # (signing, encryption) halves, primary first
        self.refresh_keys()  # a missing or empty repository is a start-up error

    # Tokens open with the keys alone: validation needs no session for them.
    opens_from_store = False

    def issue(self, payload: token_payload.TokenPayload, session=None) -> str:
        return self._fernet.encrypt_at_time(
            token_payload.encode(payload), payload.issued_at // 1_000_000).rstrip(b"=").decode()

    def open(self, token_id: str, session=None) -> token_payload.TokenPayload | None:
        """Return the payload, or None when no active key made this token.

        Only the exact text ``issue`` returns is accepted: base64 decoding on its own skips
        characters outside the alphabet and ignores the spare bits of the last one, which would
        let many different strings validate as one token.
        """
        opened = self.decrypt(token_id)
        try:
            return None if opened is None else token_payload.decode(opened[1])
        except token_payload.MalformedPayload:
            return None

    def decrypt(self, token_id: str) -> tuple[bytes, bytes] | None:
        """``(the decoded token, its plaintext)`` when one of the keys made ``token_id``, else
        None; the plaintext in any format (keystone_tokens reads Keystone's)."""
        if not _TOKEN_TEXT.fullmatch(token_id):
            return None
        padded = token_id.encode("ascii") + b"=" * (-len(token_id) % 4)
        try:
            data = base64.urlsafe_b64decode(padded)
        except binascii.Error:
            return None
        if base64.urlsafe_b64encode(data) != padded:
            return None
        plain = open_fernet(data, self._opening_keys)
        return None if plain is None else (data, plain)

    def current_keys(self) -> tuple[bytes, ...]:
        """The keys, primary first, re-read if the repository changed (the account page
        derives its form key from them: keystone_lite.account.forms)."""
        self.refresh_keys()
        return tuple(self._keys)

    def refresh_keys(self) -> int:
        """Re-read the keys if the repository changed; return their version, which changes
        whenever the keys do (tokens they opened may no longer open)."""
        try:
            seen = key_repository.look(self._path, self._key_paths)
        except OSError:
            seen = None  # load() names the problem
        if seen is None or seen != self._seen or self._racy:
            with self._lock:
                loaded_at = time.time()
                keys, key_paths, seen = key_repository.load(self._path, self._setup_hint)
                if keys != self._keys:
                    self._fernet = MultiFernet([Fernet(key) for key in keys])
                    self._opening_keys = tuple(_halves(key) for key in keys)
                    self._keys = keys
                    self._version += 1
                self._key_paths, self._seen = key_paths, seen
                self._racy = key_repository.is_racy(seen, loaded_at)
        return self._version


# A Fernet token (https://github.com/fernet/spec): version 0x80, 8-byte timestamp, 16-byte IV,
# AES-128-CBC ciphertext (PKCS7), HMAC-SHA256 of all that.
_VERSION = 0x80
_HEADER = 1 + 8 + 16
_MAC = 32


def _halves(key: bytes) -> tuple:
    """A Fernet key's signing and encryption halves (as cryptography.fernet.Fernet splits it),
    made ready once: an HMAC to copy (a copy costs a third of a new one) and the AES key."""
    raw = base64.urlsafe_b64decode(key)
    return hmac.HMAC(raw[:16], hashes.SHA256()), algorithms.AES(raw[16:])


def open_fernet(data: bytes, keys) -> bytes | None:
    """The plaintext of the decoded Fernet token ``data`` if one of ``keys`` (their
    ``_halves``, primary first) signed it, else None; what MultiFernet.decrypt does without a
    time limit, with the token decoded once instead of once per key tried, composed from
    cryptography's HMAC and AES-CBC (tests check it against cryptography.fernet)."""
    if len(data) < _HEADER + 16 + _MAC or data[0] != _VERSION or (
            len(data) - _HEADER - _MAC) % 16:
        return None
    signed, mac = data[:-_MAC], data[-_MAC:]
    for signing, encryption in keys:
        check = signing.copy()
        check.update(signed)
        try:
            check.verify(mac)
        except InvalidSignature:
            continue
        decryptor = Cipher(encryption, modes.CBC(data[9:_HEADER])).decryptor()
        padded = decryptor.update(data[_HEADER:-_MAC]) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            return None
    return None
