"""``POST /v3/ec2tokens`` and ``POST /v3/s3tokens``: a service (ec2-api, Swift's s3api) that
received an AWS-signed request sends its signature material; if the signature is the one the
EC2 credential's secret makes, the answer is a token of the credential's user on its project
(200, Keystone's token body; ``X-Subject-Token`` for ec2tokens).

As Keystone 30 (since its fix of CVE-2025-65073, which let anyone holding a pre-signed URL get
a token of its owner): the caller must be a service or an admin (``identity:ec2tokens_validate``
and ``identity:s3tokens_validate``). The body's ``credentials`` (or ``credential``, or
``ec2Credentials``) hold ``access`` and ``signature``, and for ec2tokens ``verb``, ``host``,
``path``, ``params``, ``headers`` and ``body_hash``; for s3tokens ``token``, the base64 of the
string to sign. keystone_lite.ec2.signatures checks them.

A signed time (``Timestamp``, ``X-Amz-Date``) older than ``[credential] auth_ttl`` minutes is
refused as Keystone refuses it, and so (unlike Keystone) is one that far ahead of this server's
clock, a passed ``Expires`` (Version 2) or a pre-signed request past its ``X-Amz-Expires``.
The token is issued as any other (TokenService.issue: the user, the project and a role on it
must be valid now) with the method ``ec2credential``, which marks it for what it is: it cannot
be rescoped and the identity API does not accept it as a caller (Keystone's fix of bug
2153453), so that a signed request, or a leaked pre-signed URL, never yields more than that
token. A credential bound to a trust, an application credential or an
OAuth1 access token is refused: keystone_lite cannot yet issue a token restricted to it.
"""
from __future__ import annotations

import base64
import binascii
import datetime
import re

from keystone_lite import audit, errors, policy
from keystone_lite.context import get_context
from keystone_lite.ec2 import signatures
from keystone_lite.ec2.credentials import DELEGATIONS
from keystone_lite.identity import credential_keys, credentials as credential_store, store
from keystone_lite.token.body import field
from keystone_lite.token.controller import SUBJECT_HEADER
from keystone_lite.token.payload import EC2_CREDENTIAL
from keystone_lite.token.service import Scope

INVALID = "Invalid EC2 signature."
_BASIC_TIME = re.compile(r"\d{8}T\d{6}Z")  # X-Amz-Date: 20150830T123600Z


def routes(services, token_controller) -> list:
    controller = Ec2Tokens(services, token_controller)
    return [(r"/ec2tokens", {"POST": controller.ec2tokens}),
            (r"/s3tokens", {"POST": controller.s3tokens})]


class Ec2Tokens:
    def __init__(self, services, token_controller):
        self.services = services  # .audit: audit.authentication
        self.settings = services.settings
        self.tokens = services.tokens
        self.token_controller = token_controller  # renders the token as POST /v3/auth/tokens

    def ec2tokens(self, req, session):
        stamp = self.tokens.stamp(get_context(req.environ))  # before the transaction's reads
        policy.enforce(req, self.settings, "identity:ec2tokens_validate")
        token = self._ec2_token(req, session, stamp)
        return self.token_controller.token_response(req, token, session=session)

    @audit.authentication(default=audit.BAD_CREDENTIAL)
    def _ec2_token(self, req, session, stamp):
        credentials = _credentials(req)
        request = _ec2_request(credentials)
        access, signature = _access(credentials), _signature(credentials)
        row, secret = self._credential(session, access)
        try:
            matches = signatures.ec2_signature_matches(secret, request, signature)
        except signatures.BadSignature as exc:
            raise errors.Unauthorized(str(exc)) from None
        if not matches:
            raise errors.Unauthorized(INVALID)
        return self._issue(session, stamp, request, row)

    def s3tokens(self, req, session):
        stamp = self.tokens.stamp(get_context(req.environ))
        policy.enforce(req, self.settings, "identity:s3tokens_validate")
        token = self._s3_token(req, session, stamp)
        response = self.token_controller.token_response(req, token, session=session)
        del response.headers[SUBJECT_HEADER]  # as Keystone: the body is the answer
        return response

    @audit.authentication(default=audit.BAD_CREDENTIAL)
    def _s3_token(self, req, session, stamp):
        credentials = _credentials(req)
        request = _ec2_request(credentials)  # a signed time, if the service sends one
        access, signature = _access(credentials), _signature(credentials)
        string_to_sign = _string_to_sign(credentials)
        row, secret = self._credential(session, access)
        try:
            expected = signatures.s3_signature(secret, string_to_sign)
        except signatures.BadSignature as exc:
            raise errors.Unauthorized(str(exc)) from None
        if not signatures.signatures_equal(signature, expected):
            raise errors.Unauthorized("Credential signature mismatch.")
        return self._issue(session, stamp, request, row)

    def _credential(self, session, access: str):
        """(the credential, its secret); 401 unless it is an EC2 credential with a secret,
        bound to nothing keystone_lite cannot honour."""
        found = credential_store.ec2_of_access(
            session, credential_keys.for_request(self.settings), access)
        if found is None:
            raise errors.Unauthorized("EC2 access key not found.")
        row, blob = found
        secret = blob.get("secret")
        if not isinstance(secret, str) or not secret:
            raise errors.Unauthorized(INVALID)
        if any(blob.get(key) for key in DELEGATIONS):
            raise errors.Unauthorized("This EC2 credential is bound to a trust, an application "
                                      "credential or an OAuth1 access token, which EC2 and S3 "
                                      "tokens cannot be restricted to yet.")
        return row, secret

    def _issue(self, session, stamp, request, row):
        self._check_signed_time(request)
        user = store.find_user(session, user_id=row.user_id)
        if user is None:
            raise errors.Unauthorized()
        # Unauthorized unless the user, the project and a role on it are valid now.
        return self.tokens.issue(session, stamp, user, [EC2_CREDENTIAL],
                                 Scope("project", row.project_id))

    def _check_signed_time(self, request: signatures.Ec2Request) -> None:
        now = datetime.datetime.fromtimestamp(self.tokens.clock() / 1e6, datetime.UTC)
        ttl = datetime.timedelta(minutes=self.settings.credential_auth_ttl)
        if request.signed_time is not None:
            signed = _parse_time(request.signed_time)
            if now - signed > min(ttl, _presigned_for(request, ttl)):
                raise errors.Unauthorized("Credential is expired.")
            if signed - now > ttl:
                raise errors.Unauthorized("Credential timestamp is invalid: it is ahead of "
                                          "the server's clock.")
        if "Expires" in request.params and now > _parse_time(request.params["Expires"]):
            raise errors.Unauthorized("Credential is expired.")


