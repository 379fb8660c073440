"""``keystone-lite-manage doctor``: what can be checked of a deployment from its shell.

The checks of ``GET /healthcheck`` (database reachable, token keys readable: keystone_lite.health),
then what a probe cannot see: the schema is current, settings that weaken it, the file modes
of the data directory, key repositories, SQLite file and private keys, the age of the Fernet
keys, and the expiry of the server and CA certificates. Each check gives one ``Finding``: OK,
WARN (works, but look), FAIL (broken or exposed), or SKIP (nothing to check). The shell is the
operator's: unlike the probe's reasons, messages name paths.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import stat
import time

import sqlalchemy.exc
from cryptography import x509

from keystone_lite import health, pki
from keystone_lite.db import migrate, session as db_session
from keystone_lite.token import key_repository
from keystone_lite.token.providers import make_provider

DAY = 86400
# A primary key older than this: rotation (fernet_rotate, from cron) has stopped.
KEY_AGE_WARN_DAYS = 30
# A server or CA certificate expiring sooner than this.
CERTIFICATE_WARN_DAYS = 30


@dataclasses.dataclass(frozen=True)
class Finding:
    status: str  # OK, WARN, FAIL, SKIP
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.status:<4} {self.check}: {self.message}"


def examine(settings, server_certificate: str | None = None, ca_certificate: str | None = None,
            now: float | None = None) -> list[Finding]:
    """Every check of ``settings``' deployment, in order. ``server_certificate`` and
    ``ca_certificate`` default to the dev PKI's (``<data_dir>/pki``), when there."""
    now = time.time() if now is None else now
    findings = [Finding("OK", "config", settings.config_file)]
    findings += _settings_warnings(settings)
    findings += _database(settings)
    findings += _token_keys(settings, now)
    findings += _credential_keys(settings)
    findings += _file_modes(settings)
    findings += _certificates(settings, server_certificate, ca_certificate, now)
    return findings


def _settings_warnings(settings) -> list[Finding]:
    found = []
    if settings.admin_token:
        found.append(Finding("WARN", "config", "[DEFAULT] admin_token is set: a shared secret "
                             "that acts as an administrator; remove it once bootstrapped"))
    if not settings.enforce_scope:
        found.append(Finding("WARN", "config", "[oslo_policy] enforce_scope is off: the admin "
                             "role on any project administers the whole cloud"))
    return found


def _database(settings) -> list[Finding]:
    database_file = db_session.sqlite_file(settings.database_connection)
    if database_file and not os.path.exists(database_file):  # make_engine would create it
        return [Finding("FAIL", "database", f"{database_file}: no such file; run "
                        "keystone-lite-manage db_sync")]
    engine = db_session.make_engine(settings.database_connection)
    counter = db_session.CounterReader(engine)
    try:
        try:
            revision = migrate.current_revision(engine)
        except sqlalchemy.exc.SQLAlchemyError:
            revision = None  # unreachable: the health check names why
        else:
            if revision is None:
                return [Finding("FAIL", "database", "no schema; run keystone-lite-manage "
                                "db_sync")]
        checked = health.check_database(counter)
        if not checked.ok:
            return [Finding("FAIL", "database", f"{checked.reason}: {checked.detail}")]
        if revision != _head():
            return [Finding("FAIL", "database", f"schema at revision {revision}, this code "
                            f"needs {_head()}; run keystone-lite-manage db_sync")]
        return [Finding("OK", "database", f"reachable, schema at revision {revision}")]
    finally:
        counter.close()
        engine.dispose()


def _head() -> str:
    from alembic.script import ScriptDirectory
    return ScriptDirectory(migrate.MIGRATIONS).get_current_head()


def _token_keys(settings, now: float) -> list[Finding]:
    if settings.token_provider != "fernet":
        return [Finding("SKIP", "token keys", f"not used by {settings.token_provider} tokens")]
    try:
        checked = health.check_token_keys(make_provider(settings))
    except key_repository.KeyRepositoryError as exc:
        return [Finding("FAIL", "token keys", f"{health.KEYS_UNREADABLE}: {exc}")]
    if not checked.ok:
        return [Finding("FAIL", "token keys", f"{checked.reason}: {checked.detail}")]
    return [_key_age(settings, now)]


