"""AWS request signatures, checked against an EC2 credential's secret: what ``/v3/ec2tokens``
and ``/v3/s3tokens`` verify.

Protocol code, written from AWS's published algorithms with the standard library's hmac and
hashlib (tests/unit/test_ec2_signatures.py checks AWS's published examples; the functional
tests check requests signed by botocore):
- Signature Version 2 of the EC2 Query API (``SignatureVersion=2``, ``HmacSHA256`` or
  ``HmacSHA1``): what ec2-api forwards as ``verb``, ``host``, ``path`` and ``params``;
- Signature Version 4 (``AWS4-HMAC-SHA256`` in the ``Authorization`` header, or in
  ``X-Amz-*`` query parameters): the canonical request is rebuilt from the forwarded
  ``headers`` the client signed and the ``body_hash``;
- for S3 (Swift's s3api), the service sends the string to sign it rebuilt itself: the S3 REST
  signature (HMAC-SHA1, base64), or a Version 4 one when the string starts with ``AWS4``.

As Keystone's signer (keystoneclient's Ec2Signer) does, a POST's canonical query string is empty
(its parameters came in the form body, which ``body_hash`` covers) and a Version 2 signature is
retried without the port of ``host`` (some clients sign without it). Unlike it, versions 0 and
1 are refused (AWS retired them: they sign too little of the request), a Version 4 signature must
sign the ``host`` header and every header it names must be there, and a malformed one is refused
rather than failing the call.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import re
import urllib.parse

V4_ALGORITHM = "AWS4-HMAC-SHA256"
_V2_DIGESTS = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}
_SCOPE_END = "aws4_request"


class BadSignature(Exception):
    """Signature material that cannot be checked; the message is fit for the client."""


@dataclasses.dataclass(frozen=True)
class Ec2Request:
    """What an EC2 API service forwards of a request it received."""

    verb: str | None
    host: str | None
    path: str | None
    params: dict[str, str]
    headers: dict[str, str]  # names as received: looked up without regard to case
    body_hash: str | None  # hex SHA-256 of the body (Version 4)

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == name), None)

    @property
    def signed_time(self) -> str | None:
        """When the client says it signed: ``Timestamp`` (Version 2) or ``X-Amz-Date``."""
        return (self.params.get("Timestamp") or self.header("X-Amz-Date")
                or self.params.get("X-Amz-Date"))


def ec2_signature_matches(secret: str, request: Ec2Request, signature: str) -> bool:
    """Whether ``signature`` is the client's signature of ``request`` with ``secret``; raises
    BadSignature when the request is not signed in a way this checks."""
    version = request.params.get("SignatureVersion")
    if version == "2":
        return any(_equal(signature, expected) for expected in _v2_signatures(secret, request))
    if version in ("0", "1"):
        raise BadSignature(f"Signature version {version} is not accepted; sign requests with "
                           "version 2 or 4.")
    if version is None and _is_v4(request):
        return _equal(signature, _v4_signature(secret, request))
    raise BadSignature("Unknown signature version." if version is not None
                       else "Unexpected signature format.")


def s3_signature(secret: str, string_to_sign: bytes) -> str:
    """The signature of an S3 request whose string to sign (as the service rebuilt it) is
    ``string_to_sign``; raises BadSignature for a Version 4 string that is not well formed."""
    if not string_to_sign.startswith(b"AWS4"):  # a REST one starts with the HTTP verb
        digest = hmac.new(secret.encode("utf-8"), string_to_sign, hashlib.sha1).digest()
        return base64.b64encode(digest).decode("ascii")
    lines = string_to_sign.split(b"\n")
    if len(lines) != 4 or lines[0] != V4_ALGORITHM.encode():
        raise BadSignature("Invalid EC2 signature.")
    scope = lines[2].split(b"/")
    if len(scope) != 4 or scope[2] != b"s3" or scope[3] != _SCOPE_END.encode() \
            or not lines[1].startswith(scope[0]):
        raise BadSignature("Invalid EC2 signature.")
    key = _signing_key(secret, *scope[:3])
    return hmac.new(key, string_to_sign, hashlib.sha256).hexdigest()


def signatures_equal(given: str, expected: str) -> bool:
    return _equal(given, expected)


# -- Version 2 ------------------------------------------------------------------------------

def _v2_signatures(secret: str, request: Ec2Request):
    """The signature for ``host`` as sent, then for it without its port."""
    digest = _V2_DIGESTS.get(request.params.get("SignatureMethod"))
    if digest is None:
        raise BadSignature("SignatureMethod must be HmacSHA256 or HmacSHA1.")
    if None in (request.verb, request.host, request.path):
        raise BadSignature("A version 2 signature needs the request's verb, host and path.")
    params = {key: value for key, value in request.params.items() if key != "Signature"}
    # Sorted by name with natural byte ordering, then encoded (AWS's Version 2 description).
    query = "&".join(f"{_uri_encode(key)}={_uri_encode(params[key])}"
                     for key in sorted(params, key=lambda key: key.encode("utf-8")))
    for host in dict.fromkeys((request.host, _without_port(request.host))):
        if host is not None:
            text = f"{request.verb}\n{host}\n{request.path}\n{query}"
            mac = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), digest)
            yield base64.b64encode(mac.digest()).decode("ascii")


def _without_port(host: str) -> str | None:
    try:
        return urllib.parse.urlsplit("//" + host).hostname
    except ValueError:
        return None


# -- Version 4 ------------------------------------------------------------------------------

def _is_v4(request: Ec2Request) -> bool:
    authorization = request.header("Authorization")
    if authorization is not None:
        return authorization.startswith(V4_ALGORITHM)
    return request.params.get("X-Amz-Algorithm") == V4_ALGORITHM


def _v4_fields(request: Ec2Request) -> tuple[str, str]:
    """``(Credential, SignedHeaders)`` of the Authorization header or the query."""
    authorization = request.header("Authorization")
    if authorization is None:
        fields = {name.removeprefix("X-Amz-"): value for name, value in request.params.items()}
    else:
        fields = dict(part.strip().split("=", 1)
                      for part in authorization[len(V4_ALGORITHM):].split(",") if "=" in part)
    credential, signed_headers = fields.get("Credential"), fields.get("SignedHeaders")
    if not credential or not signed_headers:
        raise BadSignature("A version 4 signature needs its Credential and SignedHeaders.")
    return credential, signed_headers


def _v4_signature(secret: str, request: Ec2Request) -> str:
    credential, signed_headers = _v4_fields(request)
    scope = credential.split("/")[1:]
    amz_date = request.header("X-Amz-Date") or request.params.get("X-Amz-Date")
    if len(scope) != 4 or scope[3] != _SCOPE_END or not re.fullmatch(r"\d{8}", scope[0]) \
            or amz_date is None or not amz_date.startswith(scope[0]):
        raise BadSignature("Invalid EC2 signature.")  # Keystone: "Request date mismatch"
    names = signed_headers.split(";")
    values = [request.header(name) for name in names]
    if "host" not in names or None in values or request.verb is None \
            or request.path is None or request.body_hash is None:
        raise BadSignature("A version 4 signature must sign the host header, and needs the "
                           "request's verb, path, signed headers and body_hash.")
    query = ""
    if request.verb.upper() != "POST":
        query = "&".join(f"{key}={value}" for key, value in sorted(
            (_uri_encode(key), _uri_encode(value)) for key, value in request.params.items()
            if key != "X-Amz-Signature"))
    # Header values trimmed, inner runs of spaces made one (AWS's "Trimall").
    headers = "".join(f"{name}:{' '.join(value.split())}\n" for name, value in zip(names, values))
    canonical = "\n".join((request.verb.upper(), request.path, query, headers, signed_headers,
                           request.body_hash))
    string_to_sign = "\n".join((V4_ALGORITHM, amz_date, "/".join(scope),
                                hashlib.sha256(canonical.encode("utf-8")).hexdigest()))
    key = _signing_key(secret, *(part.encode("utf-8") for part in scope[:3]))
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _signing_key(secret: str, date: bytes, region: bytes, service: bytes) -> bytes:
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, _SCOPE_END.encode()):
        key = hmac.new(key, part, hashlib.sha256).digest()
    return key


# -- shared ---------------------------------------------------------------------------------

def _uri_encode(text: str) -> str:
    """AWS's UriEncode: every byte but RFC 3986's unreserved characters percent-encoded."""
    return urllib.parse.quote(text, safe="-_.~")


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
