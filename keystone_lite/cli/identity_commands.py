"""``keystone-lite-manage user|project|role``: users, projects and role assignments from the shell.

Every change goes through the code the admin API runs (keystone_lite.identity: ``store``, and the
``users`` and ``projects`` hooks), so it has the API's effects: disabling or enabling a user or
project, or giving a user a new password, moves its revision and kills the tokens earned before
(for good: enabling again does not revive them); deleting a user deletes its grants, group
memberships, trusts, application credentials and uuid tokens; deleting a project its grants and
trusts. Every write moves the change counter, so every node's caches see it at once.

``user create`` stays in manage.py; ``manage.build_parser`` calls ``add_user_actions`` and
``add_commands``. A USER or PROJECT argument is an id or a name (looked up in ``--domain``).
"""
from __future__ import annotations

import contextlib
import datetime
import os
import sys

import sqlalchemy.exc
from sqlalchemy import select

from keystone_lite import errors
from keystone_lite.cli.output import add_format_option, print_record, print_records
from keystone_lite.db import models, session as db_session
from keystone_lite.identity import project_tree, projects, resources, store, users
from keystone_lite.identity.assignment_controller import _check_role_domain
from keystone_lite.identity.lockout import Lockout
from keystone_lite.identity.passwords import PasswordHasher, expiry

DOMAIN_HELP = "domain (id or name) in which names are looked up (default: %(default)s)"


def _command_error(message: str) -> Exception:
    from keystone_lite.cli.manage import CommandError  # manage imports this module
    return CommandError(message)


@contextlib.contextmanager
def _session(settings):
    """One transaction on the configured database, committed if the command succeeds."""
    from keystone_lite.cli.manage import _transaction
    engine, transaction = _transaction(settings)
    try:
        with transaction as session:
            yield session
    finally:
        engine.dispose()


# -- parsers -------------------------------------------------------------------------------------

def add_user_actions(actions) -> None:
    """Add list/show/set/disable/enable/delete/password to ``user`` (beside ``create``)."""
    listing = actions.add_parser("list", help="list users")
    listing.add_argument("--domain", help="only the users of this domain (id or name; default: "
                         "every domain)")
    add_format_option(listing)
    listing.set_defaults(run=user_list)

    show = actions.add_parser("show", help="show a user and the roles granted to it")
    _user_argument(show)
    add_format_option(show)
    show.set_defaults(run=user_show)

    change = actions.add_parser("set", help="rename a user or change its description or "
                                "default project")
    _user_argument(change)
    change.add_argument("--name", help="the new name (a certificate's UID must then match it)")
    change.add_argument("--description", help="the new description")
    change.add_argument("--default-project", metavar="PROJECT", help="project (id or name in "
                        "the user's domain) that the user's tokens are scoped to by default; "
                        "an empty value clears it")
    change.set_defaults(run=user_set)

    for action, description in (("disable", "disable a user: its tokens stop validating and "
                                  "it cannot log in"),
                                 ("enable", "enable a user (tokens from before stay invalid; "
                                  "ends a lockout)")):
        parser = actions.add_parser(action, help=description)
        _user_argument(parser)
        parser.set_defaults(run=user_enable if action == "enable" else user_disable)

    delete = actions.add_parser("delete", help="delete a user with its grants, group "
                                "memberships, trusts and application credentials; its tokens "
                                "stop validating")
    _user_argument(delete)
    delete.set_defaults(run=user_delete)

    password = actions.add_parser("password", help="set a user's password (prompted), or "
                                  "remove it (certificate login only); its tokens stop "
                                  "validating")
    _user_argument(password)
    given = password.add_mutually_exclusive_group()
    from keystone_lite.cli.manage import PROMPT
    given.add_argument("--password", nargs="?", const=PROMPT, default=PROMPT,
                       help="the new password (default, or the flag alone: prompted, which "
                       "keeps it out of ps and shell history)")
    given.add_argument("--remove", action="store_true",
                       help="remove the password: the user logs in with a certificate only")
    password.set_defaults(run=user_password)


