"""The module fixture of the Keystone import tests: see keystone_fixture.py."""
from __future__ import annotations

import json
import os
import time

import pytest
import webtest
from paste.deploy import loadapp

from builders import PASTE_INI
from keystone_fixture import Migrated, keystone_python, keystone_side, run_cli, run_import, \
    write_config
from keystone_lite import services


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Migrated:
    python = keystone_python()
    keystone_dir = str(tmp_path_factory.mktemp("keystone"))
    keystone_side(python, "setup", keystone_dir)
    with open(os.path.join(keystone_dir, "expected.json"), encoding="utf-8") as handle:
        expected = json.load(handle)
    lite_dir = str(tmp_path_factory.mktemp("lite"))
    config = write_config(lite_dir, os.path.join(keystone_dir, "fernet-keys"))
    for command in ("db_sync", "fernet_setup", "credential_setup"):
        run_cli(config, command)
    migrated = Migrated(keystone_dir, python, config, expected, None, None, 0.0, "")
    started = time.monotonic()
    status, migrated.first_output = run_import(config, *migrated.import_args())
    migrated.import_seconds = time.monotonic() - started
    assert status == 0, migrated.first_output
    os.environ["KEYSTONE_LITE_CONFIG"] = config
    try:
        migrated.main = webtest.TestApp(loadapp(f"config:{PASTE_INI}", name="main"))
        migrated.admin = webtest.TestApp(loadapp(f"config:{PASTE_INI}", name="admin"))
    finally:
        del os.environ["KEYSTONE_LITE_CONFIG"]
    yield migrated
    services.forget_all()
