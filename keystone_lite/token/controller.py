"""v3 token controller: ``/v3/auth/tokens`` (issue, validate, check, revoke), ``/v3/auth/catalog``
and what a token may be rescoped to (``/v3/auth/projects``, ``/v3/auth/domains``,
``/v3/auth/system``).

The request body is parsed explicitly, field by field: a wrong type, a missing field, an unknown
or repeated method is a 400 naming the field; a failed authentication is a bare 401.
"""
from __future__ import annotations

import logging

from keystone_lite import errors, policy
from keystone_lite.context import get_context
from keystone_lite.identity import render as identity_render, store
from keystone_lite.router import json_bytes, json_response, no_content, outside_transaction
from keystone_lite.token import render
from keystone_lite.token.cache import GenerationCache
from keystone_lite.token.lookups import Lookups
from keystone_lite.token.service import Scope, ValidatedToken

LOG = logging.getLogger(__name__)
METHODS = ("external", "password", "token")
SUBJECT_HEADER = "X-Subject-Token"
# A response carrying a token (in X-Subject-Token or the body) is for its caller alone: no cache
# may store it, and none may answer another caller or another subject token with it.
TOKEN_RESPONSE_HEADERS = {"Cache-Control": "no-store", "Vary": "X-Auth-Token, X-Subject-Token"}
# An explicitly unscoped request: no scope, and no default project either.
UNSCOPED = Scope("unscoped", "")


# -- body parsing ----------------------------------------------------------------------------------

