"""Token life cycle: issue, validate and revoke, independent of the API version that asks.

Validation checks the user, the scope and the roles as the store has them now, so disabling or
deleting a user or project, or removing a role, takes effect on the next check. What the current
state cannot show otherwise (a user disabled and enabled again, a password changed) the
revisions show: a token carries the revision its user (and its project) had when it was earned,
every such change moves the stored one (keystone_lite.identity.store.update), and a token whose
revisions are no longer current is dead. Revocation events record deleted tokens. What was read
is remembered per process under the database change counter (keystone_lite.db.generation),
which every such write moves, on any node.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from keystone_lite import audit, errors, metrics
from keystone_lite.certificates import crl, records as certificate_records
from keystone_lite.db import failures, generation, models, session as db_session
from keystone_lite.identity import application_credential_store, store
from keystone_lite.oauth1 import method as oauth1_method
from keystone_lite.token import key_repository, principals, revocation, trust_scope
from keystone_lite.token.cache import GenerationCache, MemoryBudget, estimate
from keystone_lite.token.payload import METHODS as PAYLOAD_METHODS, TokenPayload, new_audit_id, \
    now_us

@dataclasses.dataclass(frozen=True)
class Scope:
    kind: str  # "project", "domain" or "system"
    id: str


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """A user on a scope as the store has them now: what a token of theirs stands for.

    Plain snapshots (see ``Base.snapshot``), shared by every token of the same user and scope.
    """

    user: Any
    user_domain: Any
    roles: tuple = ()
    project: Any = None
    domain: Any = None  # the project's domain, or the scoped domain
    oauth1: Any = None  # the access token of an ``oauth1`` token (keystone_lite.oauth1.method)
    trust: trust_scope.Delegation | None = None  # what a trust-scoped token stands on
    # The application credential the token stands on (with its ``access_rules``), if any.
    application_credential: Any = None


@dataclasses.dataclass(slots=True)
class ValidatedToken:
    """A token that passed every check, with what rendering it needs."""

    id: str
    payload: TokenPayload
    principal: Principal
    # The certificate the token was earned with (a certificates table snapshot), if any.
    certificate: Any = None
    # What other parts derive from the token alone (the caller's policy credentials), kept
    # with it: one ValidatedToken serves every request under the same stamp.
    derived: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)
    # Where its principal is remembered (TokenService._principals), and the hashes of the
    # revocation events that would kill it (revocation.keys_of): a remembered token is
    # served while both still hold (TokenService._still_valid).
    principal_key: Any = dataclasses.field(default=None, compare=False, repr=False)
    revocation_hashes: tuple = dataclasses.field(default=(), compare=False, repr=False)

    @property
    def user(self):
        return self.principal.user

    @property
    def user_domain(self):
        return self.principal.user_domain

    @property
    def roles(self):
        return self.principal.roles

    @property
    def project(self):
        return self.principal.project

    @property
    def domain(self):
        return self.principal.domain

    @property
    def application_credential(self):
        return self.principal.application_credential

    @property
    def role_names(self) -> set[str]:
        return {role.name for role in self.roles}


class TokenService:
    """Issue, validate and revoke tokens; remember answers under the request's stamp.

    A stamp (see ``stamp``) is the database change counter (with the number of the connection
    that read it: see CounterReader) and the key repository's version, read once per request
    before anything else: answers computed after it is read may be
    reused by every request that reads the same stamp. Methods that may miss the caches take
    the request's ``session``, or open a transaction of their own when given none.
    """

    def __init__(self, provider, session_factory: sessionmaker[Session], expiration: int,
                 allow_expired_window: int, cache_budget: MemoryBudget | None = None,
                 clock=now_us, whole_catalog_without_filter: bool = True,
                 revocation_list=None):
        self.provider = provider
        # Microseconds since the epoch, as this node sees them (tests play a node whose clock
        # is off by giving it another): issue times, expiry and how long revocation events are
        # kept; never whether a change or a DELETE killed a token.
        self.clock = clock
        self.session_factory = session_factory
        self.counter = db_session.CounterReader(session_factory.kw["bind"])
        self.expiration_us = expiration * 1_000_000
        self.allow_expired_window_us = allow_expired_window * 1_000_000
        # Which entries a change drops (the change log, see cache.MemoryBudget.advance):
        # principals are tagged with the users they stand on; a project change drops them all
        # (children inherit roles, and a deleted project takes its rows with it). Validated
        # tokens stand while their principal and the revocation filter let them
        # (``_still_valid``); catalogs and certificates depend on neither users nor projects.
        self._validated = GenerationCache(cache_budget)
        budget = self._validated.budget
        self._principals = GenerationCache(budget, forget_all_on={generation.PROJECT})
        self._catalogs = GenerationCache(budget, forget_all_on={generation.PROJECT})
        self._certificates = GenerationCache(budget)
        self._revocations = revocation.RevocationFilter(budget)
        # Domains and implied-role rules, for principals (token.principals).
        self._reference = principals.Reference(budget)
        # [cert_auth] crl_file (certificates.crl.RevocationList), when configured: a token
        # dies with the certificate it was earned with when the CRL lists it.
        self.revocation_list = revocation_list
        # [endpoint_filter] return_all_endpoints_if_no_filter (see ``catalog``).
        self.whole_catalog_without_filter = whole_catalog_without_filter

    def stamp(self, context: dict) -> tuple:
        """The request's stamp, read at its first use and kept in the request context."""
        stamp = context.get("stamp")
        if stamp is None:
            stamp = (self.counter.read(), self._call_provider(self.provider.refresh_keys))
            if self.revocation_list is not None:  # a new CRL changes answers too
                stamp += (self.revocation_list.version,)
            # What changed since the last stamp is dropped before anything is served.
            self._validated.budget.advance(stamp, self.counter.changes)
            context["stamp"] = stamp
        return stamp

    # -- issue -----------------------------------------------------------------------------

    def issue(self, session: Session, stamp: tuple, user, methods: list[str],
              scope: Scope | None, parent: ValidatedToken | None = None,
              access_token=None, trust_id: str | None = None,
              application_credential=None,
              certificate: certificate_records.Presented | None = None,
              bound: bool = False) -> ValidatedToken:
        """Mint a token for ``user``; raises Unauthorized when the user may not have it.

        ``user`` is the row (or its snapshot) the credential was checked against: the token
        carries its revision, read with the password hash or the enabled flag that let the user
        in, so a change committed while the login was under way kills the token. A rescoped
        token (``parent`` given) keeps the parent's revisions (the parent's project revision
        too when it keeps the scope) and expiry, and joins its audit chain (see ``chained``).
        A token made with an OAuth1 ``access_token`` carries only what it delegates, and ends
        with it at the latest. A trust-scoped token (``trust_id``, on the trust's project:
        token.trust_scope) ends no later than its trust.

        A token earned with an ``application_credential`` (the credential's snapshot), or
        rescoped from one, stands on that credential: it carries only its roles, never outlives
        it, and dies with it (see application_credential_store.for_token).

        A token earned with a client ``certificate`` remembers it (``bound``: only it may
        present the token), never outlives it, and dies when it is revoked; a rescoped token
        keeps its parent's. A revoked certificate earns nothing (Unauthorized).
        """
        credential_id = application_credential.id if application_credential is not None \
            else parent.payload.application_credential_id if parent is not None else None
        principal = self.principal(session, stamp, user.id, scope.kind if scope else None,
                                   scope.id if scope else None, trust_id, credential_id)
        if principal is None:
            raise audit.refused(audit.NO_ROLE_ON_SCOPE)  # or the user or the scope is disabled
        issued_at = self.clock()
        expires_at = issued_at + self.expiration_us
        if application_credential is not None and application_credential.expires_at is not None:
            expires_at = min(expires_at, application_credential.expires_at)
        audit_ids = (new_audit_id(),)
        used = set(methods)
        user_revision = user.revision
        project_revision = principal.project.revision if principal.project else 0
        trust = principal.trust and principal.trust.trust
        if trust is not None and trust.expires_at is not None:
            expires_at = min(expires_at, trust.expires_at)
        if parent is not None:
            expires_at = min(expires_at, parent.payload.expires_at)
            audit_ids = chained(audit_ids[0], parent.payload.audit_ids)
            used |= set(parent.payload.methods)
            user_revision = parent.payload.user_revision
            if principal.project is not None and parent.payload.project_id == \
                    principal.project.id:
                project_revision = parent.payload.project_revision
        if access_token is not None and access_token.expires_at is not None:
            expires_at = min(expires_at, access_token.expires_at)
        record = None
        if certificate is not None:
            record = self.remember_certificate(session, stamp, certificate)
            expires_at = min(expires_at, certificate.not_after)
        elif parent is not None:
            record, bound = parent.certificate, parent.payload.bound
        else:
            bound = False
        # The order tokens decode to, so that issuing and validating report the same list.
        methods = tuple(method for method in PAYLOAD_METHODS if method in used)
        payload = TokenPayload(
            user_id=user.id, methods=methods, issued_at=issued_at,
            expires_at=expires_at, audit_ids=audit_ids,
            scope_kind=scope.kind if scope else None, scope_id=scope.id if scope else None,
            user_revision=user_revision, project_revision=project_revision,
            access_token_id=access_token.id if access_token is not None else None,
            trust_id=trust and trust.id,
            trustor_revision=principal.trust.trustor.revision if trust else 0,
            application_credential_id=credential_id,
            certificate=record and record.id, bound=bound)
        principal = self._delegated(session, stamp, payload, principal)
        if principal is None or not _revisions_current(payload, principal):
            raise errors.Unauthorized()  # changed since authentication read it: born dead
        token_id = self._call_provider(self.provider.issue, payload, session)
        metrics.token_issued(methods)
        return ValidatedToken(token_id, payload, principal, certificate=record)

    # -- validate --------------------------------------------------------------------------

    def validate(self, stamp: tuple, token_id: str, *, session: Session | None = None,
                 allow_expired: bool = False) -> ValidatedToken:
        """Return the token if it is valid now; raises TokenNotFound (404) otherwise.

        Answered from memory when this token was validated under the same stamp; otherwise in
        ``session``, or in a transaction of its own.
        """
        if not token_id:
            raise errors.TokenNotFound()
        token = self._validated.get(stamp, token_id)
        if token is not None and not self._still_valid(stamp, token):
            token = None
        metrics.validation_cache(token is not None)
        if token is None and session is None:
            # Most tokens seen for the first time need no query: their principal and the
            # revocation filter are remembered.
            try:
                token = self._validate_uncached(None, stamp, token_id)
            except _NeedsSession:
                pass
        if token is None or (session is not None and not generation.cacheable(session)):
            token = self._in_session(session, lambda session_: self._validate_uncached(
                session_, stamp, token_id))
        limit = self.clock() - (self.allow_expired_window_us if allow_expired else 0)
        if token.payload.expires_at <= limit:
            raise errors.TokenNotFound()
        return token

    def _validate_uncached(self, session: Session | None, stamp: tuple, token_id: str
                           ) -> ValidatedToken:
        """Without a ``session`` (None), raises _NeedsSession at the first read that the
        caches cannot answer."""
        if session is None and getattr(self.provider, "opens_from_store", True):
            raise _NeedsSession()
        payload = self._call_provider(self.provider.open, token_id, session)
        # Expiry is checked by the caller; here only what no window can bring back.
        if payload is None or payload.expires_at <= self.clock() - self.allow_expired_window_us:
            raise errors.TokenNotFound()
        revocation_hashes = revocation.keys_of(payload)
        if self._maybe_revoked(session, stamp, revocation_hashes) and revocation.is_revoked(
                _needed(session), payload):
            raise errors.TokenNotFound()
        record = None
        if payload.certificate is not None:
            record = self.certificate_record(session, stamp, payload.certificate)
            if record is None or self.certificate_revoked(session, stamp, record):
                raise errors.TokenNotFound()
        principal_key = (payload.user_id, payload.scope_kind, payload.scope_id,
                         payload.trust_id, payload.application_credential_id)
        principal = self._delegated(session, stamp, payload, self.principal(
            session, stamp, *principal_key))
        if principal is None or not _revisions_current(payload, principal):
            raise errors.TokenNotFound()
        if payload.access_token_id is not None:
            principal_key = _oauth1_key(payload)
        token = ValidatedToken(token_id, payload, principal, certificate=record,
                               principal_key=principal_key,
                               revocation_hashes=revocation_hashes)
        if _cacheable(session):
            # The principal is shared with the principals' cache, which counts it.
            self._validated.put(stamp, token_id, token, validated_size(token_id))
        return token

    def _still_valid(self, stamp: tuple, token: ValidatedToken) -> bool:
        """Whether a remembered token still stands: its principal is still the remembered one
        (a change to its user or project dropped it, see ``__init__``) and no revocation
        event may match it."""
        hashes = self._revocations.current()
        return (hashes is not None
                and self._principals.get(stamp, token.principal_key) is token.principal
                and not any(value in hashes for value in token.revocation_hashes))

    def _maybe_revoked(self, session: Session, stamp: tuple, hashes: tuple) -> bool:
        """False when no revocation event can match these hashes (revocation.keys_of): the
        per-process filter, loaded in ``session`` once per cache epoch, answers without a
        query. A transaction that has written asks the database (it may have revoked)."""
        if not _cacheable(session):
            return True
        known = self._revocations.current()
        if known is None:
            known = self._revocations.load(_needed(session), stamp)
        return any(value in known for value in hashes)

    # -- certificates ----------------------------------------------------------------------

    def remember_certificate(self, session: Session, stamp: tuple,
                             certificate: certificate_records.Presented):
        """The record of ``certificate``, which is about to earn a token (written if it is
        the first); Unauthorized when the certificate is revoked."""
        if self.certificate_revoked(session, stamp, certificate):
            raise audit.refused(audit.REVOKED_CERTIFICATE, "The client certificate is revoked.")
        key = ("thumbprint", certificate.thumbprint)
        record = self._certificates.get(stamp, key)
        if record is None:
            record = certificate_records.find_presented(session, certificate)
            if record is None:
                # Not remembered: the row is this transaction's until it commits.
                return certificate_records.remember(session, certificate)
            if generation.cacheable(session):
                self._certificates.put(stamp, key, record)
        return record

    def certificate_record(self, session: Session, stamp: tuple, certificate_id: int):
        """The certificates table's snapshot for the certificate a token names, or None;
        remembered under the stamp (rows never change)."""
        key = ("certificate", certificate_id)
        record = self._certificates.get(stamp, key)
        if record is None:
            record = certificate_records.find(_needed(session), certificate_id) or _INVALID
            if record is not _INVALID and _cacheable(session):
                self._certificates.put(stamp, key, record)
        return None if record is _INVALID else record

    def certificate_revoked(self, session: Session, stamp: tuple, certificate) -> bool:
        """Whether ``certificate`` (a record or a Presented) is revoked: by the operator
        (certificates.records.revoke) or by the CRL, which fails closed when unusable."""
        revoked = self._certificates.get(stamp, "revocations")
        if revoked is None:
            revoked = certificate_records.load_revocations(_needed(session))
            if _cacheable(session):
                self._certificates.put(stamp, "revocations", revoked)
        if revoked.cover(certificate.thumbprint, certificate.serial, certificate.issuer_dn):
            return True
        if self.revocation_list is None:
            return False
        try:
            return self.revocation_list.is_revoked(certificate.issuer_dn,
                                                   int(certificate.serial, 16))
        except crl.CrlUnusable:
            return True  # fail closed: the CRL logs why, once

    def catalog(self, stamp: tuple, token: ValidatedToken | None = None,
                session: Session | None = None):
        """The catalog ``token`` shows (see store.catalog) as snapshots, remembered under the
        stamp per project: a project's tokens show only the endpoints associated with it
        (OS-EP-FILTER, store.project_endpoint_ids) when there are any; other tokens, and
        those of projects without associations, show the whole catalog (or none, with
        ``[endpoint_filter] return_all_endpoints_if_no_filter = false``)."""
        key = ("catalog", token.project.id if token is not None and token.project else None)
        catalog = self._catalogs.get(stamp, key)
        if catalog is None and session is None:
            # A project without endpoint associations shows the whole catalog: no session,
            # and no entry of its own.
            whole, filtered = self._catalogs.get(stamp, "catalog") or (None, None)
            if whole is not None and key[1] not in filtered:
                return whole if self.whole_catalog_without_filter else []
        if catalog is None or (session is not None and not generation.cacheable(session)):
            catalog = self._in_session(session, lambda session_: self._catalog_uncached(
                session_, stamp, key))
        return catalog

    def _catalog_uncached(self, session: Session, stamp: tuple, key: tuple):
        cacheable = generation.cacheable(session)
        # The whole catalog and the projects with associations, read once per stamp: a
        # project without any then costs no query.
        whole, filtered = (self._catalogs.get(stamp, "catalog") if cacheable else None) or (
            None, None)
        if whole is None:
            whole = [(service.snapshot(), [endpoint.snapshot() for endpoint in endpoints])
                     for service, endpoints in store.catalog(session)]
            filtered = store.filtered_project_ids(session)
            if cacheable:
                self._catalogs.put(stamp, "catalog", (whole, filtered))
        project_id = key[1]
        associated = store.project_endpoint_ids(session, project_id) \
            if project_id in filtered else None
        if associated:
            catalog = [(service, kept) for service, endpoints in whole
                       if (kept := [endpoint for endpoint in endpoints
                                    if endpoint.id in associated])]
        else:
            catalog = whole if self.whole_catalog_without_filter else []
        if cacheable:
            # The snapshots are counted with the whole catalog: only the lists are this entry's.
            self._catalogs.put(stamp, key, catalog, estimate(key) + sys.getsizeof(catalog) + sum(
                sys.getsizeof(endpoints) for _service, endpoints in catalog))
        return catalog

    def principal(self, session: Session, stamp: tuple, user_id: str, scope_kind: str | None,
                  scope_id: str | None, trust_id: str | None = None,
                  application_credential_id: str | None = None) -> Principal | None:
        """The user on that scope (through that trust or application credential, if given), or
        None if the user, the scope, the trust or the credential is no longer valid."""
        key = (user_id, scope_kind, scope_id, trust_id, application_credential_id)
        cacheable = _cacheable(session)
        principal = self._principals.get(stamp, key) if cacheable else None
        if principal is None:
            size = None
            if trust_id is None and application_credential_id is None:
                def load(connection):
                    return principals.load(connection, self._reference, stamp, cacheable,
                                           user_id, scope_kind, scope_id)
                # Without a session (a validation answered from memory so far), on a
                # connection of its own: a session and its transaction cost more than the
                # statements.
                loaded = load(principals.connection_of(session)) if session is not None \
                    else self._read(load)
                principal = Principal(*loaded) if loaded else _INVALID
                # The domains and the implied roles are shared, counted by _reference.
                size = estimate(key, principal.user, principal.project, principal.roles) + \
                    _PRINCIPAL_BYTES
            else:
                principal = _load_principal(_needed(session), user_id, scope_kind, scope_id,
                                            trust_id, application_credential_id) or _INVALID
            if cacheable:
                tags = [(generation.USER, user_id)]
                if principal.trust is not None:  # a trustor's change ends the delegation
                    tags.append((generation.USER, principal.trust.trustor.id))
                self._principals.put(stamp, key, principal, size, tags=tuple(tags))
        return None if principal is _INVALID else principal

    def _delegated(self, session: Session, stamp: tuple, payload: TokenPayload,
                   principal: Principal | None) -> Principal | None:
        """``principal`` narrowed to what the token's delegation gives (an ``oauth1`` token's:
        keystone_lite.oauth1.method.narrowed), remembered under the stamp like principals."""
        if principal is None or payload.access_token_id is None:
            return principal
        key = _oauth1_key(payload)
        cacheable = _cacheable(session)
        narrowed = self._principals.get(stamp, key) if cacheable else None
        if narrowed is None:
            narrowed = oauth1_method.narrowed(_needed(session), principal, payload) or _INVALID
            if cacheable:
                self._principals.put(stamp, key, narrowed,
                                     tags=((generation.USER, payload.user_id),))
        return None if narrowed is _INVALID else narrowed

    def _read(self, work):
        """``work(connection)`` on a connection of its own, which only reads."""
        with failures.database_errors(), self.session_factory.kw["bind"].connect() as \
                connection:
            return work(connection)

    def _in_session(self, session: Session | None, work):
        return work(session) if session is not None else db_session.run(
            self.session_factory, work)

    # -- revoke ----------------------------------------------------------------------------

    def revoke_token(self, session: Session, token: ValidatedToken) -> None:
        """Revoke the token and every token rescoped from it, never the token its chain
        started from (see ``chained``): its own audit id, and its branch id when it has one.

        The events cover every token carrying those ids issued before ``until``: none is minted
        after this (every token that could mint one carries a revoked id), and ``until`` is
        later than any of them can expire or be shown with ``allow_expired`` (rescoping keeps
        the expiry) unless the node that issued them is ``allow_expired_window`` (2 days)
        ahead of this one. The node's "now" alone would let a token issued on a node whose
        clock is ahead survive its DELETE.
        """
        until = max(token.payload.expires_at, self.clock() + self._longest_lifetime_us)
        for audit_id in token.payload.audit_ids[:-1] or token.payload.audit_ids:
            revocation.revoke(session, "audit", audit_id, until)
        metrics.token_revoked(token.payload.methods)

    @property
    def _longest_lifetime_us(self) -> int:
        return self.expiration_us + self.allow_expired_window_us

    @staticmethod
    def _call_provider(method, *args):
        try:
            return method(*args)
        except key_repository.KeyRepositoryError as exc:
            raise errors.ServiceUnavailable("Token keys are unavailable.",
                                            detail=f"token keys unavailable: {exc}") from None


