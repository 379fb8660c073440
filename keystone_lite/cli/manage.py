"""keystone-lite-manage: set up and administer a keystone_lite deployment.

Mirrors keystone-manage where they overlap (db_sync, bootstrap, fernet_setup, fernet_rotate,
credential_setup, credential_rotate, credential_migrate and their flag names). Every failure
prints one line naming what is wrong and exits with status 1.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

import sqlalchemy.exc

from keystone_lite import errors, settings as settings_module
from keystone_lite.cli import (cert_commands, doctor_commands, httpd_commands, identity_commands,
                               import_commands, pki_commands)
from keystone_lite.db import migrate, session as db_session
from keystone_lite.identity import credential_keys, store
from keystone_lite.identity.passwords import PasswordHasher, expiry
from keystone_lite.private_files import make_private_dir
from keystone_lite.token import key_repository

CHECKOUT_CONFIG = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "etc",
                               "keystone-lite.conf")
SYSTEM_CONFIG = "/etc/keystone-lite/keystone-lite.conf"


class CommandError(Exception):
    """A failure to report in one line."""


def config_path(given: str | None) -> str:
    """--config-file, then $KEYSTONE_LITE_CONFIG, then the checkout's etc/, then /etc."""
    if given:
        return given
    if os.environ.get(settings_module.CONFIG_ENV_VAR):
        return os.environ[settings_module.CONFIG_ENV_VAR]
    for candidate in (os.path.normpath(CHECKOUT_CONFIG), SYSTEM_CONFIG):
        if os.path.exists(candidate):
            return candidate
    raise CommandError(f"no configuration file: pass --config-file or set "
                       f"{settings_module.CONFIG_ENV_VAR}")


def _transaction(settings):
    engine = db_session.make_engine(settings.database_connection)
    if migrate.current_revision(engine) is None:
        engine.dispose()
        raise CommandError(f"database {engine.url!r} has no schema; run keystone-lite-manage "
                           "db_sync first")
    return engine, db_session.transaction(db_session.make_session_factory(engine))


# -- commands ------------------------------------------------------------------------------------

def _make_data_dir(settings) -> None:
    """Create data_dir owner-only when the SQLite file or the key repository lives in it, before
    creating either makes it a mere parent directory (0755)."""
    data_dir = settings.data_dir
    inside = [path for path in (db_session.sqlite_file(settings.database_connection),
                                settings.key_repository, settings.credential_key_repository)
              if path]
    if any(os.path.commonpath([path, data_dir]) == data_dir for path in inside):
        make_private_dir(data_dir)


def db_sync(settings, args):
    _make_data_dir(settings)
    engine = db_session.make_engine(settings.database_connection)
    try:
        migrate.upgrade(engine)
        print(f"database at revision {migrate.current_revision(engine)}")
    finally:
        engine.dispose()


def fernet_setup(settings, args):
    _make_data_dir(settings)
    numbers = key_repository.setup(settings.key_repository)
    print(f"key repository {settings.key_repository}: keys {numbers}")


def fernet_rotate(settings, args):
    numbers = key_repository.rotate(settings.key_repository, settings.max_active_keys)
    print(f"key repository {settings.key_repository}: keys {numbers} (primary {max(numbers)})")


def credential_setup(settings, args):
    _make_data_dir(settings)
    numbers = key_repository.setup(settings.credential_key_repository)
    print(f"credential key repository {settings.credential_key_repository}: keys {numbers}")


def credential_rotate(settings, args):
    """Keystone's: refused while a credential is not on the primary key, whose key the rotation
    could purge (credential_migrate first)."""
    keys = credential_keys.load(settings.credential_key_repository)
    engine, transaction = _transaction(settings)
    try:
        with transaction as session:
            behind = credential_keys.not_on_primary(session, keys)
    finally:
        engine.dispose()
    if behind:
        raise CommandError(f"{behind} credential(s) not encrypted with the primary key; run "
                           "keystone-lite-manage credential_migrate first")
    numbers = key_repository.rotate(settings.credential_key_repository,
                                    credential_keys.MAX_ACTIVE_KEYS,
                                    credential_keys.SETUP_COMMAND)
    print(f"credential key repository {settings.credential_key_repository}: keys {numbers} "
          f"(primary {max(numbers)})")


def credential_migrate(settings, args):
    """Re-encrypt every credential with the primary key (after credential_rotate)."""
    keys = credential_keys.load(settings.credential_key_repository)
    engine, transaction = _transaction(settings)
    try:
        with transaction as session:
            count = credential_keys.migrate(session, keys)
    finally:
        engine.dispose()
    print(f"credentials re-encrypted with the primary key: {count}")