def field(document: dict, key: str, kind, where: str, required: bool = True):
    """``document[key]`` checked to be of ``kind``; 400 naming ``where.key`` otherwise."""
    if key not in document or document[key] is None:
        if required:
            raise errors.ValidationError(f"Expecting to find {key} in {where}.")
        return None
    value = document[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise errors.ValidationError(f"Invalid type for {where}.{key}.")
    if isinstance(value, str) and not value.strip():
        raise errors.ValidationError(f"{where}.{key} must not be empty.")
    return value


def parse_domain_ref(find, document: dict, where: str):
    """A ``{"id": ...}`` or ``{"name": ...}`` domain reference; None when it names nothing.

    ``find`` runs a store read (see keystone_lite.token.lookups).
    """
    domain_id = field(document, "id", str, where, required=False)
    if domain_id is not None:
        return find(store.find_domain, domain_id=domain_id)
    name = field(document, "name", str, where, required=False)
    if name is None:
        raise errors.ValidationError(f"Expecting to find id or name in {where}.")
    return find(store.find_domain, name=name)


def parse_scope(find, auth: dict) -> Scope | None:
    """The requested scope; 401 when it names a project or domain that does not exist.

    None when no scope is asked for (the user's default project may then apply); UNSCOPED
    for an explicitly unscoped request: ``"scope": "unscoped"`` (what keystoneauth1 sends for
    ``unscoped=True``) or ``{"unscoped": {}}``.
    """
    if auth.get("scope") == "unscoped":
        return UNSCOPED
    scope = field(auth, "scope", dict, "auth", required=False)
    if scope is None:
        return None
    kinds = [kind for kind in ("project", "domain", "system", "unscoped") if kind in scope]
    if len(kinds) != 1:
        raise errors.ValidationError("auth.scope must name exactly one of project, domain, "
                                     "system or unscoped.")
    kind = kinds[0]
    if kind == "unscoped":
        return UNSCOPED
    target = field(scope, kind, dict, "auth.scope")
    if kind == "system":
        if target.get("all") is not True:
            raise errors.ValidationError("auth.scope.system must be {\"all\": true}.")
        return Scope("system", "all")
    if kind == "domain":
        domain = parse_domain_ref(find, target, "auth.scope.domain")
        if domain is None:
            raise errors.Unauthorized()
        return Scope("domain", domain.id)
    project_id = field(target, "id", str, "auth.scope.project", required=False)
    if project_id is not None:
        project = find(store.find_project, project_id=project_id)
    else:
        name = field(target, "name", str, "auth.scope.project")
        domain_ref = field(target, "domain", dict, "auth.scope.project")
        domain = parse_domain_ref(find, domain_ref, "auth.scope.project.domain")
        project = domain and find(store.find_project, name=name, domain_id=domain.id)
    if project is None:
        raise errors.Unauthorized()
    return Scope("project", project.id)


def parse_methods(identity: dict, remote_user: str | None) -> list[str]:
    methods = field(identity, "methods", list, "auth.identity")
    if not all(isinstance(method, str) for method in methods):
        raise errors.ValidationError("Invalid type for auth.identity.methods.")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise errors.ValidationError(
            f"Unsupported authentication method: {unknown[0][:64]}; supported: "
            f"{', '.join(METHODS)}.")
    if len(set(methods)) != len(methods):
        raise errors.ValidationError("An authentication method is repeated in "
                                     "auth.identity.methods.")
    if not methods:
        if remote_user is None:
            raise no_remote_user()
        methods = ["external"]  # what the web server verified is the credential
    return methods


def no_remote_user() -> errors.Unauthorized:
    """External authentication without an identity from the web server: logged, 401."""
    LOG.info("external authentication refused: the web server verified no client "
             "certificate (no REMOTE_USER)")
    return errors.Unauthorized("External authentication needs a client certificate verified "
                               "by the web server.")


# -- the controller --------------------------------------------------------------------------------

class TokenController:
    def __init__(self, services):
        self.services = services
        self.settings = services.settings
        self.tokens = services.tokens
        self.lookups = Lookups()
        # Validation answers as sent: the body depends only on the token and the catalog.
        self._bodies = GenerationCache()

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
        token = self.authenticate(req, session, find, identity, parse_scope(find, auth))
        return self.token_response(req, token, session=session, status=201)

    def authenticate(self, req, session, find, identity, scope) -> ValidatedToken:
        """Run every requested method; all must succeed and name the same user, who must also
        be the certificate's user when the web server verified one."""
        context = get_context(req.environ)
        methods = parse_methods(identity, context["remote_user"])
        users, parent = [], None
        for method in methods:
            if method == "external":
                users.append(self.external_user(find, context))
            elif method == "password":
                users.append(self.password_user(session, find, field(
                    identity, "password", dict, "auth.identity")))
            else:
                parent = self.parent_token(req, session, field(identity, "token", dict,
                                                               "auth.identity"))
                users.append(parent.user)
        if context["remote_user"] is not None and "external" not in methods:
            # As Keystone: a verified certificate is always a credential, so a password or
            # token of someone else presented over it is refused rather than silently honoured.
            users.append(self.external_user(find, context))
        if any(user.id != users[0].id for user in users):
            raise errors.Unauthorized()
        user = users[0]
        if parent is not None:
            scope = self.rescope(parent, scope)
        elif scope is None:
            scope = self.default_scope(find, user)
        if scope == UNSCOPED:
            scope = None
        return self.tokens.issue(session, self.stamp(req), user, methods, scope, parent)

    def external_user(self, find, context):
        name = context["remote_user"]
        if name is None:
            raise no_remote_user()
        domain_id = self.settings.default_domain_id
        if context["remote_domain"]:
            domain = find(store.find_domain, name=context["remote_domain"])
            if domain is None:
                LOG.info("external authentication refused: no domain named %r (REMOTE_DOMAIN)",
                         context["remote_domain"])
                raise errors.Unauthorized()
            domain_id = domain.id
        user = find(store.find_user, name=name, domain_id=domain_id)
        if user is None or not user.enabled:
            # The client only learns "401": which names exist is for the operator's eyes.
            LOG.info("external authentication refused: %s user %r in domain %r",
                     "no" if user is None else "disabled", name, domain_id)
            raise errors.Unauthorized()
        return user

    def password_user(self, session, find, password_doc):
        """The user whose password this is, read from the store itself: snapshots carry no
        password hash (and argon2 costs far more than the read)."""
        user_doc = field(password_doc, "user", dict, "auth.identity.password")
        password = field(user_doc, "password", str, "auth.identity.password.user")
        user_id = field(user_doc, "id", str, "auth.identity.password.user", required=False)
        if user_id is not None:
            user = store.find_user(session, user_id=user_id)
        else:
            name = field(user_doc, "name", str, "auth.identity.password.user")
            domain_ref = field(user_doc, "domain", dict, "auth.identity.password.user",
                               required=False)
            domain = (parse_domain_ref(find, domain_ref, "auth.identity.password.user.domain")
                      if domain_ref is not None
                      else find(store.find_domain, domain_id=self.settings.default_domain_id))
            user = domain and store.find_user(session, name=name, domain_id=domain.id)
        # Verify even without a user so that timing does not tell which names exist.
        if not self.services.passwords.verify(user.password_hash if user else None, password):
            raise errors.Unauthorized()
        if not user.enabled:
            raise errors.Unauthorized()
        return user

    def parent_token(self, req, session, token_doc):
        token_id = field(token_doc, "id", str, "auth.identity.token")
        try:
            return self.tokens.validate(self.stamp(req), token_id, session=session)
        except errors.TokenNotFound:
            raise errors.Unauthorized() from None

    @staticmethod
    def rescope(parent: ValidatedToken, scope: Scope | None) -> Scope | None:
        """A token may gain a scope once; a scoped token keeps its scope (no widening), or
        gives it up when the request is explicitly unscoped.

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
        with_catalog = not parse_flag(req, "nocatalog")
        body = self._bodies.get(stamp, (subject.id, with_catalog))
        if body is None:
            body = json_bytes(self.render(
                subject, self.tokens.catalog(stamp) if with_catalog else None))
            self._bodies.put(stamp, (subject.id, with_catalog), body)
        return json_response(body, headers={SUBJECT_HEADER: subject.id,
                                            **TOKEN_RESPONSE_HEADERS})

    # DELETE /v3/auth/tokens
    def revoke(self, req, session):
        stamp = self.stamp(req)
        subject = self.subject_token(req, stamp, session)
        self.tokens.revoke_token(session, subject)
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
        return subject

    def token_response(self, req, token: ValidatedToken, *, session, status=200):
        catalog = None
        if not parse_flag(req, "nocatalog"):
            catalog = self.tokens.catalog(self.stamp(req), session)
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
            "catalog": render.v3_catalog(self.tokens.catalog(stamp)),
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
