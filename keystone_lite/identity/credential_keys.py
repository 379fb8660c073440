"""Credential blobs encrypted at rest, as Keystone's credential provider does it.

The keys are a Fernet key repository of their own (``[credential] key_repository``, laid out and
rotated as the token keys: keystone_lite.token.key_repository). A blob is encrypted with the
primary key; its row keeps ``key_hash``, Keystone's SHA-1 of that key, so that
``credential_rotate`` can refuse while a credential still needs a key a rotation could purge,
and ``credential_migrate`` knows which blobs to re-encrypt. The keys are read at each use:
credential calls are rare, and a rotation or a copy from another node then takes effect at once.

Keystone falls back to a well-known "null key" when the repository is empty; here there is no
such fallback: without keys, the calls that encrypt or decrypt answer 503 and the log names the
fix (``keystone-lite-manage credential_setup``).
"""
from __future__ import annotations

import dataclasses
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import func, select

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.token import key_repository

# Keystone's: with every credential on the primary key before each rotation (credential_rotate
# checks it), the staged, the primary and the one previous key are all ever needed.
MAX_ACTIVE_KEYS = 3
SETUP_COMMAND = "credential_setup"


class CredentialKeysUnavailable(errors.ServiceUnavailable):
    """The keys are missing or unreadable, or none of them opens a stored blob."""

    default_message = ("Credentials cannot be encrypted or decrypted at the moment. Please "
                       "contact the administrator.")
    retry_after = 30


@dataclasses.dataclass(frozen=True)
class CredentialKeys:
    fernet: MultiFernet  # encrypts with the primary key, decrypts with any
    primary_hash: str  # ``key_hash`` of what the primary key encrypts


def key_hash(key: bytes) -> str:
    """Keystone's ``key_hash`` of a key: rows moved from Keystone with its keys compare equal.
    It names the key; it does not protect anything."""
    return hashlib.sha1(key, usedforsecurity=False).hexdigest()


def load(path: str) -> CredentialKeys:
    """The keys of the repository at ``path``; raises KeyRepositoryError naming the problem
    and ``credential_setup``."""
    keys, _paths, _seen = key_repository.load(path, SETUP_COMMAND)
    return CredentialKeys(MultiFernet([Fernet(key) for key in keys]), key_hash(keys[0]))


def for_request(settings) -> CredentialKeys:
    """``load`` for an API call: a 503 whose logged detail tells the operator what to run."""
    try:
        return load(settings.credential_key_repository)
    except key_repository.KeyRepositoryError as exc:
        raise CredentialKeysUnavailable(detail=f"credential keys unavailable: {exc}") from None


def encrypt(keys: CredentialKeys, blob: str) -> tuple[str, str]:
    """``(encrypted_blob, key_hash)`` of a plaintext blob."""
    return keys.fernet.encrypt(blob.encode("utf-8")).decode("ascii"), keys.primary_hash


def decrypt(keys: CredentialKeys, encrypted_blob: str) -> str:
    """The plaintext of a stored blob; 503 when no key opens it (its key was purged: a rotation
    forced past ``credential_migrate``, or keys copied from another installation)."""
    try:
        return keys.fernet.decrypt(encrypted_blob.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise CredentialKeysUnavailable(
            "Credential could not be decrypted. Please contact the administrator.",
            detail="a stored credential opens with none of the credential keys; restore the "
                   "key that encrypted it into [credential] key_repository") from None


def not_on_primary(session, keys: CredentialKeys) -> int:
    """How many credentials were encrypted with another key than the primary one."""
    return session.scalar(select(func.count()).select_from(models.Credential).where(
        models.Credential.key_hash != keys.primary_hash))


def migrate(session, keys: CredentialKeys) -> int:
    """Re-encrypt with the primary key every blob encrypted with another; returns how many.
    Raises KeyRepositoryError when one opens with none of the keys (nothing is then changed:
    the caller's transaction rolls back)."""
    rows = session.scalars(select(models.Credential).where(
        models.Credential.key_hash != keys.primary_hash)).all()
    for row in rows:
        try:
            row.encrypted_blob = keys.fernet.rotate(row.encrypted_blob.encode("ascii")).decode(
                "ascii")
        except InvalidToken:
            raise key_repository.KeyRepositoryError(
                f"credential {row.id} opens with none of the credential keys; restore the key "
                "that encrypted it first") from None
        row.key_hash = keys.primary_hash
    session.flush()
    return len(rows)
