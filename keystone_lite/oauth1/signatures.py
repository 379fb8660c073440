"""OAuth1 request signatures (RFC 5849), checked by oauthlib against the OS-OAUTH1 tables.

Three kinds of signed request, as Keystone: a consumer asking for a request token (signed with
the consumer's secret), exchanging an authorized request token for an access token (consumer and
request token secrets, plus the verifier), and authenticating with an access token on
``POST /v3/auth/tokens`` (consumer and access token secrets). Each check answers the row it was
signed with, or raises a Keystone-shaped error: 400 for a malformed request (oauthlib's own
description, in Keystone's wording), 401 for a bad signature or credential.

Only HMAC signatures are accepted: PLAINTEXT would send the secrets themselves in a header.
Nonces are not remembered (as Keystone): oauthlib refuses timestamps more than 10 minutes off,
and the transport is TLS.
"""
from __future__ import annotations

import contextlib
import hmac
import re
import secrets
from urllib.parse import parse_qsl, quote

from oauthlib.oauth1 import (AccessTokenEndpoint, RequestTokenEndpoint, RequestValidator,
                             ResourceEndpoint)
from oauthlib.oauth1.rfc5849 import utils as oauth_utils

from keystone_lite import errors
from keystone_lite.db import models

_ID = re.compile(r"[0-9a-f]{32}")  # consumer and token ids: store.new_id()
_NONCE = re.compile(r"[0-9A-Za-z]{1,64}")
VERIFIER_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_VERIFIER = re.compile(rf"[{VERIFIER_CHARS}]{{8}}")
_DUMMY_ID = "0" * 32  # oauthlib checks a signature against it when the real id is unknown


def new_verifier() -> str:
    return "".join(secrets.choice(VERIFIER_CHARS) for _ in range(8))


def oauth_parameters(req) -> dict:
    """The ``oauth_*`` parameters of the request's ``Authorization: OAuth ...`` header; 400
    without one (Keystone's wording: the usual cause is a web server that does not pass it)."""
    header = req.headers.get("Authorization", "")
    try:
        return dict(oauth_utils.parse_authorization_header(header))
    except (ValueError, TypeError):
        raise errors.ValidationError(
            "No Authorization headers found, cannot proceed with OAuth related calls. If "
            "running under HTTPd or Apache, ensure WSGIPassAuthorization is set to On.") from None


def required(parameters: dict, name: str) -> str:
    value = parameters.get(name)
    if not value:
        raise errors.ValidationError(f"Expecting to find {name} in request.")
    return value


def signed_url(req) -> str:
    """The URL the client signed: the app's public base URL (its configured endpoint, or the
    host it was called on) and the path, as Keystone rebuilds it."""
    url = f"{errors.base_url(req)}/v3{quote(req.path_info)}"
    return f"{url}?{req.query_string}" if req.query_string else url


class Validator(RequestValidator):
    """oauthlib's questions answered from the request's session. Unknown ids get a dummy
    secret, so that the answer takes the time a wrong signature does."""

    def __init__(self, session):
        super().__init__()
        self.session = session

    enforce_ssl = False  # TLS is the web server's: behind it the app may see plain HTTP
    allowed_signature_methods = ("HMAC-SHA1", "HMAC-SHA256", "HMAC-SHA512")
    dummy_client = dummy_request_token = dummy_access_token = _DUMMY_ID

    def _row(self, model, row_id, client_key=None):
        row = self.session.get(model, row_id) if _ID.fullmatch(row_id or "") else None
        if row is None or (client_key is not None and row.consumer_id != client_key):
            return None
        return row

    @staticmethod
    def _secret(row) -> str:
        return row.secret if row is not None else secrets.token_hex(16)

    def check_client_key(self, client_key):
        return bool(_ID.fullmatch(client_key))

    check_request_token = check_access_token = check_client_key

    def check_nonce(self, nonce):
        return bool(_NONCE.fullmatch(nonce))

    def check_verifier(self, verifier):
        return bool(_VERIFIER.fullmatch(verifier))

    def get_client_secret(self, client_key, request):
        return self._secret(self._row(models.OAuth1Consumer, client_key))

    def get_request_token_secret(self, client_key, token, request):
        return self._secret(self._row(models.OAuth1RequestToken, token, client_key))

    def get_access_token_secret(self, client_key, token, request):
        return self._secret(self._row(models.OAuth1AccessToken, token, client_key))

    def validate_client_key(self, client_key, request):
        return self._row(models.OAuth1Consumer, client_key) is not None

    def validate_request_token(self, client_key, token, request):
        return self._row(models.OAuth1RequestToken, token, client_key) is not None

    def validate_access_token(self, client_key, token, request):
        return self._row(models.OAuth1AccessToken, token, client_key) is not None

    def validate_verifier(self, client_key, token, verifier, request):
        row = self._row(models.OAuth1RequestToken, token, client_key)
        return row is not None and row.verifier is not None and hmac.compare_digest(
            row.verifier.encode(), verifier.encode())

    def get_default_realms(self, client_key, request):
        return []  # realms are not used, as in Keystone

    def get_realms(self, token, request):
        return []

    def validate_requested_realms(self, client_key, realms, request):
        return True

    def validate_realms(self, client_key, token, request, uri=None, realms=None):
        return True

    def validate_redirect_uri(self, client_key, redirect_uri, request):
        return True  # out of band ("oob"): the user hands the verifier to the consumer

    def validate_timestamp_and_nonce(self, client_key, timestamp, nonce, request,
                                     request_token=None, access_token=None):
        return True  # see the module docstring

    # The rows are written by keystone_lite.oauth1.delegation, not through oauthlib.
    def save_request_token(self, token, request):
        pass

    def save_access_token(self, token, request):
        pass

    def invalidate_request_token(self, client_key, request_token, request):
        pass


