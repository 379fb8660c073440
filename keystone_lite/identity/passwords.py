"""Password hashing with argon2id (argon2-cffi); verification runs in constant time.

Each hash takes ``memory_cost`` KiB and a core for its duration, so at most ``max_concurrent``
run at once in a process: the others wait up to ``wait`` seconds for a slot, then get 503 with
Retry-After (PasswordChecksBusy). A process's hashing memory is thereby bounded by
``max_concurrent × memory_cost`` whatever the number of parallel password requests.

Hashes imported from OpenStack Keystone (bcrypt, bcrypt_sha256, scrypt, pbkdf2_sha512:
identity.keystone_hashes) verify too; the caller re-hashes the password to argon2 after a
successful check (``needs_rehash``). While such hashes remain, every check does the work of
both kinds, one real and one against a stand-in, so that neither the kind of a user's hash nor
a user's existence shows in the time a wrong password takes: one argon2 verification, and one
verification of the Keystone hash found at the first check (``legacy_stand_in``; with several
Keystone algorithms or costs in use, users of the others differ by the difference).
"""
from __future__ import annotations

import contextlib
import functools
import threading
import time

import argon2

from keystone_lite import errors
from keystone_lite.identity import keystone_hashes


_DAY_US = 86_400 * 1_000_000


def expiry(days: int, exempt: bool = False) -> int | None:
    """When a password set now stops working (µs since the epoch): ``days`` from now, or
    None when passwords do not expire (``days`` 0) or the user is ``exempt``
    (``ignore_password_expiry``)."""
    if not days or exempt:
        return None
    return time.time_ns() // 1000 + days * _DAY_US


class PasswordChecksBusy(errors.ServiceUnavailable):
    """Every hashing slot stayed taken for the whole wait."""

    default_message = "Too many password checks are in progress; try again shortly."
    retry_after = 1


class PasswordHasher:
    def __init__(self, time_cost: int = 3, memory_cost: int = 65536, *,
                 max_concurrent: int = 4, wait: float = 3.0, find_legacy_hash=None):
        self._hasher = argon2.PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._wait = wait
        # Returns one stored Keystone hash, or None (see the module docstring).
        self._find_legacy_hash = find_legacy_hash

    @functools.cached_property
    def legacy_stand_in(self) -> str | None:
        """A Keystone hash from the store, read at the first check: checked against when the
        hash at hand is argon2 or missing. None when the store holds none."""
        return self._find_legacy_hash() if self._find_legacy_hash is not None else None

    @staticmethod
    def needs_rehash(password_hash: str | None) -> bool:
        """Whether a hash that just verified should be replaced by an argon2 one."""
        return keystone_hashes.is_keystone_hash(password_hash)

    @functools.cached_property
    def _dummy(self) -> str:
        """Checked against when the user has no password, so that a missing user or a
        certificate-only user costs as much time as a wrong password. Made on first use (in a
        slot): at start-up it would cost every worker the hash's time and memory."""
        return self._hasher.hash("keystone-lite-no-password")

    @contextlib.contextmanager
    def slot(self):
        """Hold one of the hashing slots; PasswordChecksBusy after waiting in vain."""
        if not self._slots.acquire(timeout=self._wait):
            raise PasswordChecksBusy(detail=f"no password hashing slot free after "
                                            f"{self._wait:g} s")
        try:
            yield
        finally:
            self._slots.release()

    def hash(self, password: str) -> str:
        with self.slot():
            return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True if ``password`` matches; a missing hash runs the same work and is False."""
        with self.slot():
            return self._check(password_hash, password)

    def _check(self, password_hash: str | None, password: str) -> bool:
        if keystone_hashes.is_keystone_hash(password_hash):
            matches = keystone_hashes.verify(password_hash, password)
            self._argon2(None, password)  # the work of an argon2 check, as below
            return matches
        matches = self._argon2(password_hash, password)
        stand_in = self.legacy_stand_in
        if stand_in is not None:
            keystone_hashes.verify(stand_in, password)  # the work of a Keystone hash's check
        return matches

    def _argon2(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and bool(
                password_hash)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False
