"""The Fernet key repository, laid out as Keystone's: files named 0, 1, 2, ...

``0`` is the staged key (already accepted, so every node knows it before it becomes primary), the
highest number is the primary key (signs new tokens), the rest are secondaries (still accepted).
Rotation promotes the staged key to primary, stages a new one and drops the oldest secondaries
beyond ``max_active_keys``.
"""
from __future__ import annotations

import os

from cryptography.fernet import Fernet


class KeyRepositoryError(Exception):
    """The repository is missing, empty, unreadable or holds a bad key; names the path."""


def setup(path: str) -> list[int]:
    """Create the repository with a staged and a primary key; keeps an existing one as it is."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    existing = _key_numbers(path)
    if not existing:
        _write_key(path, 0)
        _write_key(path, 1)
    return _key_numbers(path)


def rotate(path: str, max_active_keys: int) -> list[int]:
    """Promote the staged key, stage a new one, purge old secondaries; returns the key numbers."""
    numbers = _key_numbers(path)
    if 0 not in numbers:
        raise KeyRepositoryError(f"{path}: no staged key 0; run fernet_setup first")
    new_primary = max(numbers) + 1
    os.replace(os.path.join(path, "0"), os.path.join(path, str(new_primary)))
    _write_key(path, 0)
    secondaries = sorted(n for n in _key_numbers(path) if n not in (0, new_primary))
    excess = len(secondaries) + 2 - max_active_keys
    for number in secondaries[:max(excess, 0)]:
        os.remove(os.path.join(path, str(number)))
    return _key_numbers(path)


def load(path: str) -> tuple[list[bytes], int]:
    """Return the keys, primary first, and a stamp that changes when the repository changes."""
    try:
        numbers = _key_numbers(path)
        stamp = os.stat(path).st_mtime_ns
    except FileNotFoundError:
        raise KeyRepositoryError(
            f"{path}: Fernet key repository does not exist; run keystone-lite-manage "
            "fernet_setup") from None
    except PermissionError:
        raise KeyRepositoryError(f"{path}: Fernet key repository is not readable") from None
    if not numbers:
        raise KeyRepositoryError(
            f"{path}: Fernet key repository holds no keys; run keystone-lite-manage fernet_setup")
    keys = []
    for number in sorted(numbers, reverse=True):  # primary (highest) first, staged 0 last
        key_path = os.path.join(path, str(number))
        try:
            with open(key_path, "rb") as handle:
                key = handle.read().strip()
            Fernet(key)
        except PermissionError:
            raise KeyRepositoryError(f"{key_path}: Fernet key is not readable") from None
        except ValueError:
            raise KeyRepositoryError(f"{key_path}: not a valid Fernet key") from None
        keys.append(key)
    return keys, stamp


def _key_numbers(path: str) -> list[int]:
    return sorted(int(name) for name in os.listdir(path) if name.isdigit())


def _write_key(path: str, number: int) -> None:
    """Write a fresh key atomically, readable by its owner only."""
    final = os.path.join(path, str(number))
    temporary = final + ".tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(Fernet.generate_key())
    os.replace(temporary, final)