def chained(own: str, parent: tuple[str, ...]) -> tuple[str, ...]:
    """The audit ids of a token rescoped from one with audit ids ``parent``.

    A token's audit ids are its own, then, when it was rescoped, its *branch* (the first
    rescope its line of rescopes went through: its own id for that first rescope, so it is
    left out there) and last the chain's *root* (the token the user authenticated with:
    Keystone's ``audit_chain_id``). Revoking a token's own and branch ids (``revoke_token``)
    kills it and everything rescoped from it, however deep, and spares the root, which, as
    in Keystone, can still be rescoped to another project; revoking the root kills all.
    Three ids at most, so tokens stay under Keystone's 255 characters however deep.
    """
    branch = parent[0] if len(parent) == 2 else parent[1] if len(parent) == 3 else None
    return (own, branch, parent[-1]) if branch else (own, parent[-1])


_INVALID = Principal(user=None, user_domain=None)  # "no such principal", remembered too
# A Principal object itself (its parts are counted apart).
_PRINCIPAL_BYTES = sys.getsizeof(_INVALID)


class _NeedsSession(Exception):
    """A validation tried without a session (TokenService.validate) must read the store."""


def _needed(session: Session | None) -> Session:
    if session is None:
        raise _NeedsSession()
    return session


def _cacheable(session: Session | None) -> bool:
    """No session (nothing written), or one that has not written (generation.cacheable)."""
    return session is None or generation.cacheable(session)


