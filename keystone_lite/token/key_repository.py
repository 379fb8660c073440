"""The Fernet key repository, laid out as Keystone's: files named 0, 1, 2, ...

Two repositories use it: the token keys (``[fernet_tokens] key_repository``) and the credential
keys (``[credential] key_repository``, keystone_lite.identity.credential_keys); the functions
that can fail take the ``command`` that sets the repository up, which their messages name.

``0`` is the staged key (already accepted, so every node knows it before it becomes primary), the
highest number is the primary key (signs new tokens), the rest are secondaries (still accepted).
Rotation promotes the staged key to primary, stages a new one and drops the oldest secondaries
beyond ``max_active_keys``.
"""
from __future__ import annotations

import os

from cryptography.fernet import Fernet

from keystone_lite.private_files import make_private_dir


class KeyRepositoryError(Exception):
    """The repository is missing, empty, unreadable or holds a bad key; names the path."""


def setup(path: str) -> list[int]:
    """Create the repository with a staged and a primary key; keeps existing keys as they are
    (a repository left with only a staged key, say by an interrupted set-up, gets a primary)."""
    make_private_dir(path)
    os.chmod(path, 0o700)
    existing = _key_numbers(path)
    if 0 not in existing:
        _write_key(path, 0)
    if not any(existing):
        _write_key(path, 1)
    return _key_numbers(path)


def rotate(path: str, max_active_keys: int, command: str = "fernet_setup") -> list[int]:
    """Promote the staged key, stage a new one, purge old secondaries; returns the key numbers."""
    numbers = _existing_key_numbers(path, command)
    if 0 not in numbers:
        raise KeyRepositoryError(f"{path}: no staged key 0; run keystone-lite-manage {command} "
                                 "first")
    new_primary = max(numbers) + 1
    os.replace(os.path.join(path, "0"), os.path.join(path, str(new_primary)))
    _write_key(path, 0)
    secondaries = sorted(n for n in _key_numbers(path) if n not in (0, new_primary))
    excess = len(secondaries) + 2 - max_active_keys
    for number in secondaries[:max(excess, 0)]:
        os.remove(os.path.join(path, str(number)))
    return _key_numbers(path)


# How recent a change must be for its timestamps to be untrustworthy: file systems record
# times with a clock-tick granularity, so two changes within one tick can leave the same
# timestamps (the "racy git" problem). A look taken that soon after a change is not believed.
RACY_SECONDS = 2.0


def look(path: str, key_paths) -> tuple:
    """What ``stat`` says of the directory and of the key files ``key_paths``: a value that
    changes when a key is added, removed, replaced or copied over in place (see ``load``).

    Raises OSError when the directory cannot be read; a missing key file counts as a change.
    """
    seen = [_times(os.stat(path))]
    for key_path in key_paths:
        try:
            seen.append(_times(os.stat(key_path)))
        except FileNotFoundError:
            seen.append(None)
    return tuple(seen)


def _times(info: os.stat_result) -> tuple:
    # Every write and rotation makes a new inode; copies over existing files (cp, scp, rsync
    # --inplace, as keys are distributed to other nodes) keep it but change mtime and size.
    return info.st_ino, info.st_mtime_ns, info.st_size


def is_racy(seen: tuple, at: float) -> bool:
    """True when ``seen`` (from ``look``) was taken too soon after a change to trust it: a
    later change within the same clock tick would look identical."""
    newest = max(times[1] for times in seen if times is not None)
    return newest >= (at - RACY_SECONDS) * 1e9


def load(path: str, command: str = "fernet_setup"
         ) -> tuple[list[bytes], tuple[str, ...], tuple]:
    """Return the keys (primary first), the paths of the key files, and the ``look`` taken just
    before they were read (a change while they are read then shows up in the next look)."""
    try:
        # Primary (highest) first, staged 0 last.
        key_paths = tuple(os.path.join(path, str(number))
                          for number in sorted(_key_numbers(path), reverse=True))
        seen = look(path, key_paths)
    except OSError as exc:
        raise _unusable(path, exc, command) from None
    keys = []
    for key_path in key_paths:
        try:
            with open(key_path, "rb") as handle:
                key = handle.read().strip()
        except FileNotFoundError:
            continue  # purged by a rotation since the directory was listed
        except OSError as exc:
            raise KeyRepositoryError(f"{key_path}: cannot read Fernet key: {exc.strerror}"
                                     ) from None
        try:
            Fernet(key)
        except ValueError:
            raise KeyRepositoryError(f"{key_path}: not a valid Fernet key") from None
        keys.append(key)
    if not keys:
        raise KeyRepositoryError(
            f"{path}: Fernet key repository holds no keys; run keystone-lite-manage {command}")
    return keys, key_paths, seen


def _existing_key_numbers(path: str, command: str) -> list[int]:
    try:
        return _key_numbers(path)
    except OSError as exc:
        raise _unusable(path, exc, command) from None


def _unusable(path: str, exc: OSError, command: str) -> KeyRepositoryError:
    if isinstance(exc, FileNotFoundError):
        return KeyRepositoryError(f"{path}: Fernet key repository does not exist; run "
                                  f"keystone-lite-manage {command}")
    return KeyRepositoryError(f"{path}: cannot read Fernet key repository: {exc.strerror}")


def _key_numbers(path: str) -> list[int]:
    return sorted(int(name) for name in os.listdir(path) if name.isdigit())


def _write_key(path: str, number: int) -> None:
    """Write a fresh key atomically, readable by its owner only."""
    final = os.path.join(path, str(number))
    temporary = final + ".tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # A temporary file left by an interrupted run keeps its mode through O_CREAT: narrow it.
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(Fernet.generate_key())
    os.replace(temporary, final)
