"""token_auth filter: resolve the caller's ``X-Auth-Token`` into ``context['caller']``.

The configured admin token (bootstrap only) is compared in constant time and sets
``context['is_admin_token']``. An invalid token does not stop the request here: endpoints that
need a caller answer 401 with ``WWW-Authenticate``; endpoints that do not (issuing a token) ignore
it, as Keystone does.

A token bound to a client certificate (keystone_lite.certificates) is the caller only of
requests made over that certificate: anyone else presenting it is refused as for an invalid
token (and logged).

A token standing on an application credential with access rules is the caller only of the
requests its rules let through for service type ``identity``, as keystonemiddleware configured
with that service type would decide (validating a token, ``GET /v3/auth/tokens``, always is).
"""
from __future__ import annotations

import hmac

from keystone_lite import errors, services
from keystone_lite.context import get_context
from keystone_lite.token.application_credential import allows
from keystone_lite.token.authentication import presented_by_holder

HEADER = "X-Auth-Token"
_ENVIRON_KEY = "HTTP_X_AUTH_TOKEN"


class TokenAuthMiddleware:
    def __init__(self, app, services_):
        self.app = app
        self.services = services_
        admin_token = services_.settings.admin_token
        self.admin_token = admin_token.encode() if admin_token else None

    def __call__(self, environ, start_response):
        token_id = environ.get(_ENVIRON_KEY, "").strip()
        if token_id:
            context = get_context(environ)
            if self.admin_token is not None and hmac.compare_digest(
                    token_id.encode("utf-8", "surrogateescape"), self.admin_token):
                context["is_admin_token"] = True
            else:
                tokens = self.services.tokens
                try:
                    caller = tokens.validate(tokens.stamp(context), token_id)
                except errors.TokenNotFound:
                    context["caller_token_invalid"] = True
                else:
                    if presented_by_holder(caller, context) and _within_access_rules(
                            caller, environ):
                        context["caller"] = caller
                    else:
                        context["caller_token_invalid"] = True
        return self.app(environ, start_response)


def _within_access_rules(caller, environ) -> bool:
    credential = caller.application_credential
    if credential is None or not credential.access_rules:
        return True
    # The path as the identity service's catalog URL ends: ``/v3/...`` below the mount point.
    mount = environ.get("keystone_lite.mount_script_name", "")
    path = environ.get("SCRIPT_NAME", "")[len(mount):] + environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "")
    if method == "GET" and path.endswith("/v3/auth/tokens"):
        return True
    return allows(credential.access_rules, "identity", method, path)


def filter_factory(global_conf, **local_conf):
    built = services.for_paste(global_conf)
    return lambda app: TokenAuthMiddleware(app, built)
