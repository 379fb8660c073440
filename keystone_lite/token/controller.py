"""v3 token controller: ``/v3/auth/tokens`` (issue, validate, check, revoke), ``/v3/auth/catalog``
and what a token may be rescoped to (``/v3/auth/projects``, ``/v3/auth/domains``,
``/v3/auth/system``).

The request body is parsed explicitly, field by field (keystone_lite.token.body): a wrong type,
a missing field, an unknown or repeated method is a 400 naming the field; a failed
authentication is a bare 401. The client is authenticated (keystone_lite.token.authentication)
before the scope it names is looked up.
"""
from __future__ import annotations

import logging

from keystone_lite import audit, errors, metrics, policy
from keystone_lite.context import get_context
from keystone_lite.identity import render as identity_render, store
from keystone_lite.oauth1 import method as oauth1_method
from keystone_lite.router import json_bytes, json_response, no_content, outside_transaction
from keystone_lite.token import application_credential, render, trust_scope
from keystone_lite.token.authentication import Authenticator
from keystone_lite.token.body import UNSCOPED, TrustScope, field, parse_scope, resolve_scope
from keystone_lite.token.cache import GenerationCache, estimate
from keystone_lite.token.lookups import Lookups
from keystone_lite.token.service import Scope, ValidatedToken

SUBJECT_HEADER = "X-Subject-Token"
# Sent by validators that enforce access rules (keystonemiddleware: "1"); Keystone answers a
# token whose application credential has access rules only to them.
ACCESS_RULES_HEADER = "OpenStack-Identity-Access-Rules"
# A response carrying a token (in X-Subject-Token or the body) is for its caller alone: no cache
# may store it, and none may answer another caller or another subject token with it.
LOG = logging.getLogger(__name__)
TOKEN_RESPONSE_HEADERS = {"Cache-Control": "no-store", "Vary": "X-Auth-Token, X-Subject-Token"}


