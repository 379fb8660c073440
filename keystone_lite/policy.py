"""Who may call what: Keystone's policy rules by name, as data, in two modes.

``RULES`` maps each rule name (Keystone's, e.g. ``identity:list_users``) to a check: a function
of the caller's ``Credentials`` and the call's target (a flat dict such as
``{"user.domain_id": ...}``) answering True or False. Controllers call
``enforce(req, settings, name, target)``.

The two modes differ in one place, ``admin_required`` (``Credentials.cloud_admin``):
- ``[oslo_policy] enforce_scope = false`` (the default): Keystone's shipped
  ``role:admin or is_admin:1``, so ``admin`` on any project or domain administers the cloud.
- ``enforce_scope = true``: only ``admin`` on the system scope or on the admin project
  (``is_admin_project``) is. Everyone else acts through the other clauses, which are bound to
  the token's scope: a domain's admin, manager or reader inside that domain, a project's users
  on that project, system readers everywhere read-only.

Deliberate differences from Keystone's defaults:
- with enforce_scope on, Keystone's ``admin_required`` is still ``role:admin`` on any scope
  (its "admin-ness" bug, fixed only by an operator's policy file); here it is narrowed as above,
  and it is not refused to the admin project's token where Keystone's ``scope_types`` leave
  project tokens out (list_projects, create_project, grants): that token is the cloud admin's;
- the admin project is ``[DEFAULT] admin_project_name`` in the default domain (Keystone:
  ``[resource] admin_project_name`` and ``admin_project_domain_name``, unset by default, which
  makes every token ``is_admin_project``).
Checks raise Unauthorized/Forbidden explicitly (never ``assert``, which vanishes under
``python -O``).
"""
from __future__ import annotations

import dataclasses

from keystone_lite import errors
from keystone_lite.context import get_context
from keystone_lite.token.payload import EC2_CREDENTIAL

# Roles a domain manager may grant and revoke inside the domain (Keystone's default).
MANAGED_ROLES = frozenset({"manager", "member", "reader"})


@dataclasses.dataclass(frozen=True)
class Credentials:
    """The caller as policy sees it; ``None`` ids mean "not on that kind of scope"."""

    user_id: str | None
    roles: frozenset[str]  # persona-expanded role names
    system: bool
    domain_id: str | None  # of a domain-scoped token
    project_id: str | None
    project_domain_id: str | None
    cloud_admin: bool  # rule admin_required (the mode's one difference)


def personas(role_names, settings) -> frozenset[str]:
    """The role names with the personas they stand for: the configured ``admin_role`` and
    ``service_role`` are ``admin`` and ``service``. The roles a token's roles imply
    (``admin ⇒ manager ⇒ member ⇒ reader`` from bootstrap) are in the token already."""
    names = set(role_names)
    for configured, persona in ((settings.admin_role, "admin"),
                                (settings.service_role, "service")):
        if configured in names:
            names.add(persona)
    return frozenset(names)


def is_admin_project(token, settings) -> bool:
    """A token on the admin project: ``[DEFAULT] admin_project_name`` in the default domain."""
    return (token.project is not None and token.project.name == settings.admin_project_name
            and token.project.domain_id == settings.default_domain_id)


_ADMIN_TOKEN = Credentials(None, frozenset(), False, None, None, None, True)


def credentials(context: dict, settings) -> Credentials:
    """The caller's credentials, computed once per caller token (see ValidatedToken.derived)."""
    if context["is_admin_token"]:  # the constant-time admin_token: Keystone's is_admin:1
        return _ADMIN_TOKEN
    token = context["caller"]
    creds = token.derived.get("credentials")
    if creds is None:
        creds = token.derived["credentials"] = _credentials(token, settings)
    return creds