def _largest_validated() -> int:
    """What a ValidatedToken with the largest payload holds beside its id and principal."""
    longest, large = "f" * 64, 2 ** 62
    payload = TokenPayload(
        user_id=longest, methods=PAYLOAD_METHODS, issued_at=large, expires_at=large,
        audit_ids=(new_audit_id(), new_audit_id(), new_audit_id()), scope_kind="project",
        scope_id=longest, user_revision=large, project_revision=large, trust_id=longest,
        trustor_revision=large, access_token_id=longest, application_credential_id=longest,
        certificate=2 ** 31, bound=True)
    token = ValidatedToken("", payload, _INVALID, principal_key=(longest,) * 5,
                           revocation_hashes=(large,) * 5)
    # The method names are shared constants and the principal key holds the payload's ids:
    # only their tuples are the token's own.
    return estimate(dataclasses.replace(payload, methods=()), token.revocation_hashes,
                    token.derived) + sys.getsizeof(payload.methods) + \
        sys.getsizeof(token.principal_key) + sys.getsizeof(token)


_VALIDATED_BYTES = _largest_validated()


def validated_size(token_id: str) -> int:
    """The bytes a remembered ValidatedToken holds, its principal aside (counted with the
    principals): a bound on every payload (``_VALIDATED_BYTES``) plus its id, so that storing
    one walks nothing."""
    return _VALIDATED_BYTES + sys.getsizeof(token_id)