def add_commands(subparsers) -> None:
    """Add ``project`` and ``role`` (with ``role assignment``) to keystone-lite-manage."""
    actions = subparsers.add_parser("project", help="manage projects").add_subparsers(
        dest="project_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list projects")
    listing.add_argument("--domain", help="only the projects of this domain (id or name; "
                         "default: every domain)")
    add_format_option(listing)
    listing.set_defaults(run=project_list)

    show = actions.add_parser("show", help="show a project and the roles granted on it")
    _project_argument(show)
    add_format_option(show)
    show.set_defaults(run=project_show)

    create = actions.add_parser("create", help="create a project")
    create.add_argument("name", metavar="NAME", help="the project's name (unique in its domain)")
    create.add_argument("--domain", default=store.DEFAULT_DOMAIN_ID,
                        help="domain (id or name) of the project (default: %(default)s)")
    create.add_argument("--description", default="", help="a description")
    create.add_argument("--disabled", action="store_true",
                        help="create it disabled (no token can be scoped to it)")
    create.set_defaults(run=project_create)

    for action, description in (("disable", "disable a project: tokens scoped to it stop "
                                  "validating"),
                                 ("enable", "enable a project (tokens from before stay "
                                  "invalid)")):
        parser = actions.add_parser(action, help=description)
        _project_argument(parser)
        parser.set_defaults(run=project_enable if action == "enable" else project_disable)

    delete = actions.add_parser("delete", help="delete a project (a leaf of the hierarchy) "
                                "with the grants and trusts on it")
    _project_argument(delete)
    delete.set_defaults(run=project_delete)

    roles = subparsers.add_parser("role", help="list roles; manage role assignments"
                                  ).add_subparsers(dest="role_command", required=True,
                                                   metavar="ACTION")
    role_listing = roles.add_parser("list", help="list the global roles")
    add_format_option(role_listing)
    role_listing.set_defaults(run=role_list)

    assignment = roles.add_parser("assignment", help="list, add or remove role assignments"
                                  ).add_subparsers(dest="assignment_command", required=True,
                                                   metavar="ACTION")
    listing = assignment.add_parser("list", help="list the roles granted to users and groups "
                                    "(direct grants, as stored)")
    listing.add_argument("--user", help="only this user's (id or name)")
    listing.add_argument("--user-domain", default=store.DEFAULT_DOMAIN_ID,
                         help="domain of --user given by name (default: %(default)s)")
    _target_options(listing, required=False)
    listing.add_argument("--role", help="only grants of this role (id or name)")
    add_format_option(listing)
    listing.set_defaults(run=assignment_list)

    for action, description in (("add", "grant ROLE to a user on a project, a domain or the "
                                 "system (granting one held already changes nothing)"),
                                ("remove", "take ROLE back: tokens that carried it lose it at "
                                 "their next validation")):
        parser = assignment.add_parser(action, help=description)
        parser.add_argument("role", metavar="ROLE", help="the role (id or name)")
        parser.add_argument("--user", required=True, help="the user (id or name)")
        parser.add_argument("--user-domain", default=store.DEFAULT_DOMAIN_ID,
                            help="domain of --user given by name (default: %(default)s)")
        _target_options(parser, required=True)
        parser.add_argument("--inherited", action="store_true",
                            help="the grant applies to the projects under the target, not to "
                            "the target itself (OS-INHERIT)")
        parser.set_defaults(run=assignment_add if action == "add" else assignment_remove)


def _user_argument(parser) -> None:
    parser.add_argument("user", metavar="USER", help="the user (id or name)")
    parser.add_argument("--domain", default=store.DEFAULT_DOMAIN_ID, help=DOMAIN_HELP)


def _project_argument(parser) -> None:
    parser.add_argument("project", metavar="PROJECT", help="the project (id or name)")
    parser.add_argument("--domain", default=store.DEFAULT_DOMAIN_ID, help=DOMAIN_HELP)


def _target_options(parser, required: bool) -> None:
    target = parser.add_mutually_exclusive_group(required=required)
    target.add_argument("--project", help="on this project (id or name)")
    target.add_argument("--domain", help="on this domain (id or name)")
    target.add_argument("--system", action="store_true", help="on the system (all)")
    parser.add_argument("--project-domain", default=store.DEFAULT_DOMAIN_ID,
                        help="domain of --project given by name (default: %(default)s)")


# -- look-ups ------------------------------------------------------------------------------------

def find_domain(session, ref: str) -> models.Domain:
    domain = store.find_domain(session, domain_id=ref) or store.find_domain(session, name=ref)
    if domain is None:
        raise _command_error(f"no domain {ref!r}")
    return domain


