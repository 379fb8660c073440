"""Read an OpenStack Keystone SQL database and say what keystone_lite should hold.

The database is read with SQLAlchemy reflection, never with Keystone's code: the tables and
columns used are those of Keystone's schema since 2023.2 (Bobcat; Keystone 24) up to Keystone 30
(2026.1), which the tests import from a real Keystone 30. A table this module needs and does not
find is named in the refusal.

``read`` returns a ``Wanted``: for each keystone_lite model, the rows (column dicts) it should
hold, plus what cannot move (``refusals``: the import stops before writing) and what is left
behind on purpose (``notes``).
"""
from __future__ import annotations

import dataclasses
import datetime
import json

from cryptography.fernet import InvalidToken
from sqlalchemy import MetaData, create_engine, select

from keystone_lite.db import models

ROOT_DOMAIN = "<<keystone.domain.root>>"
NULL_DOMAIN = "<<null>>"  # Keystone's domain_id of a global role
# Keystone's user option ids (keystone/identity/backends/resource_options.py).
USER_OPTIONS = {"1000": "ignore_change_password_upon_first_use", "1001": "ignore_password_expiry",
                "1002": "ignore_lockout_failure_attempts", "1003": "lock_password",
                "1004": "ignore_user_inactivity", "MFAR": "multi_factor_auth_rules",
                "MFAE": "multi_factor_auth_enabled"}
KEPT_USER_OPTIONS = ("ignore_lockout_failure_attempts", "ignore_password_expiry")
ASSIGNMENT_TARGETS = {"UserProject": ("user", "project"), "UserDomain": ("user", "domain"),
                      "GroupProject": ("group", "project"), "GroupDomain": ("group", "domain")}
NEEDED_TABLES = ("project", "project_tag", "user", "local_user", "password", "user_option",
                 "group", "user_group_membership", "role", "implied_role", "assignment",
                 "system_assignment", "region", "service", "endpoint", "trust", "trust_role",
                 "credential", "application_credential", "application_credential_role",
                 "access_rule", "application_credential_access_rule", "registered_limit",
                 "limit", "revocation_event", "whitelisted_config", "sensitive_config")


class ImportRefused(Exception):
    """The Keystone database holds something keystone_lite cannot take; nothing was written."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclasses.dataclass
class Wanted:
    rows: dict = dataclasses.field(default_factory=dict)  # model -> [column dicts]
    # Keystone's revocation events, as keystone_lite's: (kind, key, revoked_at µs).
    revocations: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    refusals: list = dataclasses.field(default_factory=list)

    def add(self, model, **columns) -> None:
        self.rows.setdefault(model, []).append(columns)


def read(url: str, credential_keys=None) -> Wanted:
    """What keystone_lite should hold for the Keystone database at ``url``; raises
    ImportRefused naming everything it cannot take. ``credential_keys``: a MultiFernet of
    Keystone's credential key repository (needed when Keystone holds credentials)."""
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        missing = [name for name in NEEDED_TABLES if name not in metadata.tables]
        if missing:
            raise ImportRefused([f"not a Keystone database of a schema this import knows "
                                 f"(Keystone 24 to 30): no table {', '.join(missing)}"])
        with engine.connect() as connection:
            tables = _Tables(connection, metadata)
            wanted = Wanted()
            _resources(tables, wanted)
            _identities(tables, wanted)
            _roles_and_assignments(tables, wanted)
            _catalog(tables, wanted)
            _delegations(tables, wanted)
            _credentials(tables, wanted, credential_keys)
            _limits(tables, wanted)
            _oauth1(tables, wanted)
            _revocations(tables, wanted)
            _left_behind(tables, wanted)
    finally:
        engine.dispose()
    if wanted.refusals:
        raise ImportRefused(wanted.refusals)
    return wanted


class _Tables:
    def __init__(self, connection, metadata):
        self.connection, self.metadata = connection, metadata

    def __call__(self, name: str) -> list[dict]:
        if name not in self.metadata.tables:
            return []
        table = self.metadata.tables[name]
        return [dict(row._mapping) for row in self.connection.execute(select(table))]

    def has(self, name: str) -> bool:
        return name in self.metadata.tables


def _extra(text) -> dict:
    if not text:
        return {}
    value = json.loads(text) if isinstance(text, str) else text
    return value if isinstance(value, dict) else {}


def _extra_text(extra: dict) -> str | None:
    return json.dumps(extra, sort_keys=True) if extra else None