def _oauth1_key(payload: TokenPayload) -> tuple:
    """Where an ``oauth1`` token's narrowed principal is remembered."""
    return ("oauth1", payload.access_token_id, payload.user_id, payload.scope_id)


def _revisions_current(payload: TokenPayload, principal: Principal) -> bool:
    """Whether no change that kills tokens was made to the user (or the project of a project
    scope, or the trustor of a trust) since the token was earned: its revisions are still the
    stored ones."""
    return principal.user.revision == payload.user_revision and (
        principal.project is None or principal.project.revision == payload.project_revision
    ) and (principal.trust is None
           or principal.trust.trustor.revision == payload.trustor_revision)


def _load_principal(session: Session, user_id: str, scope_kind: str | None,
                    scope_id: str | None, trust_id: str | None = None,
                    application_credential_id: str | None = None) -> Principal | None:
    """Read the user and scope; None if either is gone or disabled, or the scope gives the
    user no role (a scoped token is only as good as the roles behind it). Through a trust, the
    roles are the trust's, while it stands (token.trust_scope); through an application
    credential, the credential's, while it is valid there."""
    user = session.get(models.User, user_id)
    if user is None or not user.enabled:
        return None
    user_domain = session.get(models.Domain, user.domain_id)
    if user_domain is None or not user_domain.enabled:
        return None
    if scope_kind is None:
        return Principal(user.snapshot(), user_domain.snapshot())
    project = domain = None
    if scope_kind == "project":
        project = session.get(models.Project, scope_id)
        if project is None or not project.enabled:
            return None
        domain = session.get(models.Domain, project.domain_id)
    elif scope_kind == "domain":
        domain = session.get(models.Domain, scope_id)
    if scope_kind != "system" and (domain is None or not domain.enabled):
        return None
    delegation = credential = None
    if trust_id is not None:
        try:
            delegation, roles = trust_scope.standing(session, user.id, trust_id)
        except errors.KeystoneError:
            return None
        if delegation.trust.project_id != scope_id or scope_kind != "project":
            return None
    elif application_credential_id is not None:
        found = project and application_credential_store.for_token(
            session, application_credential_id, user.id, project.id)
        if not found:
            return None
        credential, roles = found
    else:
        roles = store.roles_on(session, user.id, scope_kind, scope_id)
        # With the roles they imply, less domain-specific ones (one query more, only when the
        # user holds roles there).
        roles = roles and store.expand_implied(session, roles)
    if not roles:
        return None
    return Principal(user.snapshot(), user_domain.snapshot(),
                     tuple(role.snapshot() for role in roles),
                     project and project.snapshot(), domain and domain.snapshot(),
                     trust=delegation, application_credential=credential)
