"""The tables of the features few requests use, mapped on first use (keystone_lite.db.models
loads this module the first time one of its names is asked for: ``models.Trust``).

Mapping costs about 1.1 ms of SQLAlchemy's declarative work per table, paid by every process at
start-up; these tables stay out of it. The token path's own tables (users, domains, projects,
roles, assignments, revocation, tokens, catalog with its endpoint filters) are in models.py. A
trust-scoped, application-credential or OAuth1 token loads this module at its first issue or
validation, as deleting a user or a project does (their trusts and credentials go with them).

Same declarative base and metadata as models.py; schema tools and tests that walk every table
use ``models.every_table()``.
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, ForeignKey, Index, Integer, PrimaryKeyConstraint,
                        String, Text, UniqueConstraint, select)
from sqlalchemy.orm import Mapped, column_property, mapped_column

from keystone_lite.db.models import ID, NAME, Base, Project


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
# see uq_roles_global_name in models.py).


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
