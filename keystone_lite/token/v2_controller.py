"""v2.0 token controller, for the clients of 2012: ``POST /v2.0/tokens`` on both apps and, on
admin, ``GET``/``HEAD``/``DELETE /v2.0/tokens/{id}`` with ``?belongsTo=``.

It shares authentication, issuing and validation with the v3 controller; only the request and
response documents differ.
"""
from __future__ import annotations

from keystone_lite import errors, metrics, policy
from keystone_lite.context import get_context
from keystone_lite.router import json_response, no_content, outside_transaction
from keystone_lite.token import render
from keystone_lite.token.authentication import no_remote_user
from keystone_lite.token.body import NamedScope, field
from keystone_lite.token.controller import TOKEN_RESPONSE_HEADERS, TokenController


class V2TokenController:
    def __init__(self, services, v3: TokenController):
        self.services = services
        self.tokens = services.tokens
        self.v3 = v3

    def routes(self, admin: bool):
        routes = [(r"/tokens", {"POST": self.issue})]
        if admin:
            routes.append((r"/tokens/(?P<token_id>[^/]+)",
                           {"GET": self.validate, "DELETE": self.revoke}))
        return routes

    def issue(self, req, session):
        find = self.v3.find(req, session)
        context = get_context(req.environ)
        document = context["json"]
        if document is None:
            raise errors.ValidationError("Expecting to find auth in request body.")
        auth = field(document, "auth", dict, "request body")
        identity = self.v3_identity(auth, context["remote_user"])
        token = self.v3.authenticate(req, session, find, identity, self.scope(auth))
        catalog = self.tokens.catalog(self.v3.stamp(req), token, session)
        return json_response(render.v2_access(token, catalog), headers=TOKEN_RESPONSE_HEADERS)

    @staticmethod
    def v3_identity(auth: dict, remote_user: str | None) -> dict:
        """Translate v2.0 credentials into the v3 identity document."""
        credentials = field(auth, "passwordCredentials", dict, "auth", required=False)
        token = field(auth, "token", dict, "auth", required=False)
        if credentials is not None and token is not None:
            raise errors.ValidationError("auth takes passwordCredentials or token, not both.")
        if credentials is not None:
            user = {"password": field(credentials, "password", str, "auth.passwordCredentials")}
            user_id = field(credentials, "userId", str, "auth.passwordCredentials",
                            required=False)
            if user_id is not None:
                user["id"] = user_id
            else:
                user["name"] = field(credentials, "username", str, "auth.passwordCredentials")
            return {"methods": ["password"], "password": {"user": user}}
        if token is not None:
            return {"methods": ["token"], "token": {"id": field(token, "id", str,
                                                                "auth.token")}}
        if remote_user is None:
            raise no_remote_user()
        return {"methods": ["external"]}

    def scope(self, auth: dict) -> NamedScope | None:
        """The tenant asked for, looked up only after authentication (see v3.authenticate)."""
        tenant_id = field(auth, "tenantId", str, "auth", required=False)
        tenant_name = field(auth, "tenantName", str, "auth", required=False)
        if tenant_id is not None:
            return NamedScope("project", project={"project_id": tenant_id})
        if tenant_name is not None:
            return NamedScope("project", project={"name": tenant_name}, domain={
                "domain_id": self.services.settings.default_domain_id})
        return None

    def subject(self, req, stamp, token_id, session=None):
        policy.require_caller(req)
        subject = self.tokens.validate(stamp, token_id, session=session)
        if subject.payload.trust_id is not None:
            # As Keystone's v2.0 did: v2.0 has no form that tells a trust's token from the
            # trustee's or trustor's own.
            raise errors.TokenNotFound("Unable to validate trust-scoped tokens using version "
                                       "v2.0 API.")
        policy.enforce(req, self.services.settings, policy.TOKEN_RULES[req.method],
                       {"token.user_id": subject.user.id})
        credential = subject.application_credential
        if credential is not None and credential.access_rules:
            raise errors.TokenNotFound()  # v2.0 cannot show the rules its validators enforce
        belongs_to = req.GET.get("belongsTo")
        if belongs_to is not None and (subject.project is None or
                                       subject.project.id != belongs_to):
            raise errors.TokenNotFound()
        return subject

    @outside_transaction
    def validate(self, req, token_id):
        stamp = self.v3.stamp(req)
        subject = self.subject(req, stamp, token_id)
        metrics.token_validated(subject.payload.methods)
        return json_response(render.v2_access(subject, self.tokens.catalog(stamp, subject)),
                             headers=TOKEN_RESPONSE_HEADERS)

    def revoke(self, req, session, token_id):
        stamp = self.v3.stamp(req)
        subject = self.subject(req, stamp, token_id, session)
        self.tokens.revoke_token(session, subject)
        self.services.audit.token_revoked(req, session, subject)
        return no_content()