def _key_age(settings, now: float) -> Finding:
    """The primary key's age is the time since the last rotation (it is the staged key of the
    rotation before, promoted by renaming, which keeps its time)."""
    _, key_paths, _ = key_repository.load(settings.key_repository)
    primary = key_paths[0]
    days = (now - os.stat(primary).st_mtime) / DAY
    text = (f"{len(key_paths)} keys in {settings.key_repository} (at most "
            f"{settings.max_active_keys}); the primary is {days:.0f} day(s) old")
    if days > KEY_AGE_WARN_DAYS:
        return Finding("WARN", "token keys", f"{text}: not rotated for over "
                       f"{KEY_AGE_WARN_DAYS} days; run keystone-lite-manage fernet_rotate "
                       "regularly (cron) and copy the keys to every node")
    return Finding("OK", "token keys", text)


def _credential_keys(settings) -> list[Finding]:
    path = settings.credential_key_repository
    try:
        key_repository.load(path, "credential_setup")
    except key_repository.KeyRepositoryError as exc:
        if not os.path.exists(path):  # only the credentials API needs them
            return [Finding("WARN", "credential keys", f"{exc} (the /v3/credentials API needs "
                            "them)")]
        return [Finding("FAIL", "credential keys", str(exc))]
    return [Finding("OK", "credential keys", path)]


# -- file modes ----------------------------------------------------------------------------------

def _private_paths(settings) -> list[tuple[str, str]]:
    """(what, path) of everything that must be its owner's only, when it exists."""
    paths = [("data directory", settings.data_dir)]
    database_file = db_session.sqlite_file(settings.database_connection)
    if database_file:
        paths.append(("database file", database_file))
    for what, repository in (("token key repository", settings.key_repository),
                             ("credential key repository", settings.credential_key_repository)):
        paths.append((what, repository))
        if os.path.isdir(repository):
            paths += [(f"{what} key", os.path.join(repository, name))
                      for name in sorted(os.listdir(repository)) if name.isdigit()]
    directory = pki.default_directory(settings.data_dir)
    paths += [("PKI directory", directory), ("CA private key", os.path.join(directory, "ca.key")),
              ("server private key", os.path.join(directory, "server.key"))]
    return [(what, path) for what, path in paths if os.path.exists(path)]


def _file_modes(settings) -> list[Finding]:
    """FAIL: others may write (swap a key, the database) or read a file (a key, the data);
    WARN: anything else open beyond the owner (a listable directory, group access)."""
    found, paths = [], _private_paths(settings)
    for what, path in paths:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        exposed = mode & 0o002 or (mode & 0o004 and not os.path.isdir(path))
        if exposed:
            found.append(Finding("FAIL", "file modes", f"{what} {path} is open to others "
                                 f"(mode {mode:04o}); chmod go-rwx {path}"))
        elif mode & 0o077:
            found.append(Finding("WARN", "file modes", f"{what} {path} is open beyond its "
                                 f"owner (mode {mode:04o}); chmod go-rwx {path} unless that is "
                                 "meant"))
    return found or [Finding("OK", "file modes", f"{len(paths)} private files and directories "
                                                  "are their owner's only")]


# -- certificates --------------------------------------------------------------------------------

def _certificates(settings, server_certificate, ca_certificate, now: float) -> list[Finding]:
    directory = pki.default_directory(settings.data_dir)
    found = []
    for what, given, default in (("server certificate", server_certificate, "server.crt"),
                                 ("CA certificate", ca_certificate, "ca.crt")):
        path = given or os.path.join(directory, default)
        if not given and not os.path.exists(path):
            option = "--server-cert" if default == "server.crt" else "--ca"
            found.append(Finding("SKIP", what, f"no dev PKI at {path}; pass {option} to check "
                                 "the one the web server uses"))
            continue
        found.append(_expiry(what, path, now))
    return found


def _expiry(what: str, path: str, now: float) -> Finding:
    try:
        with open(path, "rb") as handle:
            certificate = x509.load_pem_x509_certificate(handle.read())
    except OSError as exc:
        return Finding("FAIL", what, f"{path}: {exc.strerror}")
    except ValueError:
        return Finding("FAIL", what, f"{path}: not a PEM certificate")
    moment = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    not_after = certificate.not_valid_after_utc
    days = (not_after - moment).total_seconds() / DAY
    text = f"{path} expires {not_after:%Y-%m-%d}"
    if certificate.not_valid_before_utc > moment:
        return Finding("FAIL", what, f"{path} is not valid before "
                       f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if days < 0:
        return Finding("FAIL", what, f"{text}: expired")
    if days < CERTIFICATE_WARN_DAYS:
        return Finding("WARN", what, f"{text}: in {days:.0f} day(s); renew it")
    return Finding("OK", what, f"{text} (in {days:.0f} days)")
