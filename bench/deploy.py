"""Deployments under test: one bootstrapped template per product, copied per phase.

Both hold the same data: the bootstrap admin (admin role on project ``admin``), a catalog with
the identity service's public, internal and admin endpoints in RegionOne, and ``alice``, member
of project ``demo``. Each phase works on a fresh copy, so that one phase's revocations cannot
slow another's validations.
"""
from __future__ import annotations

import dataclasses
import grp
import os
import pwd
import secrets
import shutil

from processes import run, run_bench_script

CATALOG_URL = "http://127.0.0.1/v3"
SETUP_TIMEOUT = 300


@dataclasses.dataclass(frozen=True)
class Instance:
    """One copy of a deployment: its directory and the config file the app reads."""

    directory: str
    config: str


def _write(path: str, text: str) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


# -- keystone_lite --------------------------------------------------------------------------------

def lite_config(directory: str, provider: str = "fernet", name: str = "keystone-lite.conf",
                data_dir: str = "data") -> str:
    """A config file with the shipped defaults (no admin_token, as in production)."""
    return _write(os.path.join(directory, name),
                  f"[DEFAULT]\ndata_dir = {data_dir}\n\n[token]\nprovider = {provider}\n")


def lite_template(root: str, venv: str) -> str:
    """Set up a keystone_lite deployment with its own CLI; returns its directory."""
    directory = os.path.join(root, "lite-template")
    os.makedirs(directory)
    config = lite_config(directory)
    manage = os.path.join(venv, "bin", "keystone-lite-manage")
    for argv in (["db_sync"], ["fernet_setup"],
                 ["bootstrap", "--bootstrap-public-url", CATALOG_URL,
                  "--bootstrap-internal-url", CATALOG_URL, "--bootstrap-admin-url", CATALOG_URL],
                 ["user", "create", "alice", "--project", "demo", "--role", "member"]):
        run([manage, "--config-file", config, *argv], SETUP_TIMEOUT)
    return directory


def lite_instance(template: str, destination: str, provider: str = "fernet") -> Instance:
    shutil.copytree(os.path.join(template, "data"), os.path.join(destination, "data"))
    return Instance(destination, lite_config(destination, provider))


# -- OpenStack Keystone ---------------------------------------------------------------------------

def keystone_config(directory: str) -> str:
    """keystone.conf: SQLite, Fernet, external auth first, in-memory cache on (its best case)."""
    return _write(os.path.join(directory, "keystone.conf"), f"""[DEFAULT]
log_file = {directory}/keystone.log

[database]
connection = sqlite:///{directory}/keystone.db

[token]
provider = fernet

[fernet_tokens]
key_repository = {directory}/fernet-keys

[credential]
key_repository = {directory}/credential-keys

[auth]
methods = external,password,token

[cache]
enabled = true
backend = dogpile.cache.memory
""")


def keystone_template(root: str, venv: str) -> str:
    """Set up Keystone with keystone-manage, then alice and demo through its API."""
    directory = os.path.join(root, "keystone-template")
    os.makedirs(directory)
    config = keystone_config(directory)
    manage = os.path.join(venv, "bin", "keystone-manage")
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    for argv in (["db_sync"],
                 ["fernet_setup", "--keystone-user", user, "--keystone-group", group],
                 ["credential_setup", "--keystone-user", user, "--keystone-group", group],
                 ["bootstrap", "--bootstrap-password", secrets.token_urlsafe(16),
                  "--bootstrap-region-id", "RegionOne", "--bootstrap-public-url", CATALOG_URL,
                  "--bootstrap-internal-url", CATALOG_URL, "--bootstrap-admin-url",
                  CATALOG_URL]):
        run([manage, "--config-file", config, *argv], SETUP_TIMEOUT)
    run_bench_script(venv, "keystone_users.py", config, timeout=SETUP_TIMEOUT)
    return directory


def keystone_instance(template: str, destination: str) -> Instance:
    shutil.copytree(template, destination)
    for name in ("keystone.log", "keystone.conf"):
        if os.path.exists(os.path.join(destination, name)):
            os.remove(os.path.join(destination, name))
    return Instance(destination, keystone_config(destination))
