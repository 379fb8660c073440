"""RFC 7662 token introspection, for services that are not OpenStack: ``POST
/v3/OS-OAUTH2/introspect`` on the admin app.

The caller is a service: an ``X-Auth-Token`` with the ``service`` or ``admin`` role (rule
``identity:introspect_token``, as ``ec2tokens``); without one it is a Keystone-shaped 401 (with
``WWW-Authenticate``), with another role a 403. The form body (``application/x-www-form-
urlencoded``, left alone by json_body) names the ``token``; ``token_type_hint`` is accepted and
ignored (keystone_lite has access tokens only).

A token that validates is ``{"active": true, "sub", "exp", "iat", "scope", "client_id",
"username", "token_type": "Bearer"}``: the user's id, the expiry and issue times in seconds,
the token's role names separated by spaces (no ``scope`` when it has none), the application
credential's id for a token earned with one (else the user's id). A token bound to a client
certificate (``[cert_auth] bind_tokens``, OAuth2 mutual TLS) adds RFC 8705's ``"cnf":
{"x5t#S256": base64url(SHA-256(DER))}``: the caller must then check that the request it got
came over that certificate. A token remembered with its certificate but not bound has no
``cnf``, since keystone_lite itself does not require that certificate either.

Anything that does not validate now (malformed, expired, revoked, unknown, its user or its
certificate gone) is ``{"active": false}``, never an error, and so is a token restricted by an
application credential's access rules, which an introspection answer cannot carry to the
caller for it to enforce.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

from keystone_lite import errors, policy
from keystone_lite.certificates import thumbprints
from keystone_lite.context import get_context
from keystone_lite.router import json_response, outside_transaction

PATH = "/OS-OAUTH2/introspect"
RULE = "identity:introspect_token"
# The answer is about one token, for one caller: no cache may keep or share it.
HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache", "Vary": "X-Auth-Token"}
INACTIVE = {"active": False}


def routes(services) -> list:
    return [(PATH, {"POST": Introspection(services).introspect})]


class Introspection:
    def __init__(self, services):
        self.settings = services.settings
        self.tokens = services.tokens

    # POST /v3/OS-OAUTH2/introspect
    @outside_transaction
    def introspect(self, req):
        stamp = self.tokens.stamp(get_context(req.environ))
        policy.enforce(req, self.settings, RULE)
        token_id = _token_parameter(req)
        try:
            token = self.tokens.validate(stamp, token_id)
        except errors.TokenNotFound:
            return json_response(INACTIVE, headers=HEADERS)
        credential = token.application_credential
        if credential is not None and credential.access_rules:
            return json_response(INACTIVE, headers=HEADERS)
        return json_response(answer(token), headers=HEADERS)


def answer(token) -> dict:
    """The RFC 7662 answer for a token that validates."""
    payload = token.payload
    credential = token.application_credential
    body = {"active": True, "sub": token.user.id, "username": token.user.name,
            "client_id": credential.id if credential is not None else token.user.id,
            "token_type": "Bearer", "iat": payload.issued_at // 1_000_000,
            "exp": payload.expires_at // 1_000_000}
    if token.roles:
        body["scope"] = " ".join(sorted(token.role_names))
    if payload.bound:
        body["cnf"] = {"x5t#S256": thumbprints.rfc8705_x5t(token.certificate.thumbprint)}
    return body


def _token_parameter(req) -> str:
    """The form's ``token``; 400 without one, or for a body that is not a UTF-8 form."""
    if req.content_type != "application/x-www-form-urlencoded":
        raise errors.ValidationError("The request body must be an "
                                     "application/x-www-form-urlencoded form with a token.")
    try:
        form = dict(parse_qsl(req.body.decode("utf-8"), keep_blank_values=True,
                              errors="strict"))
    except (UnicodeDecodeError, ValueError):
        raise errors.ValidationError("The request body is not a valid form.") from None
    token = form.get("token", "").strip()
    if not token:
        raise errors.ValidationError("The parameter token is required.")
    return token
