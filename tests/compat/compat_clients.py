"""Import the OpenStack clients, or skip (or fail) the compat module that needs them.

The clients are not dependencies of keystone_lite: ``tox -e compat`` installs pinned versions.
In any other environment the compat modules are skipped with the reason; under
``KEYSTONE_LITE_REQUIRE_COMPAT=1`` (set by the compat tox env) a missing client is an error, so
that a broken install cannot pass as "all skipped".
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sysconfig

import pytest

REQUIRE_ENV = "KEYSTONE_LITE_REQUIRE_COMPAT"
HOW = "install them with `tox -e compat` (versions pinned in tox.ini)"


def _missing(reason: str):
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(f"{reason}; {HOW}", allow_module_level=True)


def require(module: str):
    """The imported ``module``; skips (or fails) the calling test module when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        return _missing(f"OpenStack client module {module!r} is not importable ({exc})")


def require_installed(module: str) -> None:
    """Skips (or fails) the calling test module unless ``module`` is installed, without
    importing it: for what only a subprocess of the test runs (eventlet warns on import)."""
    if importlib.util.find_spec(module) is None:
        _missing(f"module {module!r} is not installed")


def require_executable(name: str) -> str:
    """The path of console script ``name``, preferring the running environment's own."""
    path = shutil.which(name, path=sysconfig.get_path("scripts")) or shutil.which(name)
    if path is None:
        return _missing(f"the {name!r} command is not installed")
    return path