def check_request_token_request(req, session) -> models.OAuth1Consumer:
    """A consumer's request for a request token: the consumer that signed it."""
    parameters = oauth_parameters(req)
    consumer_id = required(parameters, "oauth_consumer_key")
    if not _valid(RequestTokenEndpoint(Validator(session)).create_request_token_response, req):
        raise errors.Unauthorized("Invalid signature")
    return session.get(models.OAuth1Consumer, consumer_id)


def check_access_token_request(req, session) -> models.OAuth1RequestToken:
    """An exchange of a request token: the request token, signed by its consumer with the
    verifier its user's authorization gave (Keystone's messages tell which was wrong)."""
    parameters = oauth_parameters(req)
    for name in ("oauth_consumer_key", "oauth_token", "oauth_verifier"):
        required(parameters, name)
    validator = Validator(session)
    if not _valid(AccessTokenEndpoint(validator).create_access_token_response, req):
        if not validator.validate_verifier(parameters["oauth_consumer_key"],
                                           parameters["oauth_token"],
                                           parameters["oauth_verifier"], None):
            raise errors.Unauthorized("Provided verifier does not match stored verifier")
        raise errors.Unauthorized("Invalid signature")
    return session.get(models.OAuth1RequestToken, parameters["oauth_token"])


def check_access_token_use(req, session) -> models.OAuth1AccessToken:
    """A request signed with an access token (the ``oauth1`` auth method): the access token."""
    parameters = oauth_parameters(req)
    access_token_id = required(parameters, "oauth_token")
    with _malformed_is_400():
        valid, _request = ResourceEndpoint(
            Validator(session)).validate_protected_resource_request(
            signed_url(req), http_method=req.method, body=None, headers=dict(req.headers))
    if not valid:
        raise errors.Unauthorized("Could not validate the access token")
    return session.get(models.OAuth1AccessToken, access_token_id)


def _valid(respond, req) -> bool:
    """Whether oauthlib's ``respond`` accepts the request; 400 for a malformed one."""
    # Only header parameters count: the body of these calls is not form-encoded (the json_body
    # filter reads bodies as JSON), so oauthlib is given none.
    with _malformed_is_400():
        _headers, body, status = respond(signed_url(req), http_method=req.method, body=None,
                                         headers=dict(req.headers))
    if status == 200 or not body:
        return status == 200
    found = dict(parse_qsl(body))
    raise errors.ValidationError(
        f"Validation failed with errors: {found.get('error', 'invalid_request')}, detail "
        f"message is: {found.get('error_description', '')}.")


@contextlib.contextmanager
def _malformed_is_400():
    """oauthlib raises ValueError for what it cannot parse (a query string that is not
    form-encoded, ...) beside its own errors: the client's mistake, not a 500."""
    try:
        yield
    except ValueError:
        raise errors.ValidationError("The OAuth1 request could not be parsed.") from None