def find_user(session, ref: str, domain_ref: str) -> models.User:
    user = store.find_user(session, user_id=ref)
    if user is None:
        domain = find_domain(session, domain_ref)
        user = store.find_user(session, name=ref, domain_id=domain.id)
        if user is None:
            raise _command_error(f"no user {ref!r} in domain {domain.name!r}")
    return user


def find_project(session, ref: str, domain_ref: str) -> models.Project:
    project = store.find_project(session, project_id=ref)
    if project is None:
        domain = find_domain(session, domain_ref)
        project = store.find_project(session, name=ref, domain_id=domain.id)
        if project is None:
            raise _command_error(f"no project {ref!r} in domain {domain.name!r}")
    return project


def find_role(session, ref: str) -> models.Role:
    role = store.find_role(session, role_id=ref) or store.find_role(session, name=ref)
    if role is None:
        raise _command_error(f"no role {ref!r}")
    return role


def warn_unless_user_exists(settings, name: str) -> None:
    """On stderr: no user ``name`` in the default domain (the domain a certificate's UID is
    looked up in), so a certificate for it logs in no one yet; or that this cannot be told."""
    from keystone_lite.cli.manage import CommandError
    database_file = db_session.sqlite_file(settings.database_connection)
    if database_file and not os.path.exists(database_file):  # not made by a check
        print(f"warning: cannot check that user {name!r} exists: no database yet "
              f"({database_file})", file=sys.stderr)
        return
    try:
        with _session(settings) as session:
            domain = store.find_domain(session, domain_id=settings.default_domain_id)
            found = domain is not None and store.find_user(
                session, name=name, domain_id=domain.id) is not None
    except (CommandError, errors.KeystoneError, sqlalchemy.exc.SQLAlchemyError) as exc:
        print(f"warning: cannot check that user {name!r} exists: "
              f"{getattr(exc, 'message', None) or str(exc).splitlines()[0]}", file=sys.stderr)
        return
    if not found:
        print(f"warning: no user {name!r} in domain {settings.default_domain_id!r}: the "
              f"certificate logs in no one until `keystone-lite-manage user create {name}`",
              file=sys.stderr)


# -- records -------------------------------------------------------------------------------------

def _time(microseconds: int | None) -> str | None:
    if microseconds is None:
        return None
    return datetime.datetime.fromtimestamp(microseconds / 1e6, datetime.timezone.utc
                                           ).isoformat(timespec="seconds")


def _domain_names(session) -> dict[str, str]:
    return {domain.id: domain.name for domain in session.scalars(select(models.Domain))}


def _user_record(user, domains: dict) -> dict:
    return {"id": user.id, "name": user.name, "domain_id": user.domain_id,
            "domain": domains.get(user.domain_id), "enabled": user.enabled,
            "password": user.password_hash is not None,
            "password_expires_at": _time(user.password_expires_at),
            "default_project_id": user.default_project_id, "description": user.description}


def _project_record(project, domains: dict) -> dict:
    return {"id": project.id, "name": project.name, "domain_id": project.domain_id,
            "domain": domains.get(project.domain_id), "enabled": project.enabled,
            "parent_id": project.parent_id, "description": project.description}


def _assignment_records(session, actor: str, **filters) -> list[dict]:
    domains = _domain_names(session)
    records = []
    for row in store.assignments(session, actor, **filters):
        actor_id = row.user_id if actor == "user" else row.group_id
        holder = (store.find_user(session, user_id=actor_id) if actor == "user"
                  else session.get(models.Group, actor_id))
        role = session.get(models.Role, row.role_id)
        target = None
        if row.target_type == "project":
            project = session.get(models.Project, row.target_id)
            target = project and project.name
        elif row.target_type == "domain":
            target = domains.get(row.target_id)
        records.append({
            "role": role.name, "role_id": role.id,
            "user": holder.name if actor == "user" else None,
            "group": holder.name if actor == "group" else None,
            "actor_id": actor_id, "actor_domain": domains.get(holder.domain_id),
            "project": target if row.target_type == "project" else None,
            "domain": target if row.target_type == "domain" else None,
            "system": row.target_id if row.target_type == "system" else None,
            "target_id": row.target_id, "inherited": row.inherited})
    return records


