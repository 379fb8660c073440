"""SQLAlchemy models: the whole schema of keystone_lite.

Ids are 32-character hex UUIDs except where Keystone fixes them (the ``default`` domain, region
names). Times that take part in revocation are integer microseconds since the epoch (UTC) so
that SQLite and PostgreSQL compare them exactly.
"""
from __future__ import annotations

import types

from sqlalchemy import (JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary,
                        MetaData, PrimaryKeyConstraint, String, Text, UniqueConstraint, false,
                        inspect, select)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)
NAME = String(255)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # Columns left out of snapshots: nothing that reads a snapshot needs them.
    unsnapshotted: tuple[str, ...] = ()

    def snapshot(self) -> types.SimpleNamespace:
        """The row's column values, bound to no session: safe to keep and share between
        requests (a rollback expires a session's objects, never a snapshot)."""
        return types.SimpleNamespace(**{attribute.key: getattr(self, attribute.key)
                                        for attribute in inspect(self).mapper.column_attrs
                                        if attribute.key not in self.unsnapshotted})


class Domain(Base):
    __tablename__ = "domains"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_users_domain_id_name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id"))
    name: Mapped[str] = mapped_column(NAME)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # argon2id PHC string; NULL for certificate-only users, who can never log in by password.
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    default_project_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # Moved by every change that must kill the user's existing tokens (see migration 0003).
    revision: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # When the password stops working (µs since the epoch); None: never (see migration 0004).
    password_expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Attributes the API was given beyond the declared ones, as a JSON object; None: none
    # (see migration 0005).
    extra: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Snapshots are kept in per-process caches: no password hash there, and no extra
    # attributes, which tokens never show and which could be large.
    unsnapshotted = ("password_hash", "extra")


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_projects_domain_id_name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id"))
    name: Mapped[str] = mapped_column(NAME)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    extra: Mapped[str | None] = mapped_column(Text, nullable=True)  # as User.extra
    # The parent project; None: top-level, the domain is the parent (see migration 0008).
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"), nullable=True,
                                                  index=True)
    unsnapshotted = ("extra",)


class ProjectTag(Base):
    """One of Keystone's project tags (``tags`` in the project API); gone with the project."""

    __tablename__ = "project_tags"
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(NAME, primary_key=True, index=True)


class Role(Base):
    """A global role (``domain_id`` None) or a domain-specific one (see migration 0007)."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_roles_domain_id_name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    description: Mapped[str] = mapped_column(Text, default="")
    domain_id: Mapped[str | None] = mapped_column(
        ForeignKey("domains.id", ondelete="CASCADE"), nullable=True)


# NULLs are distinct in a UNIQUE constraint: global names get their own partial index,
# uq_roles_global_name (migration 0007). Partial indexes live in the migrations only: declared
# here, their dialect options would load the PostgreSQL dialect (and asyncio) into every
# process, SQLite ones too, ~20 ms of each start; nothing at run time reads index declarations.


class ImpliedRole(Base):
    """A rule: whoever holds ``prior_role_id`` also holds ``implied_role_id``."""

    __tablename__ = "implied_roles"
    prior_role_id: Mapped[str] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)
    implied_role_id: Mapped[str] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class RoleAssignment(Base):
    """A role held by a user on a target: a project, a domain or the system ("all").

    ``inherited`` (Keystone's OS-INHERIT ``inherited_to_projects``, see migration 0011): the
    role is held on every project under the target (a domain's projects, a project's
    subtree), not on the target itself; a distinct row from the direct grant of the role.
    """

    __tablename__ = "role_assignments"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[str] = mapped_column(ID, primary_key=True)
    role_id: Mapped[str] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)
    inherited: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=False,
                                            server_default=false())


Index("ix_role_assignments_target", RoleAssignment.target_type, RoleAssignment.target_id)


class Group(Base):
    """A group of users of one domain (see migration 0006): what is granted to it is held by
    every member."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_groups_domain_id_name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id"))
    name: Mapped[str] = mapped_column(NAME)
    description: Mapped[str] = mapped_column(Text, default="")


class GroupMembership(Base):
    """A user in a group; goes with either (ON DELETE CASCADE, and explicitly: see
    identity/groups.py).

    ``via_mapping``: made by a certificate login's mapping rules (keystone_lite.certificates.
    mapped_login), which take it away again at a later login whose rules no longer name the
    group; a membership made through the API is never taken away by a login (see migration
    0018).
    """

    __tablename__ = "group_memberships"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True)
    via_mapping: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class GroupAssignment(Base):
    """A role held by a group on a target, as RoleAssignment for users (same key order, so
    the store handles both by swapping the model)."""

    __tablename__ = "group_role_assignments"
    group_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[str] = mapped_column(ID, primary_key=True)
    role_id: Mapped[str] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)
    inherited: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=False,
                                            server_default=false())