def _credentials(token, settings) -> Credentials:
    kind = token.payload.scope_kind
    roles = personas(token.role_names, settings)
    system = kind == "system"
    admin = "admin" in roles and (not settings.enforce_scope or system
                                  or is_admin_project(token, settings))
    project = token.project if kind == "project" else None
    return Credentials(
        token.user.id, roles, system, token.payload.scope_id if kind == "domain" else None,
        project.id if project else None, project.domain_id if project else None, admin)


# -- checks: (Credentials, target) -> bool ---------------------------------------------------------

def admin_required(creds, target):
    return creds.cloud_admin


def system(role):
    return lambda creds, target: creds.system and role in creds.roles


def in_domain(role, *keys):
    """``role`` on a domain-scoped token whose domain is every ``keys`` of the target."""
    return lambda creds, target: (role in creds.roles and creds.domain_id is not None
                                  and all(target.get(key) == creds.domain_id for key in keys))


def on_project(key):
    """Any role on a project-scoped token on the target's project."""
    return lambda creds, target: (creds.project_id is not None
                                  and creds.project_id == target.get(key))


def in_or_under_domain(key):
    """Any role on the target domain, or on one of its projects."""
    return lambda creds, target: target.get(key) is not None and target.get(key) in (
        creds.domain_id, creds.project_domain_id)


def owner(key):
    return lambda creds, target: creds.user_id is not None and creds.user_id == target.get(key)


def on_domain(*keys):
    """Any role on a domain-scoped token whose domain is one of the target's ``keys``."""
    return lambda creds, target: creds.domain_id is not None and any(
        target.get(key) == creds.domain_id for key in keys)


def role(name):
    return lambda creds, target: name in creds.roles


def managed_role(creds, target):
    return target.get("role.name") in MANAGED_ROLES


def domain_manager(creds, target):
    return "manager" in creds.roles and creds.domain_id is not None


def anyone(creds, target):
    return True


def a_user(creds, target):
    """Any user's token (not the bootstrap admin token, which stands for no user)."""
    return creds.user_id is not None


def any_of(*checks):
    return lambda creds, target: any(check(creds, target) for check in checks)


def all_of(*checks):
    return lambda creds, target: all(check(creds, target) for check in checks)


# -- the rules ------------------------------------------------------------------------------------
# Keystone's defaults with the domain manager persona. ``in_domain("reader", ...)`` also admits
# domain managers and admins (their roles imply reader, and tokens carry implied roles), as
# Keystone's separate manager clauses do there.

SYSTEM_READER = system("reader")
ADMIN_OR_SYSTEM_READER = any_of(admin_required, SYSTEM_READER)
# Lists: a domain-scoped token's are filtered to its domain (the controllers do it, as Keystone's).
DOMAIN_LIST = any_of(admin_required, SYSTEM_READER, in_domain("reader"))
USER_READ = any_of(admin_required, SYSTEM_READER, in_domain("reader", "user.domain_id"),
                   owner("user.id"))
USER_WRITE = any_of(admin_required, in_domain("manager", "user.domain_id"))
PROJECT_WRITE = any_of(admin_required, in_domain("manager", "project.domain_id"))
PROJECT_READ = any_of(admin_required, SYSTEM_READER, in_domain("reader", "project.domain_id"),
                      on_project("project.id"))
# Keystone's project_tag.py: an admin of the system, of the project's domain or of the project.
PROJECT_TAG_WRITE = any_of(admin_required, in_domain("admin", "project.domain_id"),
                           all_of(role("admin"), on_project("project.id")))
ROLE_FINDERS = any_of(admin_required, SYSTEM_READER, domain_manager)


GROUP_READ = any_of(admin_required, SYSTEM_READER, in_domain("reader", "group.domain_id"))
GROUP_WRITE = any_of(admin_required, in_domain("manager", "group.domain_id"))


# Keystone's credential.py: the owner, a system reader (reads) or an admin. A list is checked
# with the caller's own user as the owner (so anyone with a user may list; the list shows what
# identity:get_credential allows: identity/credentials.py).
CREDENTIAL_READ = any_of(admin_required, SYSTEM_READER, owner("credential.user_id"))
CREDENTIAL_WRITE = any_of(admin_required, owner("credential.user_id"))


