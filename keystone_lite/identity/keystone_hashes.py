"""Verify the password hashes OpenStack Keystone stores, so imported users keep their passwords.

Keystone (keystone/common/password_hashing.py) writes passlib's formats: ``$2b$`` bcrypt (its
default; also ``$2a$``, ``$2y$``), ``$bcrypt-sha256$`` (passlib's bcrypt over an HMAC-SHA256 of
the password, version 2), ``$scrypt$`` and ``$pbkdf2-sha512$`` (passlib's shortened base64 with
``.`` for ``+``). The hashing is done by maintained libraries: ``bcrypt`` for bcrypt,
``cryptography`` for scrypt and PBKDF2; this module only reads the formats. Application
credential secrets are hashed the same way by Keystone.

Keystone truncates a password to 72 bytes when bcrypt is its algorithm (the bcrypt library
refuses more); verifying a bcrypt hash does the same, so the password that worked still works.
A verified password is re-hashed to argon2 by the caller (identity.passwords).
"""
from __future__ import annotations

import base64
import binascii
import hmac

import bcrypt
from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

BCRYPT_MAX_BYTES = 72
_BCRYPT = ("$2a$", "$2b$", "$2y$", "$2x$", "$2$")
_BCRYPT_SHA256 = "$bcrypt-sha256$"
_SCRYPT = "$scrypt$"
_PBKDF2_SHA512 = "$pbkdf2-sha512$"
# Bounds on the work a stored hash may ask for: a hash is data from another system.
_MAX_SCRYPT_LOG_N = 20
_MAX_PBKDF2_ROUNDS = 10_000_000


def is_keystone_hash(stored: str | None) -> bool:
    return bool(stored) and stored.startswith((*_BCRYPT, _BCRYPT_SHA256, _SCRYPT,
                                               _PBKDF2_SHA512))


def verify(stored: str, password: str) -> bool:
    """True when ``password`` is the one Keystone hashed into ``stored``; False for another
    password and for a hash this module cannot read."""
    secret = password.encode("utf-8")
    try:
        if stored.startswith(_BCRYPT_SHA256):
            return _bcrypt_sha256(stored, secret)
        if stored.startswith(_BCRYPT):
            return bcrypt.checkpw(secret[:BCRYPT_MAX_BYTES], stored.encode("ascii"))
        if stored.startswith(_SCRYPT):
            return _scrypt(stored, secret)
        if stored.startswith(_PBKDF2_SHA512):
            return _pbkdf2_sha512(stored, secret)
    except (ValueError, TypeError, KeyError, UnicodeEncodeError, binascii.Error):
        return False
    return False


def rehash_of(stored: str | None, keystone_hash: str | None) -> bool:
    """Whether ``stored`` may stand for ``keystone_hash`` in a later import: an argon2 hash
    made from it at a login (the same password, as far as the import can know) does."""
    return bool(stored) and stored.startswith("$argon2") and is_keystone_hash(keystone_hash)


def _ab64(text: str) -> bytes:
    """passlib's "adapted base64": standard alphabet with ``.`` for ``+``, no padding."""
    text = text.replace(".", "+")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _bcrypt_sha256(stored: str, secret: bytes) -> bool:
    params, salt, digest = stored[len(_BCRYPT_SHA256):].split("$")
    options = dict(item.split("=", 1) for item in params.split(","))
    if options.get("v") != "2" or options.get("t") not in ("2a", "2b"):
        return False
    rounds = int(options["r"])
    key = base64.b64encode(hmac.digest(salt.encode("ascii"), secret, "sha256"))
    return bcrypt.checkpw(key, f"${options['t']}${rounds:02d}${salt}{digest}".encode("ascii"))


def _scrypt(stored: str, secret: bytes) -> bool:
    _, _, params, salt, digest = stored.split("$")
    options = dict(item.split("=", 1) for item in params.split(","))
    log_n = int(options["ln"])
    if not 1 <= log_n <= _MAX_SCRYPT_LOG_N:
        return False
    expected = _ab64(digest)
    kdf = Scrypt(salt=_ab64(salt), length=len(expected), n=2 ** log_n, r=int(options["r"]),
                 p=int(options["p"]))
    return _matches(kdf, secret, expected)


def _pbkdf2_sha512(stored: str, secret: bytes) -> bool:
    _, _, rounds, salt, digest = stored.split("$")
    iterations = int(rounds)
    if not 1 <= iterations <= _MAX_PBKDF2_ROUNDS:
        return False
    expected = _ab64(digest)
    kdf = PBKDF2HMAC(algorithm=hashes.SHA512(), length=len(expected), salt=_ab64(salt),
                     iterations=iterations)
    return _matches(kdf, secret, expected)


def _matches(kdf, secret: bytes, expected: bytes) -> bool:
    try:
        kdf.verify(secret, expected)  # constant-time comparison
    except InvalidKey:
        return False
    return True
