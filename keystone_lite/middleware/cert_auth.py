"""cert_auth filter: turn what the web server verified into ``context['remote_user']``.

Only keys the server itself sets are read: ``REMOTE_USER`` (mod_ssl ``SSLUserName``, mod_nss
``NSSUserName``) or the configured ``SSL_CLIENT_*`` attribute, plus ``SSL_CLIENT_VERIFY``,
``SSL_CLIENT_S_DN``, ``SSL_CLIENT_I_DN``, ``SSL_CLIENT_M_SERIAL`` and ``SSL_CLIENT_CERT``. HTTP
headers reach WSGI only as ``HTTP_*`` keys, which are never looked at, so ``Remote-User:`` or
``X-SSL-Client-*`` headers cannot authenticate anyone.

An identity that is present but not trustworthy (verification not ``SUCCESS``, issuer not
trusted, a name that is empty, not UTF-8, padded with or holding a non-printing character, a
subject with two user names, an unreadable certificate) is refused with 401 and a log line
saying why: fail closed, never fall back to anonymous, never trim a name into another one.

With ``[cert_auth] crl_file`` every client certificate is also looked up in the CRLs
(``certificates/crl.py``): by the issuer and serial of ``SSL_CLIENT_CERT`` when the server
passes it, else of ``SSL_CLIENT_I_DN`` and ``SSL_CLIENT_M_SERIAL``. A revoked certificate gets
401; so does every certificate while its CRL is out of date or the file unusable (fail closed).
The web server checks CRLs too, but Apache reads its file at start and ``graceful`` only: this
check, which re-reads the file within a second of a change, covers the time in between.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import re
import unicodedata

from cryptography import x509

from keystone_lite import audit, errors, services
from keystone_lite.certificates.records import Presented
from keystone_lite.certificates import crl
from keystone_lite.context import get_context
from keystone_lite.dn import normalise_dn
from keystone_lite.escape import printable
from keystone_lite.settings import ConfigError
from keystone_lite.tls_environ import DN_TAGS, dn_string, serial_string

LOG = logging.getLogger(__name__)
# Header spellings of what only the web server may say (Remote-User, X-Remote-User,
# X-SSL-Client-S-DN-UID, SSL_CLIENT_VERIFY sent as a header, ...): WSGI turns them into HTTP_*
# keys, which are never read; a request carrying one is logged as the attempt it probably is.
_IDENTITY_HEADER_PREFIXES = ("HTTP_REMOTE_", "HTTP_X_REMOTE_", "HTTP_SSL_", "HTTP_X_SSL_")
_SUBJECT_TAGS = {f"SSL_CLIENT_S_DN_{tag}": oid for oid, tag in DN_TAGS.items()}
_HEX_SERIAL = re.compile(r"-?[0-9A-Fa-f]+")


class Refused(Exception):
    """The server-provided identity must not be trusted; the message says why."""


class Revoked(Refused):
    """The certificate is on the CRL."""


class RevocationUnknown(Refused):
    """Whether the certificate is revoked cannot be told (``reason``, for the log only: it
    names files); the message is what the client is told."""

    def __init__(self, reason: str):
        super().__init__("its revocation cannot be checked")
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Identity:
    remote_user: str
    remote_domain: str | None = None
    subject_dn: str | None = None
    issuer_dn: str | None = None
    serial: str | None = None
    sha256: str | None = None  # hex thumbprint of SSL_CLIENT_CERT
    # SSL_CLIENT_CERT, read: what tokens remember and bind to (certificates.records).
    presented: Presented | None = None


def identity_from_environ(environ: dict, user_attribute: str = "SSL_CLIENT_S_DN_UID",
                          trusted_issuers: tuple = (),
                          repeated_user_attribute: str = "refuse",
                          mapped: bool = False) -> Identity | None:
    """Who the web server says the client is, or None for an anonymous request.

    The name is used exactly as the certificate holds it: never trimmed, case-folded or
    normalised. ``trusted_issuers`` holds DN keys (see ``dn.normalise_dn``); empty means any
    issuer the server accepted. ``repeated_user_attribute`` is ``refuse`` (a subject with a
    second ``user_attribute``, ``<attribute>_1``, is refused) or ``first`` (the first one
    names the user, as mod_ssl's SSLUserName does). Raises Refused with the reason when an
    identity is present but unsafe.

    ``mapped`` (mapping rules are configured: keystone_lite.certificates.mapped_login): a
    verified certificate (``SSL_CLIENT_CERT``) without ``user_attribute`` is an identity too,
    since the rules may name its user from other fields; its subject DN (or, for an empty
    subject, its thumbprint) stands for it in ``remote_user``, for logs only. A repeated
    ``user_attribute`` is then the rules' business too.
    """
    if "REMOTE_USER" in environ:
        source = "REMOTE_USER"
    elif user_attribute in environ:
        source = user_attribute
    elif mapped and environ.get("SSL_CLIENT_CERT"):
        source = None
    else:
        return None
    name = domain = None
    if source is not None:
        name = _text(environ, source)
        if not name.strip():
            raise Refused(f"{source} is empty")
        _check_name(source, name)
        domain = _text(environ, "REMOTE_DOMAIN") or None
        if domain is not None:
            _check_name("REMOTE_DOMAIN", domain)

    verify = environ.get("SSL_CLIENT_VERIFY")
    if (verify is not None or source is None) and verify != "SUCCESS":
        raise Refused(f"client certificate verification is {verify!r}, not 'SUCCESS'")

    # mod_ssl (and the embedded server) export a subject's second UID as <attribute>_1 and
    # SSLUserName takes the first: which one is "the" user is the CA's business, not ours.
    # The certificate itself is counted too, in case the server exports no SSL_CLIENT_S_DN_*.
    # With mapping rules the attribute names nobody: a rule capturing it sees every value, and
    # refuses more than one where one is needed.
    certificate = _certificate(environ.get("SSL_CLIENT_CERT"))
    second = f"{user_attribute}_1"
    if not mapped and repeated_user_attribute == "refuse" and (
            second in environ or _count(certificate, user_attribute) > 1):
        raise Refused(f"the certificate subject names more than one user ({user_attribute}, "
                      f"{second}, ...)")

    issuer = _text(environ, "SSL_CLIENT_I_DN")
    if trusted_issuers:
        if not issuer:
            raise Refused("issuer DN (SSL_CLIENT_I_DN) missing and trusted_issuers is set")
        try:
            key = normalise_dn(issuer)
        except ValueError:
            raise Refused(f"issuer DN {issuer!r} cannot be parsed") from None
        if key not in trusted_issuers:
            raise Refused(f"issuer {issuer!r} is not in trusted_issuers")

    subject = _text(environ, "SSL_CLIENT_S_DN")
    presented = certificate and _parse(environ["SSL_CLIENT_CERT"])[1]
    sha256 = presented and presented.thumbprint
    return Identity(
        remote_user=name if name is not None else subject or f"SHA256:{sha256}",
        remote_domain=domain,
        subject_dn=subject,
        issuer_dn=issuer,
        serial=environ.get("SSL_CLIENT_M_SERIAL"),
        sha256=sha256,
        presented=presented,
    )


def _text(environ: dict, key: str) -> str | None:
    """``environ[key]`` as text: WSGI servers hand over "native strings" (PEP 3333), the
    server's bytes decoded as latin-1, so mod_ssl's UTF-8 arrives as ``zoÃ«`` and is decoded
    back here. Anything that is not UTF-8 that way is refused rather than guessed at."""
    value = environ.get(key)
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except (AttributeError, UnicodeEncodeError, UnicodeDecodeError):
        raise Refused(f"{key} {printable(repr(value))} is not UTF-8 text") from None


def _check_name(key: str, name: str) -> None:
    """Refuse what could make one name pass for another or hide in a log: surrounding white
    space (``admin `` is not ``admin``), any non-printing character (controls, NUL, format
    characters such as U+200B or U+202E, line and paragraph separators, every space but
    U+0020) and the backslash, which is how mod_ssl writes a control character (``\\0A``)."""
    if name.isprintable() and "\\" not in name and name == name.strip():
        return  # every request with a certificate passes here: keep the common case cheap
    quoted = printable(repr(name))
    if name != name.strip():
        raise Refused(f"{key} {quoted} begins or ends with white space")
    for char in name:
        if not char.isprintable():
            label = unicodedata.name(char, "NUL" if char == "\0" else "a control character")
            raise Refused(f"{key} {quoted} holds the non-printing character U+{ord(char):04X} "
                          f"({label})")
        if char == "\\":
            raise Refused(f"{key} {quoted} holds a backslash (an escaped control character)")


def identity_headers(environ: dict) -> list[str]:
    """Names of the identity headers the client sent itself (ignored; see the module doc)."""
    return sorted(key[len("HTTP_"):].replace("_", "-") for key in environ
                  if key.startswith(_IDENTITY_HEADER_PREFIXES))


def _certificate(pem: str | None) -> x509.Certificate | None:
    if not pem:
        return None
    parsed = _parse(pem)
    if parsed is None:
        raise Refused("SSL_CLIENT_CERT is not a PEM certificate")
    return parsed[0]


@functools.lru_cache(maxsize=1024)
def _parse(pem: str) -> tuple[x509.Certificate, Presented] | None:
    """The certificate and what tokens remember of it, or None for text that is not one.
    Remembered per process: a client sends the same certificate on every request, and parsing
    it (with its DER and thumbprint) costs as much as the rest of a cached validation. 1,024
    certificates hold about 4 MiB."""
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    return certificate, Presented.of(certificate)


def _count(certificate: x509.Certificate | None, user_attribute: str) -> int:
    """How many attributes the subject has of the kind SSL_CLIENT_S_DN_<tag> names (0 when
    there is no certificate or the key is not of that form)."""
    oid = _SUBJECT_TAGS.get(user_attribute)
    return len(certificate.subject.get_attributes_for_oid(oid)) if certificate and oid else 0


def check_revocation(environ: dict, identity: Identity | None,
                     revocations: crl.RevocationList) -> None:
    """Raise Refused if the request's client certificate is revoked, RevocationUnknown if that
    cannot be told. A request without a certificate passes; one with an identity but neither
    ``SSL_CLIENT_CERT`` nor ``SSL_CLIENT_M_SERIAL`` is refused (nothing to look up)."""
    certificate = _certificate(environ.get("SSL_CLIENT_CERT"))
    if certificate is not None:
        issuer, serial = certificate.issuer, certificate.serial_number
        issuer_text = dn_string(issuer)
    elif "SSL_CLIENT_M_SERIAL" in environ:
        serial_text = environ["SSL_CLIENT_M_SERIAL"]
        if not isinstance(serial_text, str) or not _HEX_SERIAL.fullmatch(serial_text):
            raise Refused(f"SSL_CLIENT_M_SERIAL {printable(repr(serial_text))} is not a serial")
        issuer = issuer_text = _text(environ, "SSL_CLIENT_I_DN")
        if not issuer:
            raise Refused("crl_file is set and the issuer DN (SSL_CLIENT_I_DN) is missing")
        serial = int(serial_text, 16)
    elif identity is not None or environ.get("SSL_CLIENT_VERIFY") == "SUCCESS":
        raise Refused("crl_file is set and the web server passes neither SSL_CLIENT_CERT nor "
                      "SSL_CLIENT_M_SERIAL (SSLOptions +StdEnvVars +ExportCertData)")
    else:
        return
    try:
        revoked = revocations.is_revoked(issuer, serial)
    except crl.CrlUnusable as unusable:
        raise RevocationUnknown(unusable.reason) from None
    if revoked:
        raise Revoked(f"certificate serial {serial_string(serial)} of issuer {issuer_text!r} "
                      "is revoked (crl_file)")


class CertAuthMiddleware:
    def __init__(self, app, user_attribute: str, trusted_issuers: tuple,
                 repeated_user_attribute: str = "refuse",
                 revocations: crl.RevocationList | None = None, mapped: bool = False,
                 auditor: audit.Auditor = audit.Auditor("none")):
        self.app = app
        self.user_attribute = user_attribute
        self.trusted_issuers = trusted_issuers
        self.repeated_user_attribute = repeated_user_attribute
        self.revocations = revocations
        self.mapped = mapped
        self.audit = auditor

    def __call__(self, environ, start_response):
        context = get_context(environ)
        spoofed = identity_headers(environ)
        if spoofed:  # names only, escaped: both names and values are the client's
            LOG.warning("ignoring identity headers sent by the client (request id %s): %s; "
                        "only what the web server verified (REMOTE_USER, SSL_CLIENT_*) "
                        "identifies a client", context["request_id"],
                        ", ".join(printable(name) for name in spoofed))
        try:
            identity = identity_from_environ(environ, self.user_attribute, self.trusted_issuers,
                                             self.repeated_user_attribute, self.mapped)
            if self.revocations is not None:
                check_revocation(environ, identity, self.revocations)
        except RevocationUnknown as unknown:
            # crl.py logs each change of the CRL's state once; this is the per-request echo.
            LOG.debug("client certificate refused (request id %s): %s", context["request_id"],
                      printable(unknown.reason, limit=1000))
            raise self.refused(environ, unknown) from None
        except Refused as refusal:
            # The reason quotes the client's text with repr(); printable() is a second guard.
            LOG.warning("client identity refused (request id %s): %s",
                        context["request_id"], printable(str(refusal), limit=1000))
            raise self.refused(environ, refusal) from None
        if identity is not None:
            context["remote_user"] = identity.remote_user
            context["remote_domain"] = identity.remote_domain
            context["cert"] = {"subject_dn": identity.subject_dn,
                               "issuer_dn": identity.issuer_dn,
                               "serial": identity.serial, "sha256": identity.sha256,
                               "presented": identity.presented}
        return self.app(environ, start_response)

    def refused(self, environ: dict, refusal: Refused) -> errors.Unauthorized:
        """The 401 of a refused certificate, audited as a failed authentication."""
        error = audit.refused(audit.REVOKED_CERTIFICATE if isinstance(refusal, Revoked)
                              else audit.CERTIFICATE_REFUSED,
                              f"Client certificate refused: {refusal}.")
        self.audit.authentication_failed(environ, error)
        return error


def filter_factory(global_conf, **local_conf):
    built = services.for_paste(global_conf)
    settings = built.settings
    trusted = []
    for dn in settings.trusted_issuers:
        try:
            trusted.append(normalise_dn(dn))
        except ValueError:
            raise ConfigError(
                f"{settings.config_file}: [cert_auth] trusted_issuers: {dn!r} is not a DN"
            ) from None
    return lambda app: CertAuthMiddleware(app, settings.user_attribute, tuple(trusted),
                                          settings.repeated_user_attribute,
                                          revocations=built.revocations,
                                          mapped=settings.maps_certificates,
                                          auditor=built.audit)
