"""The Fernet opener of the token provider against cryptography.fernet, the reference."""
from __future__ import annotations

import base64
import os

import pytest
from cryptography.fernet import Fernet, MultiFernet

from keystone_lite.token.providers.fernet import _halves, open_fernet

KEYS = [Fernet.generate_key() for _ in range(3)]
HALVES = tuple(_halves(key) for key in KEYS)


def _decoded(token: bytes) -> bytes:
    return base64.urlsafe_b64decode(token)


@pytest.mark.parametrize("signer", range(3))
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 100, 255])
def test_tokens_of_every_active_key_open_to_what_multifernet_decrypts(signer, size):
    plaintext = os.urandom(size)
    token = Fernet(KEYS[signer]).encrypt(plaintext)
    assert open_fernet(_decoded(token), HALVES) == MultiFernet(
        [Fernet(key) for key in KEYS]).decrypt(token) == plaintext


def test_token_of_a_key_not_in_the_repository_does_not_open():
    token = Fernet(Fernet.generate_key()).encrypt(b"payload")
    assert open_fernet(_decoded(token), HALVES) is None


@pytest.mark.parametrize("position", [0, 1, 9, 30, -33, -1])
def test_any_changed_byte_makes_the_token_unopenable(position):
    data = bytearray(_decoded(Fernet(KEYS[0]).encrypt(b"payload of some length")))
    data[position] ^= 0x01
    assert open_fernet(bytes(data), HALVES) is None


@pytest.mark.parametrize("cut", [1, 16, 32, 57])
def test_truncated_tokens_do_not_open(cut):
    data = _decoded(Fernet(KEYS[0]).encrypt(b"payload"))
    assert open_fernet(data[:-cut], HALVES) is None
    assert open_fernet(b"", HALVES) is None
