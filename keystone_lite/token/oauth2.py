"""Keystone's OAuth 2.0 token endpoint, ``POST /v3/OS-OAUTH2/token`` (RFC 6749 client
credentials grant), on both apps.

The form body (``application/x-www-form-urlencoded``: the json_body filter leaves this path
alone, as Keystone does) says ``grant_type=client_credentials``; the client authenticates by
one of the methods of ``GRANTS``, chosen by ``client_authentication``:

- ``client_secret_basic``: an application credential's id and secret, in HTTP Basic
  ``Authorization`` or as ``client_id``/``client_secret`` form fields. The token is the one
  ``POST /v3/auth/tokens`` gives for that credential.
- ``tls_client_auth`` (RFC 8705): the client certificate the web server verified, which must
  name the user ``client_id``; the token is on the user's default project and bound to the
  certificate (keystone_lite.token.oauth2_mtls).

The answer is ``{"access_token", "token_type": "Bearer", "expires_in"}``. Every error, other
methods (405) included, is an OAuth 2.0 document ``{"error", "error_description"}`` with
Keystone's statuses: 400 ``invalid_request`` / ``unsupported_grant_type``, 401
``invalid_client`` (with ``WWW-Authenticate``, as Keystone), others ``other_error``.
"""
from __future__ import annotations

import base64
import http
import logging
from urllib.parse import parse_qsl, unquote_plus

from keystone_lite import errors
from keystone_lite.context import get_context
from keystone_lite.router import json_response, outside_transaction
from keystone_lite.token.application_credential import METHOD as APPLICATION_CREDENTIAL
from keystone_lite.token.controller import TOKEN_RESPONSE_HEADERS, TokenController
from keystone_lite.token.oauth2_mtls import TlsClientAuth

LOG = logging.getLogger(__name__)
PATH = "/OS-OAUTH2/token"
CLIENT_FAILED = "Client authentication failed."


class OAuth2Error(errors.KeystoneError):
    """An error rendered as RFC 6749 says (section 5.2), with Keystone's statuses."""

    def __init__(self, code: int, error: str, description: str,
                 cause: errors.KeystoneError | None = None):
        self.code, self.error, self.title = code, error, http.HTTPStatus(code).phrase
        self.cause = cause  # whose headers (Retry-After, WWW-Authenticate) still apply
        self.detail = getattr(cause, "detail", None)  # logged for a 5xx (catch_errors)
        super().__init__(description)

    def headers(self, req):
        if self.cause is not None:
            return self.cause.headers(req)
        return errors.Unauthorized().headers(req) if self.code == 401 else []

    def document(self) -> dict:
        return {"error": self.error, "error_description": self.message}


def invalid_client(description: str = CLIENT_FAILED, cause=None) -> OAuth2Error:
    return OAuth2Error(401, "invalid_client", description, cause)


def routes(services) -> list:
    endpoint = OAuth2Endpoint(services)
    refused = {method: endpoint.not_allowed for method in ("GET", "PUT", "PATCH", "DELETE")}
    return [(PATH, {"POST": endpoint.token, **refused})]


