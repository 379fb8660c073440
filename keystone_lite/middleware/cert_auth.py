"""cert_auth filter: turn what the web server verified into ``context['remote_user']``.

Only keys the server itself sets are read: ``REMOTE_USER`` (mod_ssl ``SSLUserName``, mod_nss
``NSSUserName``) or the configured ``SSL_CLIENT_*`` attribute, plus ``SSL_CLIENT_VERIFY``,
``SSL_CLIENT_S_DN``, ``SSL_CLIENT_I_DN``, ``SSL_CLIENT_M_SERIAL`` and ``SSL_CLIENT_CERT``. HTTP
headers reach WSGI only as ``HTTP_*`` keys, which are never looked at, so ``Remote-User:`` or
``X-SSL-Client-*`` headers cannot authenticate anyone.

An identity that is present but not trustworthy (verification not ``SUCCESS``, issuer not
trusted, empty name, unreadable certificate) is refused with 401 and a log line saying why:
fail closed, never fall back to anonymous.
"""
from __future__ import annotations

import dataclasses
import logging

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from keystone_lite import errors, services
from keystone_lite.context import get_context
from keystone_lite.dn import normalise_dn
from keystone_lite.settings import ConfigError

LOG = logging.getLogger(__name__)
# Header spellings of what only the web server may say (Remote-User, X-Remote-User,
# X-SSL-Client-S-DN-UID, SSL_CLIENT_VERIFY sent as a header, ...): WSGI turns them into HTTP_*
# keys, which are never read; a request carrying one is logged as the attempt it probably is.
_IDENTITY_HEADER_PREFIXES = ("HTTP_REMOTE_", "HTTP_X_REMOTE_", "HTTP_SSL_", "HTTP_X_SSL_")


class Refused(Exception):
    """The server-provided identity must not be trusted; the message says why."""


@dataclasses.dataclass(frozen=True)
class Identity:
    remote_user: str
    remote_domain: str | None = None
    subject_dn: str | None = None
    issuer_dn: str | None = None
    serial: str | None = None
    sha256: str | None = None  # hex thumbprint of SSL_CLIENT_CERT


def identity_from_environ(environ: dict, user_attribute: str = "SSL_CLIENT_S_DN_UID",
                          trusted_issuers: tuple = ()) -> Identity | None:
    """Who the web server says the client is, or None for an anonymous request.

    ``trusted_issuers`` holds normalised DNs (see ``normalise_dn``); empty means any issuer the
    server accepted. Raises Refused with the reason when an identity is present but unsafe.
    """
    if "REMOTE_USER" in environ:
        name, source = environ["REMOTE_USER"], "REMOTE_USER"
    elif user_attribute in environ:
        name, source = environ[user_attribute], user_attribute
    else:
        return None
    if not isinstance(name, str) or not name.strip():
        raise Refused(f"{source} is empty")
    name = name.strip()
    domain = environ.get("REMOTE_DOMAIN") or None
    # No user or domain name holds one, and PostgreSQL refuses it even in a lookup.
    for key, value in ((source, name), ("REMOTE_DOMAIN", domain)):
        if value is not None and "\x00" in value:
            raise Refused(f"{key} contains a NUL character")

    verify = environ.get("SSL_CLIENT_VERIFY")
    if verify is not None and verify != "SUCCESS":
        raise Refused(f"client certificate verification is {verify!r}, not 'SUCCESS'")

    issuer = environ.get("SSL_CLIENT_I_DN")
    if trusted_issuers:
        if not issuer:
            raise Refused("issuer DN (SSL_CLIENT_I_DN) missing and trusted_issuers is set")
        try:
            normalised = normalise_dn(issuer)
        except ValueError:
            raise Refused(f"issuer DN {issuer!r} cannot be parsed") from None
        if normalised not in trusted_issuers:
            raise Refused(f"issuer {issuer!r} is not in trusted_issuers")

    return Identity(
        remote_user=name,
        remote_domain=domain,
        subject_dn=environ.get("SSL_CLIENT_S_DN"),
        issuer_dn=issuer,
        serial=environ.get("SSL_CLIENT_M_SERIAL"),
        sha256=_thumbprint(environ.get("SSL_CLIENT_CERT")),
    )


def identity_headers(environ: dict) -> list[str]:
    """Names of the identity headers the client sent itself (ignored; see the module doc)."""
    return sorted(key[len("HTTP_"):].replace("_", "-") for key in environ
                  if key.startswith(_IDENTITY_HEADER_PREFIXES))


def _thumbprint(pem: str | None) -> str | None:
    if not pem:
        return None
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise Refused("SSL_CLIENT_CERT is not a PEM certificate") from None
    return certificate.fingerprint(hashes.SHA256()).hex()


class CertAuthMiddleware:
    def __init__(self, app, user_attribute: str, trusted_issuers: tuple):
        self.app = app
        self.user_attribute = user_attribute
        self.trusted_issuers = trusted_issuers

    def __call__(self, environ, start_response):
        context = get_context(environ)
        spoofed = identity_headers(environ)
        if spoofed:  # names only: the values are the client's
            LOG.warning("ignoring identity headers sent by the client (request id %s): %s; "
                        "only what the web server verified (REMOTE_USER, SSL_CLIENT_*) "
                        "identifies a client", context["request_id"], ", ".join(spoofed))
        try:
            identity = identity_from_environ(environ, self.user_attribute, self.trusted_issuers)
        except Refused as refusal:
            LOG.warning("client identity refused (request id %s): %s",
                        context["request_id"], refusal)
            raise errors.Unauthorized(f"Client certificate refused: {refusal}.") from None
        if identity is not None:
            context["remote_user"] = identity.remote_user
            context["remote_domain"] = identity.remote_domain
            context["cert"] = {"subject_dn": identity.subject_dn,
                               "issuer_dn": identity.issuer_dn,
                               "serial": identity.serial, "sha256": identity.sha256}
        return self.app(environ, start_response)


def filter_factory(global_conf, **local_conf):
    settings = services.for_paste(global_conf).settings
    trusted = []
    for dn in settings.trusted_issuers:
        try:
            trusted.append(normalise_dn(dn))
        except ValueError:
            raise ConfigError(
                f"{settings.config_file}: [cert_auth] trusted_issuers: {dn!r} is not a DN"
            ) from None
    return lambda app: CertAuthMiddleware(app, settings.user_attribute, tuple(trusted))