def bootstrap(settings, args):
    """Create (or bring up to date) the admin user, project, roles and identity endpoints."""
    password = _password(args.bootstrap_password, "bootstrap password")
    hasher = PasswordHasher(settings.argon2_time_cost, settings.argon2_memory_cost)
    engine, transaction = _transaction(settings)
    try:
        with transaction as session:
            domain = store.ensure_default_domain(session, settings.default_domain_id)
            project = (store.find_project(session, name=args.bootstrap_project_name,
                                          domain_id=domain.id)
                       or store.create_project(session, name=args.bootstrap_project_name,
                                               domain_id=domain.id,
                                               description="Bootstrap project."))
            user = store.find_user(session, name=args.bootstrap_username, domain_id=domain.id)
            certificate_only = user is None and not password
            if user is None:
                user = store.create_user(
                    session, name=args.bootstrap_username, domain_id=domain.id,
                    password_hash=hasher.hash(password) if password else None,
                    password_expires_at=expiry(settings.password_expires_days) if password
                    else None)
            elif password and not hasher.verify(user.password_hash, password):
                # A new password kills the admin's tokens (store.update); the same one, given
                # again by an idempotent re-run, changes nothing.
                store.update(session, user, {"password_hash": hasher.hash(password),
                                             "password_expires_at": expiry(
                                                 settings.password_expires_days)})
            roles = {}
            # Keystone's default roles (manager since its domain manager persona: see policy).
            for name in dict.fromkeys(["reader", "member", "manager", settings.service_role,
                                       args.bootstrap_role_name]):
                roles[name] = (store.find_role(session, name=name)
                               or store.create_role(session, name=name))
            # As keystone-manage bootstrap: the admin role implies manager, manager member,
            # member reader (the personas policy relies on: tokens carry implied roles).
            chain = [roles[args.bootstrap_role_name], roles["manager"], roles["member"],
                     roles["reader"]]
            for prior, implied in zip(chain, chain[1:]):
                if prior.id != implied.id:
                    store.imply(session, prior.id, implied.id)
            store.grant(session, user.id, "project", project.id,
                        roles[args.bootstrap_role_name].id)
            store.grant(session, user.id, "system", "all", roles[args.bootstrap_role_name].id)
            _bootstrap_catalog(session, args)
    finally:
        engine.dispose()
    print(f"bootstrapped: user {args.bootstrap_username!r} with role "
          f"{args.bootstrap_role_name!r} on project {args.bootstrap_project_name!r}"
          + (" (no password: certificate login only)" if certificate_only else ""))


def _bootstrap_catalog(session, args):
    urls = {"public": args.bootstrap_public_url, "internal": args.bootstrap_internal_url,
            "admin": args.bootstrap_admin_url}
    urls = {interface: url for interface, url in urls.items() if url}
    if not urls:
        return
    store.ensure_region(session, args.bootstrap_region_id)
    services = store.list_services(session, service_type="identity")
    service = services[0] if services else store.create_service(
        session, type="identity", name=args.bootstrap_service_name)
    existing = {endpoint.interface: endpoint
                for endpoint in store.list_endpoints(session, service_id=service.id)}
    for interface, url in urls.items():
        endpoint = existing.get(interface)
        if endpoint is None:
            store.create_endpoint(session, service_id=service.id, interface=interface, url=url,
                                  region_id=args.bootstrap_region_id)
        else:
            endpoint.url = url
            endpoint.region_id = args.bootstrap_region_id


def user_create(settings, args):
    """Create a user (certificate-only unless a password is given), optionally with a role."""
    if bool(args.project) != bool(args.role):
        raise CommandError("--project and --role go together")
    password = _password(args.password, f"password for {args.name}")
    hasher = PasswordHasher(settings.argon2_time_cost, settings.argon2_memory_cost)
    engine, transaction = _transaction(settings)
    try:
        with transaction as session:
            domain = store.find_domain(session, domain_id=args.domain) or store.find_domain(
                session, name=args.domain)
            if domain is None:
                raise CommandError(f"no domain {args.domain!r}; run bootstrap first")
            if store.find_user(session, name=args.name, domain_id=domain.id):
                raise CommandError(f"user {args.name!r} already exists in domain {domain.name!r}")
            user = store.create_user(session, name=args.name, domain_id=domain.id,
                                     password_hash=hasher.hash(password) if password else None,
                                     password_expires_at=expiry(settings.password_expires_days)
                                     if password else None)
            if args.project:
                project = store.find_project(session, name=args.project, domain_id=domain.id)
                if project is None:
                    project = store.create_project(session, name=args.project,
                                                   domain_id=domain.id)
                role = store.find_role(session, name=args.role)
                if role is None:
                    raise CommandError(f"no role {args.role!r}")
                store.grant(session, user.id, "project", project.id, role.id)
                user.default_project_id = project.id
    finally:
        engine.dispose()
    print(f"created user {args.name!r} (id {user.id})"
          + (f" with role {args.role!r} on project {args.project!r}" if args.project else ""))