class OAuth2Endpoint:
    def __init__(self, services):
        self.services = services
        self.v3 = TokenController(services)
        self.mtls = TlsClientAuth(services, self.v3)
        # client authentication method -> handler(req, session, client_id, client_secret)
        self.grants = {"client_secret_basic": self.client_secret_basic,
                       "tls_client_auth": self.tls_client_auth}

    @staticmethod
    @outside_transaction
    def not_allowed(req):
        raise OAuth2Error(405, "other_error", "The method is not allowed for the requested URL.")

    # POST /v3/OS-OAUTH2/token
    def token(self, req, session):
        form = _form(req)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise OAuth2Error(400, "invalid_request", "The parameter grant_type is required.")
        if grant_type != "client_credentials":
            raise OAuth2Error(400, "unsupported_grant_type",
                              f"The parameter grant_type {grant_type[:64]} is not supported.")
        method, client_id, client_secret = client_authentication(req, form)
        if not client_id or method not in self.grants:
            LOG.info("OAuth2 token refused: %s", "no client_id" if not client_id else
                     f"client authentication {method or 'missing'} is not available")
            raise invalid_client()
        return self.grants[method](req, session, client_id, client_secret)

    def client_secret_basic(self, req, session, client_id: str, client_secret: str):
        """The token of the application credential ``client_id``, as ``POST /v3/auth/tokens``
        with the ``application_credential`` method issues it."""
        identity = {"methods": [APPLICATION_CREDENTIAL],
                    APPLICATION_CREDENTIAL: {"id": client_id, "secret": client_secret}}
        try:
            token = self.v3.authenticate(req, session, self.v3.find(req, session), identity,
                                         None)
        except errors.KeystoneError as error:
            raise as_oauth2(error) from None
        return access_token_response(token)

    def tls_client_auth(self, req, session, client_id: str, _client_secret):
        """A token of user ``client_id`` on their default project, bound to the client
        certificate that names them (keystone_lite.token.oauth2_mtls)."""
        try:
            token = self.mtls.issue(req, session, client_id)
        except errors.KeystoneError as error:
            raise as_oauth2(error) from None
        return access_token_response(token)


def access_token_response(token):
    """RFC 6749's answer; ``expires_in`` is the token's own lifetime (a credential or a
    certificate that ends sooner shortens it)."""
    lifetime = (token.payload.expires_at - token.payload.issued_at) // 1_000_000
    return json_response({"access_token": token.id, "token_type": "Bearer",
                          "expires_in": lifetime}, headers=TOKEN_RESPONSE_HEADERS)


def client_authentication(req, form: dict) -> tuple[str | None, str | None, str | None]:
    """(method, client_id, client_secret) of the request.

    Credentials in HTTP Basic ``Authorization`` select ``client_secret_basic``; otherwise a
    client certificate (verified by the web server) selects ``tls_client_auth``, and
    ``client_id`` with ``client_secret`` in the form ``client_secret_basic``. Keystone lets a
    certificate win over Basic credentials; here, where every client of a certificate-first
    deployment may present a certificate, credentials sent explicitly win.
    """
    basic = _basic_credentials(req)
    if basic is not None:
        return ("client_secret_basic", *basic)
    client_id = form.get("client_id")
    if get_context(req.environ)["cert"] is not None or req.environ.get("SSL_CLIENT_CERT"):
        return "tls_client_auth", client_id, None
    client_secret = form.get("client_secret")
    return ("client_secret_basic" if client_secret else None), client_id, client_secret


def _basic_credentials(req) -> tuple[str, str] | None:
    """``(id, secret)`` of ``Authorization: Basic``; None without one. RFC 6749 2.3.1: both
    form-urlencoded, then base64."""
    scheme, _, value = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8
        raise invalid_client() from None
    client_id, colon, client_secret = decoded.partition(":")
    client_id, client_secret = unquote_plus(client_id), unquote_plus(client_secret)
    if not colon or "\x00" in client_id + client_secret:
        raise invalid_client()
    return client_id, client_secret


def _form(req) -> dict:
    """The fields of an ``application/x-www-form-urlencoded`` body (last value wins; {} for
    another type), which RFC 6749 says is UTF-8 whatever the charset parameter claims; 400
    ``invalid_request`` when it is not, or when a field holds a NUL (which PostgreSQL refuses
    in a query)."""
    if req.content_type != "application/x-www-form-urlencoded":
        return {}
    try:
        form = dict(parse_qsl(req.body.decode("utf-8"), keep_blank_values=True,
                              errors="strict"))
    except (UnicodeDecodeError, ValueError):
        form = None
    if form is None or any("\x00" in key + value for key, value in form.items()):
        raise OAuth2Error(400, "invalid_request", "The request body is not a valid form.")
    return form


def as_oauth2(error: errors.KeystoneError) -> OAuth2Error:
    """What Keystone answers for a failure of the token issue behind a grant."""
    if error.code == 401:
        return invalid_client(error.message, cause=error)
    if error.code == 400:
        return OAuth2Error(400, "invalid_request", error.message)
    return OAuth2Error(error.code, "other_error", "An unknown error occurred and failed to get "
                       "an OAuth2.0 access token.", cause=error)
