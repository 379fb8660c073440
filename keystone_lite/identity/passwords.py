"""Password hashing with argon2id (argon2-cffi); verification runs in constant time."""
from __future__ import annotations

import functools

import argon2


class PasswordHasher:
    def __init__(self, time_cost: int = 3, memory_cost: int = 65536):
        self._hasher = argon2.PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)

    @functools.cached_property
    def _dummy(self) -> str:
        """Checked against when the user has no password, so that a missing user or a
        certificate-only user costs as much time as a wrong password. Made on first use: at
        start-up it would cost every worker the hash's time and its 64 MiB peak of memory."""
        return self._hasher.hash("keystone-lite-no-password")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and bool(
                password_hash)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False