Index("ix_group_role_assignments_target", GroupAssignment.target_type,
      GroupAssignment.target_id)


class Credential(Base):
    """A credential of Keystone's credentials API (``/v3/credentials``; EC2 credentials are
    rows of type ``ec2``): the blob only encrypted (identity/credential_keys), ``key_hash``
    naming the primary key that encrypted it. Gone with its user or project (ON DELETE
    CASCADE, as Keystone deletes a user's and a project's credentials)."""

    __tablename__ = "credentials"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True, index=True)
    type: Mapped[str] = mapped_column(NAME)
    encrypted_blob: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(String(64))
    extra: Mapped[str | None] = mapped_column(Text, nullable=True)  # as User.extra
    unsnapshotted = ("encrypted_blob", "extra")
class Trust(Base):
    """A trust (Keystone's OS-TRUST): the trustor lets the trustee act with some of its roles
    on a project (see migration 0015). Goes with its trustor, trustee, project or the trust it
    was redelegated from (explicitly: see identity/trusts.py; ON DELETE CASCADE too)."""

    __tablename__ = "trusts"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    trustor_user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True)
    trustee_user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True, index=True)
    impersonation: Mapped[bool] = mapped_column(Boolean)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # µs; None: never
    # Tokens that may still be issued with it; None: no limit.
    remaining_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    redelegated_trust_id: Mapped[str | None] = mapped_column(
        ForeignKey("trusts.id", ondelete="CASCADE"), nullable=True, index=True)
    # How many more times it may be redelegated; 0: not at all.
    redelegation_count: Mapped[int] = mapped_column(Integer, default=0)


class TrustRole(Base):
    """A role a trust delegates; goes with the trust or the role."""

    __tablename__ = "trust_roles"
    trust_id: Mapped[str] = mapped_column(
        ForeignKey("trusts.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[str] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class Region(Base):
    __tablename__ = "regions"
    id: Mapped[str] = mapped_column(NAME, primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    parent_region_id: Mapped[str | None] = mapped_column(NAME, nullable=True)


class Service(Base):
    __tablename__ = "services"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    type: Mapped[str] = mapped_column(NAME)
    name: Mapped[str] = mapped_column(NAME, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Endpoint(Base):
    __tablename__ = "endpoints"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    region_id: Mapped[str | None] = mapped_column(ForeignKey("regions.id"), nullable=True)
    interface: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class DomainConfigOption(Base):
    """One option of a domain's configuration (``/v3/domains/{id}/config``): ``value`` is its
    JSON. ``sensitive`` options (the LDAP password) are stored but never shown; gone with the
    domain (see migration 0009)."""

    __tablename__ = "domain_config"
    domain_id: Mapped[str] = mapped_column(
        ForeignKey("domains.id", ondelete="CASCADE"), primary_key=True)
    group: Mapped[str] = mapped_column(String(255), primary_key=True)
    option: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    sensitive: Mapped[bool] = mapped_column(Boolean)


class PolicyBlob(Base):
    """A blob of Keystone's (deprecated) policy API, ``/v3/policies``: stored and served,
    never enforced (keystone_lite.policy holds the rules that are)."""

    __tablename__ = "policies"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    type: Mapped[str] = mapped_column(NAME)
    blob: Mapped[str] = mapped_column(Text)
    extra: Mapped[str | None] = mapped_column(Text, nullable=True)  # as User.extra
class OAuth1Consumer(Base):
    """A consumer of Keystone's OAuth1 extension (``/v3/OS-OAUTH1/consumers``).

    The secret is stored as issued: every HMAC-SHA1 signature check needs the secret itself
    (a hash cannot verify one), and keystone_lite has no key repository meant for data at rest
    (the Fernet token keys rotate out, and uuid deployments have none). Keystone stores it the
    same way. Whoever can read this table can sign as the consumer, as with the uuid provider's
    token ids: the database is a secret (SECURITY.md).
    """

    __tablename__ = "oauth1_consumers"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret: Mapped[str] = mapped_column(String(64))
    extra: Mapped[str | None] = mapped_column(Text, nullable=True)  # as User.extra
    unsnapshotted = ("secret", "extra")


class OAuth1RequestToken(Base):
    """A consumer's request for a user's delegation on a project: authorized once a user names
    the roles (``verifier`` set), exchanged for an access token, then gone. Not tracked by the
    change counter: nothing cached depends on it (generation.py)."""

    __tablename__ = "oauth1_request_tokens"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))  # stored as issued: see OAuth1Consumer
    consumer_id: Mapped[str] = mapped_column(
        ForeignKey("oauth1_consumers.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # µs; None: never
    verifier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    authorizing_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    role_ids: Mapped[str | None] = mapped_column(Text, nullable=True)  # a JSON list


class OAuth1AccessToken(Base):
    """A user's delegation of roles on a project to a consumer: what an ``oauth1`` token is
    made from, and dies with (keystone_lite.oauth1.method)."""

    __tablename__ = "oauth1_access_tokens"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))  # stored as issued: see OAuth1Consumer
    consumer_id: Mapped[str] = mapped_column(
        ForeignKey("oauth1_consumers.id", ondelete="CASCADE"), index=True)
    authorizing_user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    role_ids: Mapped[str] = mapped_column(Text)  # a JSON list of the delegated roles' ids
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # µs; None: never
    unsnapshotted = ("secret",)


class EndpointGroup(Base):
    """Keystone's endpoint group (OS-EP-FILTER): the endpoints whose attributes equal every
    entry of ``filters`` (``interface``, ``service_id``, ``region_id``), see migration 0013."""

    __tablename__ = "endpoint_groups"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    filters: Mapped[dict] = mapped_column(JSON)


class ProjectEndpoint(Base):
    """An endpoint a project's tokens show in their catalog (OS-EP-FILTER); goes with either."""

    __tablename__ = "project_endpoints"
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True, index=True)


class ProjectEndpointGroup(Base):
    """An endpoint group whose endpoints a project's tokens show (OS-EP-FILTER)."""

    __tablename__ = "project_endpoint_groups"
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    endpoint_group_id: Mapped[str] = mapped_column(
        ForeignKey("endpoint_groups.id", ondelete="CASCADE"), primary_key=True, index=True)


class RegisteredLimit(Base):
    """A unified limit's default for one resource of a service (in a region), see migration
    0014. Unique per (service, region, resource name): checked before writing, and by the
    two indexes below (NULL regions are distinct in a UNIQUE constraint)."""

    __tablename__ = "registered_limits"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"))
    region_id: Mapped[str | None] = mapped_column(ForeignKey("regions.id"), nullable=True)
    resource_name: Mapped[str] = mapped_column(NAME)
    default_limit: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)


Index("uq_registered_limits_resource", RegisteredLimit.service_id, RegisteredLimit.region_id,
      RegisteredLimit.resource_name, unique=True)
# Without a region: the partial index uq_registered_limits_resource_no_region (migration 0014;
# see uq_roles_global_name above).


class Limit(Base):
    """A project's (or a domain's) override of a registered limit; its service, region and
    resource name are the registered limit's. Goes with its project or domain."""

    __tablename__ = "limits"
    __table_args__ = (
        UniqueConstraint("registered_limit_id", "project_id",
                         name="uq_limits_registered_limit_id_project_id"),
        UniqueConstraint("registered_limit_id", "domain_id",
                         name="uq_limits_registered_limit_id_domain_id"))
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    registered_limit_id: Mapped[str] = mapped_column(ForeignKey("registered_limits.id"))
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True, index=True)
    domain_id: Mapped[str | None] = mapped_column(
        ForeignKey("domains.id", ondelete="CASCADE"), nullable=True)
    resource_limit: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)


# The domain of a project limit's project, read with the limit: policy looks at it.
Limit.project_domain_id = column_property(
    select(Project.domain_id).where(Project.id == Limit.project_id).scalar_subquery())


class RevocationEvent(Base):
    """Tokens matching (kind, key) and issued at or before ``revoked_at`` are dead.

    kind is ``audit`` (one token and its rescoped children), ``user`` or ``project``. One row per
    (kind, key), so a validation is a primary-key lookup however many events exist.
    """

    __tablename__ = "revocation_events"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(ID, primary_key=True)
    revoked_at: Mapped[int] = mapped_column(BigInteger)
    # After this (µs) no token the event can match is still alive; the row may be purged.
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class Token(Base):
    """A token of the ``uuid`` provider: the opaque id maps to the encoded payload."""

    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, index=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class Certificate(Base):
    """A client certificate that earned a token. A token carries the first bytes of its
    thumbprint (``reference``; payload part "c" or "b"); the row gives the rest: the whole
    thumbprint a binding is compared with, and the issuer and serial a revocation names.

    Rows are added the first time a certificate earns a token, and never change: adding one
    changes no cached answer (see db.generation).
    """

    __tablename__ = "certificates"
    thumbprint: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of DER, hex
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    issuer_dn: Mapped[str] = mapped_column(Text)
    serial: Mapped[str] = mapped_column(String(64), index=True)  # lowercase hex, no leading 0
    subject_dn: Mapped[str] = mapped_column(Text)
    not_after: Mapped[int] = mapped_column(BigInteger)  # µs since the epoch
    keystone_x5t: Mapped[str] = mapped_column(String(44))  # Keystone's oauth2_credential form
    first_used_at: Mapped[int] = mapped_column(BigInteger)


class CertificateRevocation(Base):
    """A revoked certificate, named by thumbprint or by serial (of one issuer, or of any when
    ``issuer_dn`` is NULL): refused from then on, and every token it earned is dead."""

    __tablename__ = "certificate_revocations"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    thumbprint: Mapped[str | None] = mapped_column(String(64), unique=True)
    serial: Mapped[str | None] = mapped_column(String(64), index=True)
    issuer_dn: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(255), default="")
    revoked_at: Mapped[int] = mapped_column(BigInteger)


class UserOption(Base):
    """A Keystone user option set on a user (``options`` in the user API), e.g.
    ``ignore_lockout_failure_attempts``; absent means unset. ``value`` is the option's JSON."""

    __tablename__ = "user_options"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LoginFailure(Base):
    """Consecutive failed password logins of a user, for the lockout
    (keystone_lite.identity.lockout). Not tracked by the change counter: a failed login must
    not empty every node's caches. No row: no failure since the last success."""

    __tablename__ = "login_failures"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[int] = mapped_column(BigInteger)  # µs since the epoch


class ApplicationCredential(Base):
    """A user's application credential (see migration 0016): a secret standing for the user on
    one project with some of the user's roles there, until ``expires_at`` (µs; None: never)."""

    __tablename__ = "application_credentials"
    __table_args__ = (UniqueConstraint("user_id", "name",
                                       name="uq_application_credentials_user_id_name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            index=True)
    name: Mapped[str] = mapped_column(NAME)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Hashed as passwords are (argon2id PHC string); the secret itself is never stored.
    secret_hash: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # None when the creator left it out (Keystone shows null): restricted, as false.
    unrestricted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    unsnapshotted = ("secret_hash",)


class ApplicationCredentialRole(Base):
    """A role an application credential carries. No foreign key to ``roles``: a deleted role
    stays named here, so the credential (and its tokens) fail instead of silently shrinking."""

    __tablename__ = "application_credential_roles"
    application_credential_id: Mapped[str] = mapped_column(
        ForeignKey("application_credentials.id", ondelete="CASCADE",
                   name="fk_app_cred_roles_app_cred"), primary_key=True)
    role_id: Mapped[str] = mapped_column(ID, primary_key=True)


class AccessRule(Base):
    """An access rule of a user (Keystone's: one service, method and path glob), shared by the
    user's application credentials that name it."""

    __tablename__ = "access_rules"
    __table_args__ = (UniqueConstraint("user_id", "service", "path", "method",
                                       name="uq_access_rules_user_id_service_path_method"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(ID)
    path: Mapped[str] = mapped_column(NAME)
    method: Mapped[str] = mapped_column(String(16))


class ApplicationCredentialAccessRule(Base):
    """An access rule an application credential is limited to; a rule in use is not deleted."""

    # Names of their own: the conventional ones exceed PostgreSQL's 63 characters.
    __tablename__ = "application_credential_access_rules"
    __table_args__ = (PrimaryKeyConstraint("application_credential_id", "access_rule_id",
                                           name="pk_app_cred_access_rules"),
                      Index("ix_app_cred_access_rules_access_rule_id", "access_rule_id"))
    application_credential_id: Mapped[str] = mapped_column(ForeignKey(
        "application_credentials.id", ondelete="CASCADE",
        name="fk_app_cred_access_rules_app_cred"))
    access_rule_id: Mapped[str] = mapped_column(ForeignKey(
        "access_rules.id", name="fk_app_cred_access_rules_access_rule"))


class Mapping(Base):
    """A mapping of Keystone's federation API (``/v3/OS-FEDERATION/mappings``): rules turning a
    client certificate's fields into a user, a domain and groups (keystone_lite/certificates;
    see migration 0018). ``rules`` is the JSON list as the API was given it, checked then."""

    __tablename__ = "mappings"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    rules: Mapped[str] = mapped_column(Text)
    schema_version: Mapped[str] = mapped_column(String(5), default="1.0", server_default="1.0")


class Generation(Base):
    """The change counter (one row, id 1): see keystone_lite.db.generation."""

    __tablename__ = "generation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Change(Base):
    """What a value of the change counter changed (see keystone_lite.db.generation): kind
    ``user``, ``project``, ``audit`` (a revoked audit id) or ``all``."""

    __tablename__ = "changes"
    generation: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
