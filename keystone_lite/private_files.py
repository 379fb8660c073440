"""Directories and files for secrets and data: owner-only, whatever the process umask.

A mode given to ``mkdir``/``open`` is only ever narrowed by the umask, so creating with 0700 and
0600 is safe even under ``umask 0``; ``os.makedirs`` would create missing parents with 0777 minus
the umask, world-writable under ``umask 0``, which lets anyone swap the directory below them.
"""
from __future__ import annotations

import os


def make_private_dir(path: str) -> None:
    """Create directory ``path`` (0700) and its missing parents (0755: traversable, never
    writable by others); an existing directory is left as it is. Raises OSError (e.g.
    FileExistsError when a file is in the way)."""
    path = os.path.abspath(path)
    missing = []
    head = path
    while not os.path.isdir(head) and head != os.path.dirname(head):
        missing.append(head)
        head = os.path.dirname(head)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700 if directory == path else 0o755)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise


def create_private_file(path: str) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (an existing file is kept)."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
