"""Admin identity API (``/v3`` of the admin app): users, projects, roles and domains.

Grants and role assignments live in ``assignment_controller``, the catalog in
``catalog_controller``; ``IdentityController.routes`` gathers all three for the admin router.
Disabling or enabling a user or changing its password, and disabling or enabling a project, kill
the existing tokens for good (store.update moves the revision they carry).
"""
from __future__ import annotations

from keystone_lite import errors, policy
from keystone_lite.db import models
from keystone_lite.identity import parsing, passwords, render, store
from keystone_lite.identity.admin import AdminController, ident, listing
from keystone_lite.identity.assignment_controller import AssignmentController
from keystone_lite.identity.catalog_controller import CatalogController
from keystone_lite.identity.lockout import Lockout
from keystone_lite.router import json_response, no_content

PASSWORD_MAX = 4096
NO_DOMAIN = ""  # a domain_id no domain has: ids are never empty


class IdentityController(AdminController):
    def routes(self):
        return [
            (r"/users", {"GET": self.list_users, "POST": self.create_user}),
            (rf"/users/{ident('user_id')}", {"GET": self.get_user, "PATCH": self.update_user,
                                             "DELETE": self.delete_user}),
            (rf"/users/{ident('user_id')}/projects", {"GET": self.list_user_projects}),
            (r"/projects", {"GET": self.list_projects, "POST": self.create_project}),
            (rf"/projects/{ident('project_id')}", {
                "GET": self.get_project, "PATCH": self.update_project,
                "DELETE": self.delete_project}),
            (r"/roles", {"GET": self.list_roles, "POST": self.create_role}),
            (rf"/roles/{ident('role_id')}", {"GET": self.get_role, "PATCH": self.update_role,
                                             "DELETE": self.delete_role}),
            (r"/domains", {"GET": self.list_domains, "POST": self.create_domain}),
            (rf"/domains/{ident('domain_id')}", {"GET": self.get_domain}),
        ] + AssignmentController(self.services).routes() + CatalogController(
            self.services).routes()

    # -- users ---------------------------------------------------------------------------------

    def list_users(self, req, session):
        base = self.authorize(req, "identity:list_users")
        params = parsing.query(req)
        enabled = parsing.query_bool(params, "enabled")
        default_project_id = params.get("default_project_id")
        users = store.list_users(session, name=params.get("name"),
                                 domain_id=self._listed_domain(req, params))
        options = store.user_options(session, [user.id for user in users])
        return listing(req, "users", "/users", [
            render.v3_user(user, base, options.get(user.id)) for user in users
            if (enabled is None or user.enabled is enabled)
            and (default_project_id is None or user.default_project_id == default_project_id)])

    def create_user(self, req, session):
        base = self._authorize_create(req, "identity:create_user", "user")
        body = parsing.entity(req, "user")
        name = parsing.text(body, "name", "user", required=True)
        domain = self._domain_of(session, body, "user")
        password = _password(body)
        options = _options(body)
        default_project_id = _default_project_id(session, body)
        store.ensure_user_name_free(session, name, domain.id)
        user = store.create_user(
            session, name=name, domain_id=domain.id,
            password_hash=self.services.passwords.hash(password) if password else None,
            password_expires_at=passwords.expiry(
                self.settings.password_expires_days,
                options.get("ignore_password_expiry") is True) if password else None,
            enabled=parsing.flag(body, "enabled", "user", default=True),
            default_project_id=default_project_id,
            description=parsing.description(body, "user") or "")
        store.set_user_options(session, user.id, options)
        return self._user_response(session, user, base, status=201)

    def get_user(self, req, session, user_id):
        base, rows = self.authorize_on(req, session, "identity:get_user", user=user_id)
        return self._user_response(session, rows["user"], base)

    @staticmethod
    def _user_response(session, user, base, status=200):
        options = store.user_options(session, [user.id]).get(user.id)
        return json_response({"user": render.v3_user(user, base, options)}, status=status)

    def update_user(self, req, session, user_id):
        base, rows = self.authorize_on(req, session, "identity:update_user", user=user_id)
        user = rows["user"]
        body = parsing.entity(req, "user")
        _refuse_domain_change(body, user, "user")
        changes = _common_changes(body, "user")
        if changes.get("name", user.name) != user.name:
            store.ensure_user_name_free(session, changes["name"], user.domain_id)
        password = _password(body)
        options = _options(body)
        if password is not None:
            exempt = {**store.user_options(session, [user.id]).get(user.id, {}), **options}.get(
                "ignore_password_expiry") is True
            changes["password_hash"] = self.services.passwords.hash(password)
            changes["password_expires_at"] = passwords.expiry(
                self.settings.password_expires_days, exempt)
        elif options.get("ignore_password_expiry") is True:
            changes["password_expires_at"] = None  # the option is the way out of an expiry
        if "default_project_id" in body:
            changes["default_project_id"] = _default_project_id(session, body)
        store.update(session, user, changes)
        store.set_user_options(session, user.id, options)
        if password is not None or changes.get("enabled") is True:
            # As Keystone for enabling; a new password set by an administrator likewise.
            Lockout.reset(session, user.id)
        return self._user_response(session, user, base)

    def delete_user(self, req, session, user_id):
        _base, rows = self.authorize_on(req, session, "identity:delete_user", user=user_id)
        store.delete_user(session, rows["user"])
        return no_content()

    def list_user_projects(self, req, session, user_id):
        """Projects on which the user holds a role (disabled ones too, as Keystone)."""
        base, rows = self.authorize_on(req, session, "identity:list_user_projects",
                                       user=user_id)
        user = rows["user"]
        params = parsing.query(req)
        enabled = parsing.query_bool(params, "enabled")
        name = params.get("name")
        projects = store.projects_for_user(session, user.id, enabled_only=False)
        return listing(req, "projects", f"/users/{user.id}/projects", [
            render.v3_project(project, base) for project in projects
            if (enabled is None or project.enabled is enabled)
            and (name is None or project.name == name)])

    # -- projects ------------------------------------------------------------------------------

    def list_projects(self, req, session):
        base = self.authorize(req, "identity:list_projects")
        params = parsing.query(req)
        enabled = parsing.query_bool(params, "enabled")
        projects = store.list_projects(session, name=params.get("name"),
                                       domain_id=self._listed_domain(req, params))
        return listing(req, "projects", "/projects", [
            render.v3_project(project, base) for project in projects
            if enabled is None or project.enabled is enabled])

    def create_project(self, req, session):
        base = self._authorize_create(req, "identity:create_project", "project")
        body = parsing.entity(req, "project")
        name = parsing.text(body, "name", "project", required=True)
        domain = self._domain_of(session, body, "project")
        if parsing.flag(body, "is_domain", "project"):
            raise errors.ValidationError("Projects acting as domains are not supported.")
        parent_id = parsing.text(body, "parent_id", "project")
        if parent_id is not None and parent_id != domain.id:
            raise errors.ValidationError("Project hierarchies are not supported: parent_id must "
                                         "be the project's domain.")
        store.ensure_project_name_free(session, name, domain.id)
        project = store.create_project(
            session, name=name, domain_id=domain.id,
            description=parsing.description(body, "project") or "",
            enabled=parsing.flag(body, "enabled", "project", default=True))
        return json_response({"project": render.v3_project(project, base)}, status=201)

    def get_project(self, req, session, project_id):
        base, rows = self.authorize_on(req, session, "identity:get_project", project=project_id)
        project = rows["project"]
        return json_response({"project": render.v3_project(project, base)})

    def update_project(self, req, session, project_id):
        base, rows = self.authorize_on(req, session, "identity:update_project",
                                       project=project_id)
        project = rows["project"]
        body = parsing.entity(req, "project")
        _refuse_domain_change(body, project, "project")
        changes = _common_changes(body, "project")
        if changes.get("name", project.name) != project.name:
            store.ensure_project_name_free(session, changes["name"], project.domain_id)
        store.update(session, project, changes)
        return json_response({"project": render.v3_project(project, base)})

    def delete_project(self, req, session, project_id):
        _base, rows = self.authorize_on(req, session, "identity:delete_project",
                                        project=project_id)
        store.delete_project(session, rows["project"])
        return no_content()

    # -- roles ---------------------------------------------------------------------------------

    def list_roles(self, req, session):
        base = self.authorize(req, "identity:list_roles")
        params = parsing.query(req)
        roles = store.list_roles(session, name=params.get("name"))
        return listing(req, "roles", "/roles", [render.v3_role(role, base) for role in roles])

    def create_role(self, req, session):
        base = self.authorize(req, "identity:create_role")
        body = parsing.entity(req, "role")
        name = parsing.text(body, "name", "role", required=True)
        store.ensure_role_name_free(session, name)
        role = store.create_role(session, name=name,
                                 description=parsing.description(body, "role") or "")
        return json_response({"role": render.v3_role(role, base)}, status=201)

    def get_role(self, req, session, role_id):
        base, rows = self.authorize_on(req, session, "identity:get_role", role=role_id)
        role = rows["role"]
        return json_response({"role": render.v3_role(role, base)})

    def update_role(self, req, session, role_id):
        base = self.authorize(req, "identity:update_role")
        role = parsing.load(session, models.Role, role_id, "role")
        body = parsing.entity(req, "role")
        changes = {}
        name = parsing.text(body, "name", "role")
        if name is not None and name != role.name:
            store.ensure_role_name_free(session, name)
            changes["name"] = name
        description = parsing.description(body, "role")
        if description is not None:
            changes["description"] = description
        store.update(session, role, changes)
        return json_response({"role": render.v3_role(role, base)})

    def delete_role(self, req, session, role_id):
        self.authorize(req, "identity:delete_role")
        store.delete_role(session, parsing.load(session, models.Role, role_id, "role"))
        return no_content()

    # -- domains (listed, shown and created; never changed here) --------------------------------

    def list_domains(self, req, session):
        base = self.authorize(req, "identity:list_domains")
        params = parsing.query(req)
        enabled = parsing.query_bool(params, "enabled")
        domains = store.list_domains(session, name=params.get("name"))
        return listing(req, "domains", "/domains", [
            render.v3_domain(domain, base) for domain in domains
            if enabled is None or domain.enabled is enabled])

    def create_domain(self, req, session):
        base = self.authorize(req, "identity:create_domain")
        body = parsing.entity(req, "domain")
        name = parsing.text(body, "name", "domain", required=True)
        store.ensure_domain_name_free(session, name)
        domain = store.create_domain(
            session, name=name, description=parsing.description(body, "domain") or "",
            enabled=parsing.flag(body, "enabled", "domain", default=True))
        return json_response({"domain": render.v3_domain(domain, base)}, status=201)

    def get_domain(self, req, session, domain_id):
        base, rows = self.authorize_on(req, session, "identity:get_domain", domain=domain_id)
        domain = rows["domain"]
        return json_response({"domain": render.v3_domain(domain, base)})

    # -- helpers -------------------------------------------------------------------------------

    def _authorize_create(self, req, rule: str, where: str) -> str:
        """Enforce ``rule`` on the domain the body names (default: the default domain) before
        the body is checked, so that a caller who may not create learns nothing from a 400;
        a body too broken to name a domain gives a target without one."""
        try:
            domain_id = (parsing.text(parsing.entity(req, where), "domain_id", where)
                         or self.settings.default_domain_id)
        except errors.ValidationError:
            domain_id = None
        return self.authorize(req, rule, {f"{where}.domain_id": domain_id})

    def _listed_domain(self, req, params: dict) -> str | None:
        """The ``?domain_id`` filter; a domain-scoped token lists its own domain only, as in
        Keystone (another ``?domain_id`` then matches nothing)."""
        token_domain = policy.credentials_of(req, self.settings).domain_id
        asked = params.get("domain_id")
        if token_domain is None:
            return asked
        return token_domain if asked in (None, token_domain) else NO_DOMAIN

    def _domain_of(self, session, body: dict, where: str) -> models.Domain:
        """The body's ``domain_id`` (default: the configured default domain); 400 if unknown."""
        domain_id = parsing.text(body, "domain_id", where) or self.settings.default_domain_id
        domain = store.find_domain(session, domain_id=domain_id)
        if domain is None:
            raise errors.ValidationError(f"Could not find domain: {domain_id}.")
        return domain