# -- the body -------------------------------------------------------------------------------

def _credentials(req) -> dict:
    document = get_context(req.environ)["json"]
    if not document:
        raise errors.ValidationError("request must include a request body")
    # Keystone has taken all three names.
    credentials = (document.get("credentials") or document.get("credential")
                   or document.get("ec2Credentials") or {})
    if not isinstance(credentials, dict):
        raise errors.ValidationError("Invalid type for request body.credentials.")
    return credentials


def _access(credentials: dict) -> str:
    access = field(credentials, "access", str, "credentials", required=False)
    if access is None:
        raise errors.Unauthorized("EC2 Signature not supplied.")
    return access


def _signature(credentials: dict) -> str:
    signature = field(credentials, "signature", str, "credentials", required=False)
    if signature is None:
        raise errors.Unauthorized("EC2 signature not supplied.")
    return signature


def _string_to_sign(credentials: dict) -> bytes:
    token = field(credentials, "token", str, "credentials", required=False)
    if token is None:
        raise errors.Unauthorized("EC2 signature not supplied.")
    try:
        return base64.urlsafe_b64decode(token.encode("ascii"))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise errors.Unauthorized("Credential signature mismatch.") from None


def _ec2_request(credentials: dict) -> signatures.Ec2Request:
    def text(name):
        return field(credentials, name, str, "credentials", required=False)
    return signatures.Ec2Request(
        verb=text("verb"), host=text("host"), path=text("path"),
        params=_string_map(credentials, "params"), headers=_string_map(credentials, "headers"),
        body_hash=text("body_hash"))


def _string_map(credentials: dict, name: str) -> dict[str, str]:
    """``credentials[name]``: an object of strings (numbers are taken as their text, as
    Keystone's signer does); 400 otherwise."""
    value = credentials.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            isinstance(item, str) or (isinstance(item, int) and not isinstance(item, bool))
            for item in value.values()):
        raise errors.ValidationError(f"Invalid type for credentials.{name}.")
    return {key: str(item) for key, item in value.items()}


def _presigned_for(request: signatures.Ec2Request, ttl) -> datetime.timedelta:
    """How long a pre-signed Version 4 request says it is valid (``X-Amz-Expires``)."""
    seconds = request.params.get("X-Amz-Expires")
    if seconds is None:
        return ttl
    if not seconds.isdigit() or len(seconds) > 9:
        raise errors.Unauthorized("Credential timestamp is invalid.")
    return datetime.timedelta(seconds=int(seconds))


def _parse_time(text: str) -> datetime.datetime:
    """A signed time in UTC: ISO 8601 (``2011-10-03T15:19:30Z``) or AWS's basic form
    (``20150830T123600Z``); 401 for anything else."""
    try:
        if _BASIC_TIME.fullmatch(text):
            parsed = datetime.datetime.strptime(text, "%Y%m%dT%H%M%SZ")
        else:
            parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise errors.Unauthorized("Credential timestamp is invalid.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed
