"""SQLAlchemy models: the schema of keystone_lite, with the tables of rarely used features in
keystone_lite.db.feature_models, mapped on first use (``models.Trust`` loads them: see
``__getattr__`` below) so that start-up does not pay for them.

Ids are 32-character hex UUIDs except where Keystone fixes them (the ``default`` domain, region
names). Times that take part in revocation are integer microseconds since the epoch (UTC) so
that SQLite and PostgreSQL compare them exactly.
"""
from __future__ import annotations

import types

from sqlalchemy import (JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary,
                        MetaData, String, Table, Text, UniqueConstraint, false, inspect)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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
    """A client certificate that earned a token. A token carries the row's ``id`` (payload
    part "c" or "b": three bytes for the first 65,535 certificates, which keeps every kind of
    token under 255 characters); the row gives the rest: the whole thumbprint a binding is
    compared with, and the issuer and serial a revocation names.

    Rows are added the first time a certificate earns a token, and never change or go: adding
    one changes no cached answer (see db.generation), and an id is never reused (SQLite's
    AUTOINCREMENT, PostgreSQL's sequence), so that no token can come to name another
    certificate.
    """

    __tablename__ = "certificates"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    thumbprint: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of DER, hex
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


# The models of keystone_lite.db.feature_models, served as attributes of this module.
FEATURE_MODELS = frozenset({
    "Credential", "Trust", "TrustRole", "DomainConfigOption", "PolicyBlob", "OAuth1Consumer",
    "OAuth1RequestToken", "OAuth1AccessToken", "RegisteredLimit", "Limit",
    "ApplicationCredential", "ApplicationCredentialRole", "AccessRule",
    "ApplicationCredentialAccessRule"})


def __getattr__(name: str):
    """``models.Trust`` and the other FEATURE_MODELS: maps them on first use (the import lock
    makes that once per process, whichever thread asks first), then serves them as the other
    models (this function is called only for names the module does not have)."""
    if name not in FEATURE_MODELS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from keystone_lite.db import feature_models
    globals().update({model: getattr(feature_models, model) for model in FEATURE_MODELS})
    return globals()[name]


def every_table() -> list[Table]:
    """Every table, those of feature_models included, parents before children: for the
    schema tools and the tests that walk the whole database."""
    from keystone_lite.db import feature_models  # noqa: F401 - maps its tables
    return Base.metadata.sorted_tables