def has_user(creds, target):
    return creds.user_id is not None
TRUSTOR = owner("trust.trustor_user_id")
TRUSTEE = owner("trust.trustee_user_id")
TRUST_READ = any_of(SYSTEM_READER, TRUSTOR, TRUSTEE)


def grant_in_domain(role_name):
    """Grants whose user (or group) and project (or domain) are all in the token's domain."""
    return any_of(*(in_domain(role_name, actor, target)
                    for actor in ("user.domain_id", "group.domain_id")
                    for target in ("project.domain_id", "domain.id")))


RULES = {
    "admin_required": admin_required,
    "identity:list_users": DOMAIN_LIST,
    "identity:get_user": USER_READ,
    "identity:create_user": USER_WRITE,
    "identity:update_user": USER_WRITE,
    "identity:delete_user": USER_WRITE,
    "identity:list_user_projects": USER_READ,
    "identity:list_groups": DOMAIN_LIST,
    "identity:get_group": GROUP_READ,
    "identity:create_group": GROUP_WRITE,
    "identity:update_group": GROUP_WRITE,
    "identity:delete_group": GROUP_WRITE,
    "identity:list_users_in_group": GROUP_READ,
    "identity:list_groups_for_user": USER_READ,
    # Membership calls: the group and the user both in the token's domain.
    "identity:check_user_in_group": any_of(admin_required, SYSTEM_READER, in_domain(
        "reader", "group.domain_id", "user.domain_id")),
    "identity:add_user_to_group": any_of(admin_required, in_domain(
        "manager", "group.domain_id", "user.domain_id")),
    "identity:remove_user_from_group": any_of(admin_required, in_domain(
        "manager", "group.domain_id", "user.domain_id")),
    "identity:list_projects": DOMAIN_LIST,
    "identity:get_project": PROJECT_READ,
    "identity:create_project": PROJECT_WRITE,
    "identity:update_project": PROJECT_WRITE,
    "identity:delete_project": PROJECT_WRITE,
    "identity:list_project_tags": PROJECT_READ,
    "identity:get_project_tag": PROJECT_READ,
    "identity:update_project_tags": PROJECT_TAG_WRITE,
    "identity:create_project_tag": PROJECT_TAG_WRITE,
    "identity:delete_project_tags": PROJECT_TAG_WRITE,
    "identity:delete_project_tag": PROJECT_TAG_WRITE,
    "identity:list_roles": ROLE_FINDERS,
    "identity:get_role": any_of(admin_required, SYSTEM_READER,
                                all_of(domain_manager, managed_role)),
    "identity:create_role": admin_required,
    "identity:update_role": admin_required,
    "identity:delete_role": admin_required,
    # Domain-specific roles (``/v3/roles`` with a ``domain_id``) and implication rules:
    # Keystone's system reader / system admin defaults, or admin_required.
    "identity:list_domain_roles": ADMIN_OR_SYSTEM_READER,
    "identity:get_domain_role": ADMIN_OR_SYSTEM_READER,
    "identity:create_domain_role": admin_required,
    "identity:update_domain_role": admin_required,
    "identity:delete_domain_role": admin_required,
    "identity:list_implied_roles": ADMIN_OR_SYSTEM_READER,
    "identity:get_implied_role": ADMIN_OR_SYSTEM_READER,
    "identity:check_implied_role": ADMIN_OR_SYSTEM_READER,
    "identity:list_role_inference_rules": ADMIN_OR_SYSTEM_READER,
    "identity:create_implied_role": admin_required,
    "identity:delete_implied_role": admin_required,
    "identity:list_domains": ROLE_FINDERS,
    "identity:get_domain": any_of(admin_required, SYSTEM_READER, in_or_under_domain("domain.id")),
    "identity:create_domain": admin_required,
    "identity:update_domain": admin_required,
    "identity:delete_domain": admin_required,
    # Domain configurations (keystone/common/policies/domain_config.py): system reader or
    # admin to read, admin to write; the password rules (security_compliance) to anyone.
    "identity:get_domain_config": ADMIN_OR_SYSTEM_READER,
    "identity:get_domain_config_default": ADMIN_OR_SYSTEM_READER,
    "identity:get_security_compliance_domain_config": anyone,
    "identity:create_domain_config": admin_required,
    "identity:update_domain_config": admin_required,
    "identity:delete_domain_config": admin_required,
    "identity:list_grants": any_of(admin_required, SYSTEM_READER, grant_in_domain("reader")),
    "identity:check_grant": any_of(admin_required, SYSTEM_READER, grant_in_domain("reader")),
    "identity:create_grant": any_of(admin_required,
                                    all_of(grant_in_domain("manager"), managed_role)),
    "identity:revoke_grant": any_of(admin_required,
                                    all_of(grant_in_domain("manager"), managed_role)),
    "identity:list_system_grants_for_user": ADMIN_OR_SYSTEM_READER,
    "identity:check_system_grant_for_user": ADMIN_OR_SYSTEM_READER,
    "identity:create_system_grant_for_user": admin_required,
    "identity:revoke_system_grant_for_user": admin_required,
    "identity:list_system_grants_for_group": ADMIN_OR_SYSTEM_READER,
    "identity:check_system_grant_for_group": ADMIN_OR_SYSTEM_READER,
    "identity:create_system_grant_for_group": admin_required,
    "identity:revoke_system_grant_for_group": admin_required,
    "identity:list_role_assignments": DOMAIN_LIST,
    "identity:list_credentials": any_of(admin_required, SYSTEM_READER, has_user),
    "identity:get_credential": CREDENTIAL_READ,
    "identity:create_credential": CREDENTIAL_WRITE,
    "identity:update_credential": CREDENTIAL_WRITE,
    "identity:delete_credential": CREDENTIAL_WRITE,
    # ``?include_subtree``: a reader of the project's domain, or an admin of the project.
    "identity:list_role_assignments_for_tree": any_of(
        admin_required, SYSTEM_READER, in_domain("reader", "project.domain_id"),
        all_of(role("admin"), on_project("project.id"))),
    # EC2 credentials (keystone/common/policies/ec2_credential.py): lists and creates check
    # the path's user, gets and deletes the credential's.
    "identity:ec2_list_credentials": any_of(admin_required, SYSTEM_READER, owner("user_id")),
    "identity:ec2_get_credential": CREDENTIAL_READ,
    "identity:ec2_create_credential": any_of(admin_required, owner("user_id")),
    "identity:ec2_delete_credential": CREDENTIAL_WRITE,
    # Signatures for a token (ec2tokens.py, s3tokens.py: rule:service_or_admin since Keystone's
    # fix of CVE-2025-65073).
    "identity:ec2tokens_validate": any_of(admin_required, role("service")),
    "identity:s3tokens_validate": any_of(admin_required, role("service")),
    # RFC 7662 introspection (keystone_lite.token.introspection; Keystone has none): what
    # services call, as the two above.
    "identity:introspect_token": any_of(admin_required, role("service")),
    # GET /admin/metrics (keystone_lite.metrics_wsgi; Keystone has none): for operators and
    # monitoring services, as validation is.
    "identity:get_metrics": any_of(admin_required, SYSTEM_READER, role("service")),
    "identity:list_services": ADMIN_OR_SYSTEM_READER,
    "identity:get_service": ADMIN_OR_SYSTEM_READER,
    "identity:create_service": admin_required,
    "identity:update_service": admin_required,
    "identity:delete_service": admin_required,
    "identity:list_endpoints": ADMIN_OR_SYSTEM_READER,
    "identity:get_endpoint": ADMIN_OR_SYSTEM_READER,
    "identity:create_endpoint": admin_required,
    "identity:update_endpoint": admin_required,
    "identity:delete_endpoint": admin_required,
    "identity:list_regions": anyone,
    "identity:get_region": anyone,
    "identity:create_region": admin_required,
    "identity:update_region": admin_required,
    "identity:delete_region": admin_required,
    # Policy blobs (/v3/policies, keystone/common/policies/policy.py).
    "identity:list_policies": ADMIN_OR_SYSTEM_READER,
    "identity:get_policy": ADMIN_OR_SYSTEM_READER,
    "identity:create_policy": admin_required,
    "identity:update_policy": admin_required,
    "identity:delete_policy": admin_required,
    # Certificate revocations (keystone_lite/certificates/revocations.py; Keystone has none):
    # as the catalog, cloud admins write and system readers read.
    "identity:list_certificate_revocations": ADMIN_OR_SYSTEM_READER,
    "identity:get_certificate_revocation": ADMIN_OR_SYSTEM_READER,
    "identity:create_certificate_revocation": admin_required,
    # OAuth1 (keystone_lite/oauth1): consumers as Keystone (system reader / admin, else
    # admin_required). A user's delegations: Keystone's admin_required, and here also the user
    # themself (``owner``) — a delegation only hands on roles its user holds, and the calls
    # refuse tokens that were themselves made by delegation.
    "identity:list_consumers": ADMIN_OR_SYSTEM_READER,
    "identity:get_consumer": ADMIN_OR_SYSTEM_READER,
    "identity:create_consumer": admin_required,
    "identity:update_consumer": admin_required,
    "identity:delete_consumer": admin_required,
    "identity:authorize_request_token": any_of(admin_required, a_user),
    "identity:list_access_tokens": any_of(admin_required, owner("user.id")),
    "identity:get_access_token": any_of(admin_required, owner("user.id")),
    "identity:delete_access_token": any_of(admin_required, owner("user.id")),
    "identity:list_access_token_roles": any_of(admin_required, owner("user.id")),
    "identity:get_access_token_role": any_of(admin_required, owner("user.id")),
    # Federation mappings, the rules of certificate logins (keystone/common/policies/
    # mapping.py).
    "identity:list_mappings": ADMIN_OR_SYSTEM_READER,
    "identity:get_mapping": ADMIN_OR_SYSTEM_READER,
    "identity:create_mapping": admin_required,
    "identity:update_mapping": admin_required,
    "identity:delete_mapping": admin_required,
    # OS-EP-FILTER (keystone/common/policies/endpoint_group.py, project_endpoint.py).
    "identity:list_endpoint_groups": ADMIN_OR_SYSTEM_READER,
    "identity:get_endpoint_group": ADMIN_OR_SYSTEM_READER,
    "identity:create_endpoint_group": admin_required,
    "identity:update_endpoint_group": admin_required,
    "identity:delete_endpoint_group": admin_required,
    "identity:list_projects_associated_with_endpoint_group": ADMIN_OR_SYSTEM_READER,
    "identity:list_endpoints_associated_with_endpoint_group": ADMIN_OR_SYSTEM_READER,
    "identity:get_endpoint_group_in_project": ADMIN_OR_SYSTEM_READER,
    "identity:list_endpoint_groups_for_project": ADMIN_OR_SYSTEM_READER,
    "identity:add_endpoint_group_to_project": admin_required,
    "identity:remove_endpoint_group_from_project": admin_required,
    "identity:list_projects_for_endpoint": ADMIN_OR_SYSTEM_READER,
    "identity:check_endpoint_in_project": ADMIN_OR_SYSTEM_READER,
    "identity:list_endpoints_for_project": ADMIN_OR_SYSTEM_READER,
    "identity:add_endpoint_to_project": admin_required,
    "identity:remove_endpoint_from_project": admin_required,
    # Unified limits (keystone/common/policies/registered_limit.py, limit.py): anyone reads
    # registered limits and the model; a limit is read by the system, by its domain or its
    # project's domain, and by its project (lists show the caller's scope's: limits.py).
    "identity:list_registered_limits": anyone,
    "identity:get_registered_limit": anyone,
    "identity:create_registered_limits": admin_required,
    "identity:update_registered_limit": admin_required,
    "identity:delete_registered_limit": admin_required,
    "identity:get_limit_model": anyone,
    "identity:list_limits": anyone,
    "identity:get_limit": any_of(admin_required, SYSTEM_READER,
                                 on_domain("limit.domain_id", "limit.project_domain_id"),
                                 on_project("limit.project_id")),
    "identity:create_limits": admin_required,
    "identity:update_limit": admin_required,
    "identity:delete_limit": admin_required,
    # Trusts (keystone/common/policies/trust.py; the deprecated rules, still or'ed in by
    # Keystone 30, add only admin_required to the list of all trusts).
    "identity:create_trust": TRUSTOR,
    "identity:list_trusts": ADMIN_OR_SYSTEM_READER,
    "identity:list_trusts_for_trustor": any_of(SYSTEM_READER, TRUSTOR),
    "identity:list_trusts_for_trustee": any_of(SYSTEM_READER, TRUSTEE),
    "identity:get_trust": TRUST_READ,
    "identity:list_roles_for_trust": TRUST_READ,
    "identity:get_role_for_trust": TRUST_READ,
    "identity:delete_trust": any_of(system("admin"), TRUSTOR),
    # A user's application credentials (keystone/common/policies/application_credential.py,
    # with its deprecated admin_or_owner) and access rules (access_rule.py: no deprecated
    # rule). Creating is the owner's alone.
    "identity:list_application_credentials": any_of(admin_required, SYSTEM_READER,
                                                    owner("user.id")),
    "identity:get_application_credential": any_of(admin_required, SYSTEM_READER,
                                                  owner("user.id")),
    "identity:create_application_credential": owner("user.id"),
    "identity:delete_application_credential": any_of(admin_required, system("admin"),
                                                     owner("user.id")),
    "identity:list_access_rules": any_of(SYSTEM_READER, owner("user.id")),
    "identity:get_access_rule": any_of(SYSTEM_READER, owner("user.id")),
    "identity:delete_access_rule": any_of(system("admin"), owner("user.id")),
    # Tokens (GET, HEAD and DELETE of /v3/auth/tokens and /v2.0/tokens/{id}).
    "identity:validate_token": any_of(admin_required, SYSTEM_READER, role("service"),
                                      owner("token.user_id")),
    "identity:check_token": any_of(admin_required, SYSTEM_READER, owner("token.user_id")),
    "identity:revoke_token": any_of(admin_required, owner("token.user_id")),
}