PROMPT = object()


def _password(value, what):
    """``--flag`` alone prompts (keeps the password out of ps and shell history)."""
    if value is PROMPT:
        return getpass.getpass(f"{what}: ") or None
    return value


# -- argument parsing ----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keystone-lite-manage", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--config-file", help="keystone-lite.conf (default: "
                        "$KEYSTONE_LITE_CONFIG, etc/ of the checkout, /etc/keystone-lite)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("db_sync", help="create or upgrade the database schema"
                        ).set_defaults(run=db_sync)
    commands.add_parser("fernet_setup", help="create the Fernet key repository"
                        ).set_defaults(run=fernet_setup)
    commands.add_parser("fernet_rotate", help="rotate the Fernet keys"
                        ).set_defaults(run=fernet_rotate)
    commands.add_parser("credential_setup", help="create the credential key repository"
                        ).set_defaults(run=credential_setup)
    commands.add_parser("credential_rotate", help="rotate the credential keys (after "
                        "credential_migrate)").set_defaults(run=credential_rotate)
    commands.add_parser("credential_migrate", help="re-encrypt every credential with the "
                        "primary credential key").set_defaults(run=credential_migrate)

    boot = commands.add_parser("bootstrap", help="create the admin user, project, roles and "
                               "identity endpoints (idempotent)")
    boot.add_argument("--bootstrap-username", default="admin",
                      help="the admin user, in the default domain (default: %(default)s)")
    boot.add_argument("--bootstrap-password", nargs="?", const=PROMPT,
                      help="omit for a certificate-only admin; give the flag alone to be "
                      "prompted")
    boot.add_argument("--bootstrap-project-name", default="admin",
                      help="the admin's project (default: %(default)s)")
    boot.add_argument("--bootstrap-role-name", default="admin",
                      help="the role granted on that project and the system (default: "
                      "%(default)s)")
    boot.add_argument("--bootstrap-service-name", default="keystone",
                      help="name of the identity service in the catalog (default: "
                      "%(default)s)")
    boot.add_argument("--bootstrap-region-id", default="RegionOne",
                      help="region of the identity endpoints (default: %(default)s)")
    boot.add_argument("--bootstrap-public-url", metavar="URL",
                      help="public identity endpoint, e.g. https://keystone.example:5000/main/v3")
    boot.add_argument("--bootstrap-internal-url", metavar="URL",
                      help="internal identity endpoint")
    boot.add_argument("--bootstrap-admin-url", metavar="URL",
                      help="admin identity endpoint, e.g. https://keystone.example:5000/admin/v3")
    boot.set_defaults(run=bootstrap)

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="user_command", required=True, metavar="ACTION")
    create = user.add_parser("create", help="create a user")
    create.add_argument("name", metavar="NAME", help="the user's name (a certificate's UID "
                        "logs in as the user of that name)")
    create.add_argument("--password", nargs="?", const=PROMPT,
                        help="omit for a certificate-only user; give the flag alone to be "
                        "prompted")
    create.add_argument("--domain", default="default", help="domain id or name")
    create.add_argument("--project", help="grant --role on this project (created if missing)")
    create.add_argument("--role", help="role to grant on --project")
    create.set_defaults(run=user_create)
    identity_commands.add_user_actions(user)
    identity_commands.add_commands(commands)
    pki_commands.add_commands(commands)
    cert_commands.add_commands(commands)
    import_commands.add_commands(commands)
    httpd_commands.add_commands(commands)
    doctor_commands.add_commands(commands)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # check-httpd reads only Apache files: it must work on a host with no keystone-lite.conf.
        needs_settings = getattr(args, "needs_settings", True)
        settings = settings_module.load(config_path(args.config_file)) if needs_settings else None
        # A command may return an exit status of its own (cert explain: 1 for no login).
        status = args.run(settings, args)
    except (CommandError, settings_module.ConfigError, key_repository.KeyRepositoryError) as exc:
        return _fail(args, str(exc))
    except errors.KeystoneError as exc:
        return _fail(args, exc.message)
    except OSError as exc:
        return _fail(args, f"{exc.filename or ''}: {exc.strerror}")
    except sqlalchemy.exc.SQLAlchemyError as exc:
        # The driver's own message, first line only (SQLAlchemy appends the SQL and a URL).
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__]
        return _fail(args, f"database error: {reason[0]}")
    return status or 0


def _fail(args, message: str) -> int:
    # The command and its actions ("user disable", "role assignment add"), as parsed.
    command = " ".join(str(value) for key, value in vars(args).items()
                       if (key == "command" or key.endswith("_command")) and value)
    print(f"keystone-lite-manage {command}: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
