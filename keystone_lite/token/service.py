"""Token life cycle: issue, validate and revoke, independent of the API version that asks.

Validation re-reads the user, the scope and the roles from the store every time, so disabling or
deleting a user or project, or removing a role, takes effect on the next check. Revocation
events cover what the current state cannot show (a user disabled and re-enabled, a password
changed, a token deleted).
"""
from __future__ import annotations

import dataclasses

from sqlalchemy.orm import Session

from keystone_lite import errors
from keystone_lite.db import generation, models
from keystone_lite.identity import store
from keystone_lite.token import key_repository, revocation
from keystone_lite.token.cache import GenerationCache
from keystone_lite.token.payload import METHODS as PAYLOAD_METHODS, TokenPayload, new_audit_id, \
    now_us


@dataclasses.dataclass(frozen=True)
class Scope:
    kind: str  # "project", "domain" or "system"
    id: str


@dataclasses.dataclass
class ValidatedToken:
    """A token that passed every check, with what rendering it needs."""

    id: str
    payload: TokenPayload
    user: models.User
    user_domain: models.Domain
    roles: list[models.Role]
    project: models.Project | None = None
    domain: models.Domain | None = None  # the project's domain, or the scoped domain

    @property
    def role_names(self) -> set[str]:
        return {role.name for role in self.roles}


class TokenService:
    def __init__(self, provider, expiration: int, allow_expired_window: int):
        self.provider = provider
        self.expiration_us = expiration * 1_000_000
        self.allow_expired_window_us = allow_expired_window * 1_000_000
        self._validated = GenerationCache()
        self._catalogs = GenerationCache(max_entries=1)

    # -- issue -----------------------------------------------------------------------------

    def issue(self, session: Session, user: models.User, methods: list[str],
              scope: Scope | None, parent: ValidatedToken | None = None) -> ValidatedToken:
        """Mint a token for ``user``; raises Unauthorized when the user may not have it.

        A rescoped token (``parent`` given) keeps the parent's expiry and audit chain: its
        second audit id is the chain id, the audit id of the token the chain started from (as
        Keystone's ``audit_chain_id``), so revoking that token kills every token rescoped from
        it, however deep.
        """
        issued_at = now_us()
        expires_at = issued_at + self.expiration_us
        audit_ids = (new_audit_id(),)
        used = set(methods)
        if parent is not None:
            expires_at = min(expires_at, parent.payload.expires_at)
            audit_ids += parent.payload.audit_ids[-1:]
            used |= set(parent.payload.methods)
        # The order tokens decode to, so that issuing and validating report the same list.
        methods = tuple(method for method in PAYLOAD_METHODS if method in used)
        payload = TokenPayload(
            user_id=user.id, methods=methods, issued_at=issued_at,
            expires_at=expires_at, audit_ids=audit_ids,
            scope_kind=scope.kind if scope else None, scope_id=scope.id if scope else None)
        token = self._check(session, "", payload)
        if token is None:
            raise errors.Unauthorized()
        token.id = self._call_provider(self.provider.issue, payload, session)
        return token

    # -- validate --------------------------------------------------------------------------

    def validate(self, session: Session, token_id: str, *, allow_expired: bool = False
                 ) -> ValidatedToken:
        """Return the token if it is valid now; raises TokenNotFound (404) otherwise.

        The answer is remembered under the database change counter and the key repository's
        version, so a repeated validation costs one single-row read until something that could
        change it is written (on any node) or the keys change.
        """
        if not token_id:
            raise errors.TokenNotFound()
        stamp = (generation.read(session), self._call_provider(self.provider.keys_version))
        token = self._validated.get(stamp, token_id)
        if token is None:
            token = self._validate_uncached(session, token_id)
            if generation.cacheable(session):
                self._validated.put(stamp, token_id, token)
        limit = now_us() - (self.allow_expired_window_us if allow_expired else 0)
        if token.payload.expires_at <= limit:
            raise errors.TokenNotFound()
        return token

    def _validate_uncached(self, session: Session, token_id: str) -> ValidatedToken:
        payload = self._call_provider(self.provider.open, token_id, session)
        # Expiry is checked by the caller; here only what no window can bring back.
        if payload is None or payload.expires_at <= now_us() - self.allow_expired_window_us:
            raise errors.TokenNotFound()
        if revocation.is_revoked(session, payload):
            raise errors.TokenNotFound()
        token = self._check(session, token_id, payload)
        if token is None:
            raise errors.TokenNotFound()
        # Kept beyond this session: plain copies, not ORM objects.
        return dataclasses.replace(
            token, user=token.user.snapshot(), user_domain=token.user_domain.snapshot(),
            roles=[role.snapshot() for role in token.roles],
            project=token.project and token.project.snapshot(),
            domain=token.domain and token.domain.snapshot())

    def catalog(self, session: Session):
        """The catalog (see store.catalog), remembered under the change counter."""
        stamp = generation.read(session)
        catalog = self._catalogs.get(stamp, "catalog")
        if catalog is None:
            catalog = [(service.snapshot(), [endpoint.snapshot() for endpoint in endpoints])
                       for service, endpoints in store.catalog(session)]
            if generation.cacheable(session):
                self._catalogs.put(stamp, "catalog", catalog)
        return catalog

    def _check(self, session: Session, token_id: str, payload: TokenPayload
               ) -> ValidatedToken | None:
        """Load what the payload refers to; None if the user or scope is no longer valid."""
        user = session.get(models.User, payload.user_id)
        if user is None or not user.enabled:
            return None
        user_domain = session.get(models.Domain, user.domain_id)
        if user_domain is None or not user_domain.enabled:
            return None
        token = ValidatedToken(id=token_id, payload=payload, user=user,
                               user_domain=user_domain, roles=[])
        if payload.scope_kind is None:
            return token
        if payload.scope_kind == "project":
            token.project = session.get(models.Project, payload.scope_id)
            if token.project is None or not token.project.enabled:
                return None
            token.domain = session.get(models.Domain, token.project.domain_id)
        elif payload.scope_kind == "domain":
            token.domain = session.get(models.Domain, payload.scope_id)
        if payload.scope_kind != "system" and (token.domain is None or not token.domain.enabled):
            return None
        token.roles = store.roles_on(session, user.id, payload.scope_kind, payload.scope_id)
        # A scoped token is only as good as the roles behind it.
        return token if token.roles else None

    # -- revoke ----------------------------------------------------------------------------

    def revoke_token(self, session: Session, token: ValidatedToken) -> None:
        """Revoke one token and every token whose audit chain it started (see ``issue``).

        The event covers every token issued up to the token's expiry, not up to now: each token
        carrying this audit id expires no later than this one (rescoping keeps the expiry) and
        none can be minted from a revoked chain, while "now" on the revoking node may be behind
        the clock of the node that issued the token (a multi-node clock skew would otherwise
        let a token deleted right after its issue survive).
        """
        revocation.revoke(session, "audit", token.payload.audit_ids[0],
                          token.payload.expires_at, revoked_at=token.payload.expires_at)

    def revoke_user(self, session: Session, user_id: str) -> None:
        """Kill every token of the user issued up to now (disable, password change)."""
        revocation.revoke(session, "user", user_id, now_us() + self._longest_lifetime_us)

    def revoke_project(self, session: Session, project_id: str) -> None:
        revocation.revoke(session, "project", project_id, now_us() + self._longest_lifetime_us)

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