# What each method of the token calls is, in Keystone's names.
TOKEN_RULES = {"GET": "identity:validate_token", "HEAD": "identity:check_token",
               "DELETE": "identity:revoke_token"}


def require_caller(req):
    """The caller's validated token; None for the admin token; 401 when there is neither, 403
    for a token made from an EC2 or S3 signature (keystone_lite.ec2.tokens: it is for the
    other services, never a credential of the identity API)."""
    context = get_context(req.environ)
    if context["is_admin_token"]:
        return None
    caller = context["caller"]
    if caller is None:
        raise errors.Unauthorized()
    if EC2_CREDENTIAL in caller.payload.methods:
        raise errors.Forbidden("A token made from an EC2 or S3 signature is not accepted by "
                               "the identity API.")
    return caller


def credentials_of(req, settings) -> Credentials:
    """The credentials of a caller ``require_caller`` (or ``enforce``) has let in."""
    return credentials(get_context(req.environ), settings)


def enforce(req, settings, rule: str, target: dict | None = None) -> Credentials:
    """401 without a valid caller, 403 unless rule ``rule`` (a key of RULES) allows the call
    on ``target``; returns the caller's credentials (lists filter by their domain)."""
    require_caller(req)
    creds = credentials_of(req, settings)
    if not RULES[rule](creds, target or {}):
        raise errors.Forbidden()
    return creds