def _password(body: dict) -> str | None:
    return parsing.text(body, "password", "user", max_length=PASSWORD_MAX)


def _options(body: dict) -> dict:
    """``user.options``: Keystone's user options, each a boolean, or null to remove it."""
    options = body.get("options")
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise errors.ValidationError("Invalid type for user.options.")
    for name, value in options.items():
        if name not in store.USER_OPTIONS:
            raise errors.ValidationError(f"Unsupported user option: {name[:64]}; supported: "
                                         f"{', '.join(store.USER_OPTIONS)}.")
        if value is not None and not isinstance(value, bool):
            raise errors.ValidationError(f"Invalid type for user.options.{name}.")
    return options


def _default_project_id(session, body: dict) -> str | None:
    """``user.default_project_id``: None when absent or null; 400 when no such project."""
    project_id = parsing.text(body, "default_project_id", "user")
    if project_id is not None and store.find_project(session, project_id=project_id) is None:
        raise errors.ValidationError(f"Could not find project: {project_id}.")
    return project_id


def _common_changes(body: dict, where: str) -> dict:
    """The ``name``, ``description`` and ``enabled`` a PATCH body sets, as model attributes."""
    changes = {"name": parsing.text(body, "name", where),
               "description": parsing.description(body, where),
               "enabled": parsing.flag(body, "enabled", where)}
    return {key: value for key, value in changes.items() if value is not None}


def _refuse_domain_change(body: dict, entity, where: str) -> None:
    domain_id = parsing.text(body, "domain_id", where)
    if domain_id is not None and domain_id != entity.domain_id:
        raise errors.ValidationError(f"The domain_id of a {where} cannot be changed.")