ASSIGNMENT_COLUMNS = ["role", "user", "group", "actor_domain", "project", "domain", "system",
                      "inherited"]


# -- users ---------------------------------------------------------------------------------------

def user_list(settings, args) -> None:
    with _session(settings) as session:
        domains = _domain_names(session)
        query = select(models.User).order_by(models.User.domain_id, models.User.name)
        if args.domain:
            query = query.where(models.User.domain_id == find_domain(session, args.domain).id)
        records = [_user_record(user, domains) for user in session.scalars(query)]
    print_records(records, ["id", "name", "domain", "enabled", "password"], args.format,
                  "no users")


def user_show(settings, args) -> None:
    with _session(settings) as session:
        user = find_user(session, args.user, args.domain)
        record = _user_record(user, _domain_names(session))
        record["roles"] = [_describe_grant(grant) for grant in _assignment_records(
            session, "user", actor_ids=[user.id])]
    print_record(record, args.format)


def _describe_grant(record: dict) -> str:
    target = (f"project {record['project']}" if record["project"] is not None
              else f"domain {record['domain']}" if record["domain"] is not None
              else "system")
    return f"{record['role']} on {target}" + (" (inherited)" if record["inherited"] else "")


def user_set(settings, args) -> None:
    changes = {}
    with _session(settings) as session:
        user = find_user(session, args.user, args.domain)
        if args.name is not None and args.name != user.name:
            if store.find_user(session, name=args.name, domain_id=user.domain_id):
                raise _command_error(f"user {args.name!r} already exists in that domain")
            changes["name"] = args.name
        if args.description is not None:
            changes["description"] = args.description
        if args.default_project is not None:
            changes["default_project_id"] = (
                find_project(session, args.default_project, user.domain_id).id
                if args.default_project else None)
        if not changes:
            raise _command_error("nothing to change: give --name, --description or "
                                 "--default-project")
        store.update(session, user, changes)
    print(f"updated user {user.name!r} (id {user.id}): {', '.join(sorted(changes))}")


def user_disable(settings, args) -> None:
    with _session(settings) as session:
        user = find_user(session, args.user, args.domain)
        store.update(session, user, {"enabled": False})
    print(f"disabled user {user.name!r} (id {user.id}); its tokens no longer validate")


def user_enable(settings, args) -> None:
    with _session(settings) as session:
        user = find_user(session, args.user, args.domain)
        store.update(session, user, {"enabled": True})
        Lockout.reset(session, user.id)  # as the API does when enabling
    print(f"enabled user {user.name!r} (id {user.id})")


def user_delete(settings, args) -> None:
    with _session(settings) as session:
        user = find_user(session, args.user, args.domain)
        name, user_id = user.name, user.id
        users.delete_dependents(session, [user_id])
        resources.remove(session, user)
    print(f"deleted user {name!r} (id {user_id}) with its grants; its tokens no longer "
          "validate")


def user_password(settings, args) -> None:
    from keystone_lite.cli.manage import _password
    with _session(settings) as session:
        user = find_user(session, args.user, args.domain)
        if args.remove:
            changes = {"password_hash": None, "password_expires_at": None}
        else:
            password = _password(args.password, f"new password for {user.name}")
            if not password:
                raise _command_error("empty password; use --remove for certificate login "
                                     "only")
            hasher = PasswordHasher(settings.argon2_time_cost, settings.argon2_memory_cost)
            exempt = store.user_options(session, [user.id]).get(user.id, {}).get(
                "ignore_password_expiry") is True
            changes = {"password_hash": hasher.hash(password),
                       "password_expires_at": expiry(settings.password_expires_days, exempt)}
        store.update(session, user, changes)
        Lockout.reset(session, user.id)  # as the API does for a password set by an admin
    print(f"{'removed the password of' if args.remove else 'new password for'} user "
          f"{user.name!r} (id {user.id}); its tokens no longer validate")


# -- projects ------------------------------------------------------------------------------------

def project_list(settings, args) -> None:
    with _session(settings) as session:
        domains = _domain_names(session)
        query = select(models.Project).order_by(models.Project.domain_id, models.Project.name)
        if args.domain:
            query = query.where(
                models.Project.domain_id == find_domain(session, args.domain).id)
        records = [_project_record(project, domains) for project in session.scalars(query)]
    print_records(records, ["id", "name", "domain", "enabled", "description"], args.format,
                  "no projects")


