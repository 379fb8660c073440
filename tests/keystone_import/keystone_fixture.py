"""Helpers of the Keystone import tests (conftest.py holds the fixture).

A real OpenStack Keystone 30, filled through its API, and a keystone_lite that imported it.

Keystone runs in its own virtualenv (it cannot share this one): the Python named by
``KEYSTONE_LITE_KEYSTONE_PYTHON``, else ``.tox/keystone30`` of the checkout, made here with
``pip install keystone==30.0.0`` (about a minute, once; CI has the package index). Without
it the tests skip, saying why, or fail under ``KEYSTONE_LITE_REQUIRE_KEYSTONE=1`` (.ci/run).
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import subprocess
import sys

import pytest
import webtest

from builders import ADMIN_TOKEN, ROOT
from keystone_lite.cli import manage

KEYSTONE_VERSION = "30.0.0"
VENV = os.path.join(ROOT, ".tox", "keystone30")
HERE = os.path.dirname(os.path.abspath(__file__))
SIDE = os.path.join(HERE, "keystone_side.py")


def keystone_python() -> str:
    given = os.environ.get("KEYSTONE_LITE_KEYSTONE_PYTHON")
    if given:
        return given
    python = os.path.join(VENV, "bin", "python")
    stamp = os.path.join(VENV, ".keystone-version")
    if os.path.exists(stamp) and open(stamp, encoding="utf-8").read() == KEYSTONE_VERSION:
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([python, "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", f"keystone=={KEYSTONE_VERSION}"],
                       check=True, capture_output=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        message = (f"cannot make a virtualenv with keystone=={KEYSTONE_VERSION} at {VENV}: "
                   f"{exc} {detail[-500:].decode(errors='replace')}")
        if os.environ.get("KEYSTONE_LITE_REQUIRE_KEYSTONE") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with open(stamp, "w", encoding="utf-8") as handle:
        handle.write(KEYSTONE_VERSION)
    return python


def keystone_side(python: str, action: str, directory: str) -> None:
    result = subprocess.run([python, SIDE, action, directory], capture_output=True,
                            timeout=300, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


@dataclasses.dataclass
class Migrated:
    keystone_dir: str
    keystone_python: str
    config: str
    expected: dict
    main: webtest.TestApp
    admin: webtest.TestApp
    import_seconds: float
    first_output: str

    @property
    def keystone_url(self) -> str:
        return f"sqlite:///{self.keystone_dir}/keystone.db"

    def import_args(self, *extra: str) -> list[str]:
        return ["import-keystone", "--connection", self.keystone_url, "--credential-keys",
                os.path.join(self.keystone_dir, "credential-keys"), *extra]


def run_import(config: str, *argv: str) -> tuple[int, str]:
    """keystone-lite-manage with ``argv``: its exit status and what it printed (both streams)."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        status = manage.main(["--config-file", config, *argv])
    return status, output.getvalue()


def write_config(directory: str, keystone_keys: str) -> str:
    path = os.path.join(directory, "keystone-lite.conf")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"""[DEFAULT]
data_dir = data
admin_token = {ADMIN_TOKEN}

[identity]
argon2_time_cost = 1
argon2_memory_cost = 1024

[fernet_tokens]
keystone_key_repository = {keystone_keys}
""")
    return path


def run_cli(config: str, *argv: str) -> None:
    status, output = run_import(config, *argv)
    assert status == 0, output
