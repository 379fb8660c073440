"""bound_token: enforce certificate-bound tokens in any WSGI service behind a TLS web server.

Put it right after keystonemiddleware's ``auth_token`` in the service's paste pipeline::

    [pipeline:main]
    pipeline = ... authtoken bound_token myservice

    [filter:bound_token]
    use = egg:keystone_lite#bound_token

``auth_token`` validates the caller's token and leaves the validation body in the environ
(``keystone.token_info``). When the token is bound to a client certificate (Keystone's
``"oauth2_credential": {"x5t#S256": ...}``, as keystone_lite renders tokens earned with a
certificate under ``[cert_auth] bind_tokens`` and OAuth2 mutual-TLS tokens), this filter
compares that thumbprint with the one of the certificate the web server verified for this
request (``SSL_CLIENT_CERT``: mod_ssl's ``SSLOptions +ExportCertData``) and answers 401 when
they differ or when no certificate came. Unbound tokens pass. The 401 is JSON, as auth_token's;
auth_token adds ``WWW-Authenticate`` to every 401 from behind it.

keystonemiddleware's own ``oauth2_mtls_token`` does the same check but reads the certificate
from the socket, which only eventlet's server offers; this filter is for mod_wsgi and any
server that exports the PEM (docs/certificates.md).

Options (``[filter:bound_token]``):

- ``certificate_variable`` (default ``SSL_CLIENT_CERT``): the environ key holding the client
  certificate's PEM. Behind a TLS proxy that forwards it in a header it is ``HTTP_`` and the
  header's name (e.g. nginx's URL-escaped ``$ssl_client_escaped_cert`` in
  ``X-SSL-Client-Cert``: ``HTTP_X_SSL_CLIENT_CERT``); the proxy must then overwrite that header
  on every request, or clients could send their own.
- ``service_token_roles`` (default empty: never): a request that also carries a service token
  (``X-Service-Token``) that auth_token confirmed with one of these roles (comma-separated) may
  present a bound token over its own certificate: a service forwarding its user's token, as
  nova does to cinder. auth_token's own bind check exempts any service token the same way.

It imports only the standard library and ``keystone_lite.certificates.thumbprints``: a service
installs keystone_lite for this filter without loading any of its server's parts.
"""
from __future__ import annotations

import hmac
import json
import logging
import ssl
from urllib.parse import unquote

from keystone_lite.certificates.thumbprints import keystone_x5t

LOG = logging.getLogger(__name__)
TOKEN_INFO = "keystone.token_info"  # keystonemiddleware.auth_token's
_DEFAULTS = {"certificate_variable": "SSL_CLIENT_CERT", "service_token_roles": ""}
_MESSAGE = ("The token is bound to a client certificate, and this request was not made with "
            "it.")


class BoundTokenMiddleware:
    def __init__(self, app, certificate_variable: str = "SSL_CLIENT_CERT",
                 service_token_roles: frozenset = frozenset()):
        self.app = app
        self.certificate_variable = certificate_variable
        self.service_token_roles = service_token_roles

    def __call__(self, environ, start_response):
        refusal = self.refusal(environ)
        if refusal is None:
            return self.app(environ, start_response)
        # The reason only: never the token or the certificate.
        LOG.info("bound token refused: %s (%s %s)", refusal, environ.get("REQUEST_METHOD"),
                 environ.get("PATH_INFO"))
        body = json.dumps({"error": {"code": 401, "title": "Unauthorized",
                                     "message": _MESSAGE}}).encode()
        start_response("401 Unauthorized", [("Content-Type", "application/json"),
                                            ("Content-Length", str(len(body)))])
        return [body]

    def refusal(self, environ) -> str | None:
        """Why the request may not present its token, or None when it may."""
        info = environ.get(TOKEN_INFO)
        if info is None:
            if "HTTP_X_AUTH_TOKEN" in environ and "HTTP_X_IDENTITY_STATUS" not in environ:
                # auth_token always says whether the token was valid: it has not run.
                LOG.error("bound_token sees a token that auth_token has not validated: put "
                          "bound_token after auth_token in the pipeline")
                return "auth_token did not run before bound_token"
            return None  # no valid token: auth_token (or the service) decides
        token = info.get("token") if isinstance(info, dict) else None
        credential = token.get("oauth2_credential") if isinstance(token, dict) else None
        bound_to = credential.get("x5t#S256") if isinstance(credential, dict) else None
        if bound_to is None:
            return None  # unbound (or a v2.0 token, which cannot be bound)
        if self.forwarded_by_a_service(environ):
            return None
        presented = self.thumbprint(environ)
        if presented is None:
            return "no client certificate"
        if not isinstance(bound_to, str) or not hmac.compare_digest(
                bound_to.encode("ascii", "replace"), presented.encode("ascii")):
            return "another client certificate"
        return None

    def thumbprint(self, environ) -> str | None:
        """Keystone's x5t#S256 of the request's certificate, or None when it has none (or
        something that is not a PEM certificate)."""
        pem = environ.get(self.certificate_variable)
        if not pem:
            return None
        pem = unquote(pem).strip() if "%" in pem else pem.strip()
        try:
            return keystone_x5t(ssl.PEM_cert_to_DER_cert(pem))
        except (ValueError, UnicodeError):
            return None

    def forwarded_by_a_service(self, environ) -> bool:
        if not self.service_token_roles \
                or environ.get("HTTP_X_SERVICE_IDENTITY_STATUS") != "Confirmed":
            return False
        roles = {role.strip() for role in environ.get("HTTP_X_SERVICE_ROLES", "").split(",")}
        return not roles.isdisjoint(self.service_token_roles)


def filter_factory(global_conf, **local_conf):
    """Paste filter factory; an unknown option or an empty certificate variable is a start-up
    error naming it."""
    unknown = sorted(set(local_conf) - set(_DEFAULTS))
    if unknown:
        raise ValueError(f"[filter:bound_token]: unknown option {unknown[0]!r}; options: "
                         f"{', '.join(sorted(_DEFAULTS))}")
    options = {**_DEFAULTS, **local_conf}
    variable = options["certificate_variable"].strip()
    if not variable:
        raise ValueError("[filter:bound_token] certificate_variable: empty; the environ key of "
                         "the client certificate's PEM, e.g. SSL_CLIENT_CERT")
    roles = frozenset(role.strip() for role in options["service_token_roles"].split(",")
                      if role.strip())
    return lambda app: BoundTokenMiddleware(app, variable, roles)
