"""Keystone's password hash formats (identity.keystone_hashes): what a hash from another system
may not do. Real Keystone hashes are checked against real passwords in tests/keystone_import."""
from __future__ import annotations

import pytest

from keystone_lite.identity import keystone_hashes
from keystone_lite.identity.passwords import PasswordHasher


@pytest.mark.parametrize("stored", [
    "$2b$10$short", "$bcrypt-sha256$v=9,t=2b,r=10$salt$digest", "$scrypt$ln=40,r=8,p=1$c2FsdA$ZA",
    "$scrypt$garbage", "$pbkdf2-sha512$999999999$c2FsdA$ZA", "$pbkdf2-sha512$x$y$z",
    "$scrypt$ln=4,r=8,p=1$!!!$ZA", "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$ZA", "plain text"])
def test_malformed_or_too_costly_hash_verifies_nothing_and_raises_nothing(stored):
    assert keystone_hashes.verify(stored, "password") is False


def test_bcrypt_hash_checks_the_first_72_bytes_as_keystone_hashed_them():
    import bcrypt
    password = "x" * 80
    stored = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(4)).decode()
    assert keystone_hashes.verify(stored, password)
    assert not keystone_hashes.verify(stored, "y" * 80)


def test_hasher_verifies_a_keystone_hash_and_asks_for_an_argon2_rehash():
    import bcrypt
    stored = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
    hasher = PasswordHasher(time_cost=1, memory_cost=1024)
    assert hasher.verify(stored, "s3cret") and not hasher.verify(stored, "other")
    assert hasher.needs_rehash(stored)
    assert not hasher.needs_rehash(hasher.hash("s3cret"))
