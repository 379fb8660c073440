"""Shared fixtures: the chain config file → CLI set-up → paste-loaded apps → WebTest.

Every test gets its own data directory with a real SQLite file, a real Fernet key repository and
the shipped ``etc/keystone-lite-paste.ini``; the schema and bootstrap are built once per session
and copied, which keeps a test's set-up to a few milliseconds.
"""
from __future__ import annotations

import dataclasses
import os
import shutil

import pytest
import webtest
from paste.deploy import loadapp

from keystone_lite import services
from keystone_lite.cli import manage

from builders import ADMIN_PASSWORD, ADMIN_TOKEN, PASTE_INI

# Cheap argon2 parameters: the hashing library is the same, only slower in production.
FAST_HASHING = {"identity": {"argon2_time_cost": "1", "argon2_memory_cost": "1024"}}


def write_config(directory: str, overrides: dict | None = None) -> str:
    """Write keystone-lite.conf into ``directory``; ``overrides`` is {section: {key: value}}."""
    sections = {"DEFAULT": {"data_dir": "data", "admin_token": ADMIN_TOKEN}, **FAST_HASHING}
    for section, values in (overrides or {}).items():
        sections.setdefault(section, {}).update(values)
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
        lines.append("")
    path = os.path.join(directory, "keystone-lite.conf")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return path


def run_cli(config: str, *argv: str) -> None:
    assert manage.main(["--config-file", config, *argv]) == 0, argv


@pytest.fixture(scope="session")
def bootstrapped_data(tmp_path_factory):
    """A data directory after db_sync + bootstrap (with catalog) + fernet_setup."""
    directory = str(tmp_path_factory.mktemp("template"))
    config = write_config(directory)
    run_cli(config, "db_sync")
    run_cli(config, "bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
            "--bootstrap-public-url", "http://localhost/main/v3",
            "--bootstrap-internal-url", "http://localhost/main/v3",
            "--bootstrap-admin-url", "http://localhost/admin/v3")
    run_cli(config, "fernet_setup")
    return os.path.join(directory, "data")


@dataclasses.dataclass
class Deployment:
    """One keystone_lite installation under a temporary directory, with both apps loaded."""

    directory: str
    config: str
    main: webtest.TestApp
    admin: webtest.TestApp

    @property
    def data_dir(self) -> str:
        return os.path.join(self.directory, "data")

    def cli(self, *argv: str) -> None:
        run_cli(self.config, *argv)

    def services(self):
        return services.for_paste({"config_file": self.config})


@pytest.fixture
def make_deployment(tmp_path, bootstrapped_data, monkeypatch):
    """Factory: ``make_deployment({"token": {"provider": "uuid"}})`` → Deployment."""
    monkeypatch.delenv("KEYSTONE_LITE_CONFIG", raising=False)
    made = []

    def make(overrides: dict | None = None) -> Deployment:
        directory = tmp_path / f"deployment{len(made)}"
        shutil.copytree(bootstrapped_data, directory / "data")
        config = write_config(str(directory), overrides)
        monkeypatch.setenv("KEYSTONE_LITE_CONFIG", config)
        main = loadapp(f"config:{PASTE_INI}", name="main")
        admin = loadapp(f"config:{PASTE_INI}", name="admin")
        deployment = Deployment(str(directory), config, webtest.TestApp(main),
                                webtest.TestApp(admin))
        made.append(deployment)
        return deployment

    yield make
    services.forget_all()


@pytest.fixture
def deployment(make_deployment) -> Deployment:
    return make_deployment()