def project_show(settings, args) -> None:
    with _session(settings) as session:
        project = find_project(session, args.project, args.domain)
        record = _project_record(project, _domain_names(session))
        record["grants"] = [
            f"{grant['role']} to {actor} {grant[actor]}"
            + (" (inherited)" if grant["inherited"] else "")
            for actor in ("user", "group")
            for grant in _assignment_records(session, actor, target_type="project",
                                             target_ids=[project.id])]
    print_record(record, args.format)


def project_create(settings, args) -> None:
    with _session(settings) as session:
        domain = find_domain(session, args.domain)
        if store.find_project(session, name=args.name, domain_id=domain.id):
            raise _command_error(f"project {args.name!r} already exists in domain "
                                 f"{domain.name!r}")
        project = store.create_project(session, name=args.name, domain_id=domain.id,
                                       description=args.description,
                                       enabled=not args.disabled)
    print(f"created project {args.name!r} (id {project.id}) in domain {domain.name!r}")


def project_disable(settings, args) -> None:
    with _session(settings) as session:
        project = find_project(session, args.project, args.domain)
        store.update(session, project, {"enabled": False})
    print(f"disabled project {project.name!r} (id {project.id}); tokens scoped to it no longer "
          "validate")


def project_enable(settings, args) -> None:
    with _session(settings) as session:
        project = find_project(session, args.project, args.domain)
        store.update(session, project, {"enabled": True})
    print(f"enabled project {project.name!r} (id {project.id})")


def project_delete(settings, args) -> None:
    with _session(settings) as session:
        project = find_project(session, args.project, args.domain)
        name, project_id = project.name, project.id
        project_tree.check_delete(session, project)
        projects.delete_grants_on(session, [project_id])
        resources.remove(session, project)
    print(f"deleted project {name!r} (id {project_id}) with the grants on it")


# -- roles and assignments -----------------------------------------------------------------------

def role_list(settings, args) -> None:
    with _session(settings) as session:
        records = [{"id": role.id, "name": role.name, "description": role.description}
                   for role in store.list_roles(session)]
    print_records(records, ["id", "name", "description"], args.format, "no roles")


def _target(session, args) -> tuple[str, str] | None:
    if args.project:
        return "project", find_project(session, args.project, args.project_domain).id
    if args.domain:
        return "domain", find_domain(session, args.domain).id
    if args.system:
        return "system", "all"
    return None


def assignment_list(settings, args) -> None:
    with _session(settings) as session:
        filters = {}
        target = _target(session, args)
        if target is not None:
            filters["target_type"], target_id = target
            filters["target_ids"] = [target_id]
        if args.role:
            filters["role_id"] = find_role(session, args.role).id
        records = []
        if args.user:
            user = find_user(session, args.user, args.user_domain)
            records = _assignment_records(session, "user", actor_ids=[user.id], **filters)
        else:
            records = (_assignment_records(session, "user", **filters)
                       + _assignment_records(session, "group", **filters))
    print_records(records, ASSIGNMENT_COLUMNS, args.format, "no role assignments")


def _grant_key(session, args) -> tuple:
    user = find_user(session, args.user, args.user_domain)
    role = find_role(session, args.role)
    target_type, target_id = _target(session, args)
    return user, role, target_type, target_id


def _describe_target(args) -> str:
    return ("the system" if args.system else f"project {args.project!r}" if args.project
            else f"domain {args.domain!r}") + (" (inherited)" if args.inherited else "")


def assignment_add(settings, args) -> None:
    with _session(settings) as session:
        user, role, target_type, target_id = _grant_key(session, args)
        _check_role_domain(session, target_type, target_id, role.id)
        store.grant(session, user.id, target_type, target_id, role.id,
                    inherited=args.inherited)
    print(f"granted role {role.name!r} to user {user.name!r} on {_describe_target(args)}")


def assignment_remove(settings, args) -> None:
    with _session(settings) as session:
        user, role, target_type, target_id = _grant_key(session, args)
        if not store.revoke_grant(session, user.id, target_type, target_id, role.id,
                                  inherited=args.inherited):
            raise _command_error(f"user {user.name!r} holds no role {role.name!r} on "
                                 f"{_describe_target(args)}")
    print(f"removed role {role.name!r} of user {user.name!r} on {_describe_target(args)}")