def _us(value) -> int | None:
    """Keystone's times (naive UTC datetimes, ISO strings or µs integers) as µs."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value.rstrip("Z"))
    value = value.replace(tzinfo=datetime.timezone.utc)
    return int(value.timestamp()) * 1_000_000 + value.microsecond


def _resources(tables: _Tables, wanted: Wanted) -> None:
    projects = [p for p in tables("project") if p["id"] != ROOT_DOMAIN]
    domains = {p["id"] for p in projects if p["is_domain"]}
    for domain in (p for p in projects if p["is_domain"]):
        extra = _extra(domain["extra"])
        if extra:
            wanted.notes.append(f"domain {domain['name']}: extra attributes "
                                f"{sorted(extra)} not kept (keystone_lite domains have none)")
        wanted.add(models.Domain, id=domain["id"], name=domain["name"],
                   description=domain["description"] or "", enabled=bool(domain["enabled"]))
    for project in sorted((p for p in projects if not p["is_domain"]),
                          key=lambda p: _depth(p, projects)):
        extra = _extra(project["extra"])
        extra.pop("description", None)
        wanted.add(models.Project, id=project["id"], name=project["name"],
                   domain_id=project["domain_id"], description=project["description"] or "",
                   enabled=bool(project["enabled"]), extra=_extra_text(extra),
                   parent_id=None if project["parent_id"] in domains else project["parent_id"])
    for tag in tables("project_tag"):
        wanted.add(models.ProjectTag, project_id=tag["project_id"], name=tag["name"])
    for option in tables("whitelisted_config") + tables("sensitive_config"):
        sensitive = option in tables("sensitive_config")
        value = option["value"]
        if option["group"] == "identity" and option["option"] == "driver" and \
                "ldap" in str(value):
            wanted.refusals.append(f"domain {option['domain_id']} is LDAP-backed (domain "
                                   "config identity.driver = ldap): keystone_lite keeps no "
                                   "LDAP identities")
        wanted.add(models.DomainConfigOption, domain_id=option["domain_id"],
                   group=option["group"], option=option["option"],
                   value=value if isinstance(value, str) else json.dumps(value),
                   sensitive=sensitive)


def _depth(project: dict, projects: list[dict]) -> int:
    by_id = {p["id"]: p for p in projects}
    depth, seen = 0, project
    while seen and seen["parent_id"] in by_id and not by_id[seen["parent_id"]]["is_domain"]:
        depth, seen = depth + 1, by_id[seen["parent_id"]]
    return depth


def _identities(tables: _Tables, wanted: Wanted) -> None:
    local = {row["user_id"]: row for row in tables("local_user")}
    current_password = {}
    for row in sorted(tables("password"), key=lambda row: row["created_at_int"] or 0):
        current_password[row["local_user_id"]] = row  # the newest is the one in use
    options = {}
    for row in tables("user_option"):
        options.setdefault(row["user_id"], {})[USER_OPTIONS.get(row["option_id"],
                                                               row["option_id"])] = row
    federated = {row["user_id"] for row in tables("federated_user")}
    nonlocal_users = {row["user_id"] for row in tables("nonlocal_user")}
    for user in tables("user"):
        login = local.get(user["id"])
        if login is None:
            kind = "federated" if user["id"] in federated else \
                "non-local (LDAP)" if user["id"] in nonlocal_users else "without a local login"
            wanted.refusals.append(f"user {user['id']} is {kind}: keystone_lite has no "
                                   "federation or LDAP to map it to")
            continue
        extra = _extra(user["extra"])
        description = extra.pop("description", "") or ""
        password = current_password.get(login["id"])
        user_options = options.get(user["id"], {})
        if _option_value(user_options.get("multi_factor_auth_enabled")):
            wanted.refusals.append(f"user {login['name']} ({user['id']}) requires multi-factor "
                                   "authentication, which keystone_lite does not enforce")
        for name in sorted(set(user_options) - set(KEPT_USER_OPTIONS)):
            wanted.notes.append(f"user {login['name']}: option {name} not kept "
                                "(keystone_lite does not act on it)")
        wanted.add(models.User, id=user["id"], domain_id=user["domain_id"], name=login["name"],
                   enabled=bool(user["enabled"]),
                   password_hash=password["password_hash"] if password else None,
                   default_project_id=user["default_project_id"], description=description,
                   password_expires_at=password and (
                       password["expires_at_int"] or _us(password["expires_at"])),
                   extra=_extra_text(extra))
        for name in KEPT_USER_OPTIONS:
            if name in user_options:
                wanted.add(models.UserOption, user_id=user["id"], name=name,
                           value=json.dumps(_option_value(user_options[name])))
    for group in tables("group"):
        wanted.add(models.Group, id=group["id"], domain_id=group["domain_id"],
                   name=group["name"], description=group["description"] or "")
    for row in tables("user_group_membership"):
        if row["user_id"] in local:
            wanted.add(models.GroupMembership, user_id=row["user_id"], group_id=row["group_id"])
    if tables("expiring_user_group_membership"):
        wanted.notes.append("expiring (federated) group memberships not kept")


def _option_value(row):
    if row is None:
        return None
    value = row["option_value"]
    return json.loads(value) if isinstance(value, str) else value


def _roles_and_assignments(tables: _Tables, wanted: Wanted) -> None:
    for role in tables("role"):
        wanted.add(models.Role, id=role["id"], name=role["name"],
                   description=role["description"] or "",
                   domain_id=None if role["domain_id"] == NULL_DOMAIN else role["domain_id"])
    for rule in tables("implied_role"):
        wanted.add(models.ImpliedRole, prior_role_id=rule["prior_role_id"],
                   implied_role_id=rule["implied_role_id"])
    for row in tables("assignment"):
        actor, target = ASSIGNMENT_TARGETS[row["type"]]
        _assignment(wanted, actor, row["actor_id"], target, row["target_id"], row["role_id"],
                    bool(row["inherited"]))
    for row in tables("system_assignment"):
        actor = "user" if row["type"] == "UserSystem" else "group"
        _assignment(wanted, actor, row["actor_id"], "system", "all", row["role_id"],
                    bool(row["inherited"]))


def _assignment(wanted, actor, actor_id, target_type, target_id, role_id, inherited):
    if actor == "user":
        wanted.add(models.RoleAssignment, user_id=actor_id, target_type=target_type,
                   target_id=target_id, role_id=role_id, inherited=inherited)
    else:
        wanted.add(models.GroupAssignment, group_id=actor_id, target_type=target_type,
                   target_id=target_id, role_id=role_id, inherited=inherited)


def _catalog(tables: _Tables, wanted: Wanted) -> None:
    regions = {row["id"]: row for row in tables("region")}

    def depth(region):
        count = 0
        while region["parent_region_id"] in regions:
            count, region = count + 1, regions[region["parent_region_id"]]
        return count

    for region in sorted(regions.values(), key=depth):
        wanted.add(models.Region, id=region["id"], description=region["description"] or "",
                   parent_region_id=region["parent_region_id"])
    for service in tables("service"):
        extra = _extra(service["extra"])
        wanted.add(models.Service, id=service["id"], type=service["type"],
                   name=extra.get("name", ""), description=extra.get("description", ""),
                   enabled=bool(service["enabled"]))
    for endpoint in tables("endpoint"):
        wanted.add(models.Endpoint, id=endpoint["id"], service_id=endpoint["service_id"],
                   region_id=endpoint["region_id"], interface=endpoint["interface"],
                   url=endpoint["url"], enabled=bool(endpoint["enabled"]))
    for group in tables("endpoint_group"):
        wanted.add(models.EndpointGroup, id=group["id"], name=group["name"],
                   description=group["description"], filters=_extra(group["filters"]))
    for row in tables("project_endpoint"):
        wanted.add(models.ProjectEndpoint, project_id=row["project_id"],
                   endpoint_id=row["endpoint_id"])
    for row in tables("project_endpoint_group"):
        wanted.add(models.ProjectEndpointGroup, project_id=row["project_id"],
                   endpoint_group_id=row["endpoint_group_id"])


def _delegations(tables: _Tables, wanted: Wanted) -> None:
    trusts = {row["id"]: row for row in tables("trust") if row["deleted_at"] is None}

    def depth(trust):
        count = 0
        while trust["redelegated_trust_id"] in trusts:
            count, trust = count + 1, trusts[trust["redelegated_trust_id"]]
        return count

    for trust in sorted(trusts.values(), key=depth):
        wanted.add(models.Trust, id=trust["id"], trustor_user_id=trust["trustor_user_id"],
                   trustee_user_id=trust["trustee_user_id"], project_id=trust["project_id"],
                   impersonation=bool(trust["impersonation"]),
                   expires_at=trust["expires_at_int"] or _us(trust["expires_at"]),
                   remaining_uses=trust["remaining_uses"],
                   redelegated_trust_id=trust["redelegated_trust_id"],
                   redelegation_count=trust["redelegation_count"] or 0)
    for row in tables("trust_role"):
        if row["trust_id"] in trusts:
            wanted.add(models.TrustRole, trust_id=row["trust_id"], role_id=row["role_id"])
    credentials = {}
    for row in tables("application_credential"):
        if row["system"]:
            wanted.refusals.append(f"application credential {row['id']} is system-scoped: "
                                   "keystone_lite's stand on a project")
            continue
        credentials[row["internal_id"]] = row["id"]
        wanted.add(models.ApplicationCredential, id=row["id"], user_id=row["user_id"],
                   project_id=row["project_id"], name=row["name"],
                   description=row["description"], secret_hash=row["secret_hash"],
                   expires_at=_us(row["expires_at"]),
                   unrestricted=None if row["unrestricted"] is None
                   else bool(row["unrestricted"]))
    for row in tables("application_credential_role"):
        if row["application_credential_id"] in credentials:
            wanted.add(models.ApplicationCredentialRole,
                       application_credential_id=credentials[row["application_credential_id"]],
                       role_id=row["role_id"])
    rules = {}
    for row in tables("access_rule"):
        rules[row["id"]] = row["external_id"]
        wanted.add(models.AccessRule, id=row["external_id"], user_id=row["user_id"],
                   service=row["service"], path=row["path"], method=row["method"])
    for row in tables("application_credential_access_rule"):
        if row["application_credential_id"] in credentials:
            wanted.add(models.ApplicationCredentialAccessRule,
                       application_credential_id=credentials[row["application_credential_id"]],
                       access_rule_id=rules[row["access_rule_id"]])


def _credentials(tables: _Tables, wanted: Wanted, keys) -> None:
    rows = tables("credential")
    if rows and keys is None:
        wanted.refusals.append(f"{len(rows)} credential(s) are encrypted with Keystone's "
                               "credential keys: pass --credential-keys DIRECTORY (Keystone's "
                               "[credential] key_repository)")
        return
    for row in rows:
        try:
            blob = keys.decrypt(row["encrypted_blob"].encode()).decode()
        except InvalidToken:
            wanted.refusals.append(f"credential {row['id']}: none of the keys in "
                                   "--credential-keys opens it")
            continue
        extra = _extra(row["extra"])
        # ``blob`` is the plaintext; apply.py encrypts it with keystone_lite's keys.
        wanted.add(models.Credential, id=row["id"], user_id=row["user_id"],
                   project_id=row["project_id"], type=row["type"], encrypted_blob=blob,
                   extra=_extra_text(extra))


def _limits(tables: _Tables, wanted: Wanted) -> None:
    for row in tables("registered_limit"):
        wanted.add(models.RegisteredLimit, id=row["id"], service_id=row["service_id"],
                   region_id=row["region_id"], resource_name=row["resource_name"],
                   default_limit=row["default_limit"], description=row["description"])
    registered = {row["internal_id"]: row["id"] for row in tables("registered_limit")}
    for row in tables("limit"):
        registered_id = row.get("registered_limit_id")
        if registered_id is None:  # before 2019's migration the limit named its own resource
            registered_id = registered.get(row.get("registered_limit_internal_id"))
        wanted.add(models.Limit, id=row["id"], registered_limit_id=registered_id,
                   project_id=row["project_id"], domain_id=row.get("domain_id"),
                   resource_limit=row["resource_limit"], description=row["description"])


def _oauth1(tables: _Tables, wanted: Wanted) -> None:
    for row in tables("consumer"):
        extra = _extra(row["extra"])
        wanted.add(models.OAuth1Consumer, id=row["id"], description=row["description"],
                   secret=row["secret"], extra=_extra_text(extra))
    for row in tables("access_token"):
        wanted.add(models.OAuth1AccessToken, id=row["id"], secret=row["access_secret"],
                   consumer_id=row["consumer_id"],
                   authorizing_user_id=row["authorizing_user_id"],
                   project_id=row["project_id"], role_ids=json.dumps(
                       [role["id"] for role in json.loads(row["role_ids"] or "[]")]),
                   expires_at=_us(row["expires_at"]))


def _revocations(tables: _Tables, wanted: Wanted) -> None:
    """Keystone's events that the current state cannot show: a deleted token (its audit id
    or chain), a user whose password changed or who was disabled and enabled again (user
    alone), a project disabled and enabled again (project alone). Events that also name a
    role, a project for a user, a trust or a consumer follow a change the state does show
    (an assignment, a trust, an access token gone), which validation reads anyway."""
    for event in tables("revocation_event"):
        revoked_at = _us(event["issued_before"])
        others = [name for name in ("domain_id", "role_id", "trust_id", "consumer_id",
                                    "access_token_id") if event[name]]
        if event["audit_id"]:
            wanted.revocations.append(("audit", event["audit_id"], revoked_at))
        elif event["audit_chain_id"]:
            wanted.revocations.append(("audit", event["audit_chain_id"], revoked_at))
        elif event["user_id"] and not event["project_id"] and not others:
            wanted.revocations.append(("user", event["user_id"], revoked_at))
        elif event["project_id"] and not event["user_id"] and not others:
            wanted.revocations.append(("project", event["project_id"], revoked_at))


def _left_behind(tables: _Tables, wanted: Wanted) -> None:
    for table, what in (("identity_provider", "identity providers"),
                        ("mapping", "federation mappings"),
                        ("service_provider", "service providers (K2K)"),
                        ("policy", "policy blobs (/v3/policies)"),
                        ("policy_association", "policy associations"),
                        ("project_option", "project options (immutable)"),
                        ("role_option", "role options (immutable)")):
        if tables.has(table) and (count := len(tables(table))):
            wanted.notes.append(f"{count} {what} not imported")