class TokenController:
    def __init__(self, services):
        self.services = services
        self.settings = services.settings
        self.tokens = services.tokens
        self.authenticator = Authenticator(services)
        self.lookups = Lookups(services.cache_budget)
        # Validation answers as sent: the body depends only on the token and the catalog.
        self._bodies = GenerationCache(services.cache_budget)

    def routes(self):
        return [
            (r"/auth/tokens", {"POST": self.issue, "GET": self.validate,
                               "DELETE": self.revoke}),
            (r"/auth/catalog", {"GET": self.catalog}),
            (r"/auth/projects", {"GET": self.projects}),
            (r"/auth/domains", {"GET": self.domains}),
            (r"/auth/system", {"GET": self.system}),
        ]

    def stamp(self, req) -> tuple:
        """The request's cache stamp (TokenService.stamp)."""
        return self.tokens.stamp(get_context(req.environ))

    def find(self, req, session):
        """The request's store reads (see keystone_lite.token.lookups); call it before the
        session is first used, so that the stamp is read before the transaction's reads."""
        return self.lookups.bind(session, self.stamp(req))

    # POST /v3/auth/tokens
    def issue(self, req, session):
        find = self.find(req, session)
        document = get_context(req.environ)["json"]
        if document is None:
            raise errors.ValidationError("Expecting to find auth in request body.")
        auth = field(document, "auth", dict, "request body")
        identity = field(auth, "identity", dict, "auth")
        token = self.authenticate(req, session, find, identity, parse_scope(auth))
        return self.token_response(req, token, session=session, status=201)

    @audit.authentication
    def authenticate(self, req, session, find, identity, requested) -> ValidatedToken:
        """Authenticate the client (keystone_lite.token.authentication), then, and only then,
        look up the scope it asks for (``requested``: see token.body.parse_scope) and issue.
        A delegated token (keystone_lite.token.delegation), a trust-scoped one included, is
        never the credential of another token: the authenticator refuses it; a trust scope
        stands on the trust alone (keystone_lite.token.trust_scope), not on the scope of the
        token that authenticates its trustee."""
        authenticated = self.authenticator.authenticate(req, session, find, identity)
        user, parent = authenticated.user, authenticated.parent
        if self.settings.bind_tokens and "external" in authenticated.methods \
                and authenticated.certificate is None:
            LOG.error("certificate login refused: [cert_auth] bind_tokens is on but the web "
                      "server exported no SSL_CLIENT_CERT (mod_ssl: SSLOptions +ExportCertData)")
            raise audit.refused(audit.NO_CERTIFICATE)
        credential = authenticated.application_credential
        if credential is not None:
            # As Keystone: the credential is the scope, and no token stands on two credentials.
            if requested is not None:
                raise errors.Unauthorized(application_credential.SCOPE_REFUSED)
            if parent is not None:
                raise errors.Unauthorized()
            requested = Scope("project", credential.project_id)
        scope = resolve_scope(find, requested)
        if authenticated.access_token is not None:
            scope = Scope("project", oauth1_method.scope_of(authenticated.access_token, scope))
        elif isinstance(scope, TrustScope):
            trust = trust_scope.issuable(session, user.id, scope.id, self.tokens.clock())
            return self.tokens.issue(session, self.stamp(req), user, authenticated.methods,
                                     Scope("project", trust.project_id), parent,
                                     trust_id=trust.id, certificate=authenticated.certificate,
                                     bound=self.settings.bind_tokens)
        elif parent is not None:
            scope = self.rescope(parent, scope)
        elif scope is None:
            scope = self.default_scope(find, user)
        if scope == UNSCOPED:
            scope = None
        return self.tokens.issue(session, self.stamp(req), user, authenticated.methods, scope,
                                 parent, access_token=authenticated.access_token,
                                 application_credential=credential,
                                 certificate=authenticated.certificate,
                                 bound=self.settings.bind_tokens)

    @staticmethod
    def rescope(parent: ValidatedToken, scope: Scope | None) -> Scope | None:
        """A token may gain a scope once; a scoped token keeps its scope (no widening), or
        gives it up when the request is explicitly unscoped (a delegated token is never
        rescoped: see ``authenticate``).

        "Once" holds for the whole audit chain: an unscoped token that was itself rescoped
        (it may come from a scoped one) cannot gain a scope, or project A → unscoped →
        project B would widen a token of A.
        """
        payload = parent.payload
        current = Scope(payload.scope_kind, payload.scope_id) if payload.scope_kind else None
        if current is None and scope not in (None, UNSCOPED) and len(payload.audit_ids) > 1:
            raise errors.Forbidden("A rescoped token cannot gain a scope; rescope the token "
                                   "it came from, or authenticate again.")
        if scope is None or current is None or scope in (current, UNSCOPED):
            return scope or current
        raise errors.Forbidden("A scoped token cannot be rescoped to another scope.")

    @staticmethod
    def default_scope(find, user) -> Scope | None:
        """Keystone scopes a scope-less request to the user's default project, when usable."""
        if user.default_project_id is None:
            return None
        project = find(store.find_project, project_id=user.default_project_id)
        if project is None or not project.enabled or not find(
                store.roles_on, user_id=user.id, target_type="project", target_id=project.id):
            return None
        return Scope("project", project.id)

    # GET/HEAD /v3/auth/tokens: from memory when it can, outside any transaction.
    @outside_transaction
    def validate(self, req):
        stamp = self.stamp(req)
        subject = self.subject_token(req, stamp)
        metrics.token_validated(subject.payload.methods)
        with_catalog = not parse_flag(req, "nocatalog")
        # Kept with the validated token it renders: a token validated afresh (its user changed,
        # say) is rendered afresh.
        remembered = self._bodies.get(stamp, (subject.id, with_catalog))
        if remembered is not None and remembered[0] is subject:
            body = remembered[1]
        else:
            body = json_bytes(self.render(
                subject, self.tokens.catalog(stamp, subject) if with_catalog else None))
            # Kept from its second rendering on: most tokens are validated once by each
            # service (keystonemiddleware caches them), and their bodies would only crowd out
            # what is shared (principals, catalogs).
            rendered = ("rendered", with_catalog)
            if rendered in subject.derived:
                self._bodies.put(stamp, (subject.id, with_catalog), (subject, body),
                                 estimate((subject.id, with_catalog), body))
            else:
                subject.derived[rendered] = True
        return json_response(body, headers={SUBJECT_HEADER: subject.id,
                                            **TOKEN_RESPONSE_HEADERS})

    # DELETE /v3/auth/tokens
    def revoke(self, req, session):
        stamp = self.stamp(req)
        subject = self.subject_token(req, stamp, session)
        self.tokens.revoke_token(session, subject)
        self.services.audit.token_revoked(req, session, subject)
        return no_content()

    def subject_token(self, req, stamp, session=None) -> ValidatedToken:
        policy.require_caller(req)
        token_id = req.headers.get(SUBJECT_HEADER, "").strip()
        if not token_id:
            raise errors.TokenNotFound("No token in the request")
        allow_expired = parse_flag(req, "allow_expired")
        subject = self.tokens.validate(stamp, token_id, session=session,
                                       allow_expired=allow_expired)
        # GET validates, HEAD checks, DELETE revokes: each its own rule (policy.TOKEN_RULES).
        policy.enforce(req, self.settings, policy.TOKEN_RULES[req.method],
                       {"token.user_id": subject.user.id})
        if req.method != "DELETE" and not understands_access_rules(req, subject):
            raise errors.TokenNotFound()
        return subject

    def token_response(self, req, token: ValidatedToken, *, session, status=200):
        catalog = None
        if not parse_flag(req, "nocatalog"):
            catalog = self.tokens.catalog(self.stamp(req), token, session)
        return json_response(self.render(token, catalog), status=status,
                             headers={SUBJECT_HEADER: token.id, **TOKEN_RESPONSE_HEADERS})

    def render(self, token: ValidatedToken, catalog) -> dict:
        return render.v3_token(token, catalog, is_admin_project=self.is_admin_project(token))

    def is_admin_project(self, token: ValidatedToken) -> bool:
        return policy.is_admin_project(token, self.settings)

    # GET /v3/auth/catalog
    @outside_transaction
    def catalog(self, req):
        stamp = self.stamp(req)
        caller = policy.require_caller(req)
        if caller is not None and caller.payload.scope_kind is None:
            raise errors.Forbidden("The catalog requires a scoped token.")
        return json_response({
            "catalog": render.v3_catalog(self.tokens.catalog(stamp, caller)),
            "links": {"self": f"{errors.base_url(req)}/v3/auth/catalog"},
        })

    # GET /v3/auth/projects
    def projects(self, req, session):
        caller = policy.require_caller(req)
        base = errors.base_url(req)
        projects = store.projects_for_user(session, caller.user.id) if caller else []
        return json_response(identity_render.collection(
            "projects", [identity_render.v3_project(project, base) for project in projects],
            f"{base}/v3/auth/projects"))

    # GET /v3/auth/domains
    def domains(self, req, session):
        caller = policy.require_caller(req)
        base = errors.base_url(req)
        domains = store.domains_for_user(session, caller.user.id) if caller else []
        return json_response(identity_render.collection(
            "domains", [identity_render.v3_domain(domain, base) for domain in domains],
            f"{base}/v3/auth/domains"))

    # GET /v3/auth/system
    def system(self, req, session):
        caller = policy.require_caller(req)
        has_role = caller is not None and bool(store.roles_on(session, caller.user.id,
                                                              "system", "all"))
        return json_response(identity_render.collection(
            "system", [{"all": True}] if has_role else [],
            f"{errors.base_url(req)}/v3/auth/system"))


def understands_access_rules(req, subject: ValidatedToken) -> bool:
    """False for a validator that would not enforce the subject's access rules (it does not
    send ACCESS_RULES_HEADER 1 or later), as Keystone decides."""
    credential = subject.application_credential
    if credential is None or not credential.access_rules:
        return True
    try:
        return float(req.headers.get(ACCESS_RULES_HEADER, "")) >= 1.0
    except ValueError:
        return False


def parse_flag(req, name: str) -> bool:
    """``?name``, ``?name=1``/``true`` → True, ``?name=0``/``false`` → False; else 400."""
    if name not in req.GET:
        return False
    value = req.GET[name].strip().lower()
    if value in ("", "1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise errors.ValidationError(f"Invalid value for query parameter {name}.")
