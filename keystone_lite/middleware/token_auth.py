"""token_auth filter: resolve the caller's ``X-Auth-Token`` into ``context['caller']``.

The configured admin token (bootstrap only) is compared in constant time and sets
``context['is_admin_token']``. An invalid token does not stop the request here: endpoints that
need a caller answer 401 with ``WWW-Authenticate``; endpoints that do not (issuing a token) ignore
it, as Keystone does.
"""
from __future__ import annotations

import hmac

import webob.dec

from keystone_lite import errors, services
from keystone_lite.context import get_context

HEADER = "X-Auth-Token"


class TokenAuthMiddleware:
    def __init__(self, app, services_):
        self.app = app
        self.services = services_
        admin_token = services_.settings.admin_token
        self.admin_token = admin_token.encode() if admin_token else None

    @webob.dec.wsgify
    def __call__(self, req):
        token_id = req.headers.get(HEADER, "").strip()
        if token_id:
            context = get_context(req.environ)
            if self.admin_token is not None and hmac.compare_digest(
                    token_id.encode("utf-8", "surrogateescape"), self.admin_token):
                context["is_admin_token"] = True
            else:
                try:
                    with self.services.transaction() as session:
                        context["caller"] = self.services.tokens.validate(session, token_id)
                except errors.TokenNotFound:
                    context["caller_token_invalid"] = True
        return req.get_response(self.app)


def filter_factory(global_conf, **local_conf):
    built = services.for_paste(global_conf)
    return lambda app: TokenAuthMiddleware(app, built)
