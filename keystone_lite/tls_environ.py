"""The WSGI environ keys Apache mod_ssl sets, computed from a verified TLS peer certificate.

The embedded server must hand the application what Apache gives it with ``SSLOptions +StdEnvVars
+ExportCertData`` and ``SSLUserName``, so ``cert_auth`` cannot tell the two apart. The spellings
follow httpd 2.4's ``ssl_engine_vars.c``: DNs in OpenSSL's RFC 2253 form without escaping UTF-8,
``_DN_<tag>`` for the first attribute of a kind and ``_DN_<tag>_<n>`` for the next ones, serials
in upper-case hex, times as ``ASN1_TIME_print`` writes them.
"""
from __future__ import annotations

import datetime
import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

# OpenSSL's short names where cryptography's RFC 4514 output would print a dotted OID.
_OPENSSL_NAMES = {
    NameOID.EMAIL_ADDRESS: "emailAddress", NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.SURNAME: "SN", NameOID.GIVEN_NAME: "GN", NameOID.TITLE: "title",
    NameOID.INITIALS: "initials", NameOID.STREET_ADDRESS: "street",
    NameOID.POSTAL_CODE: "postalCode", NameOID.PSEUDONYM: "pseudonym",
    NameOID.DN_QUALIFIER: "dnQualifier", NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
}

# mod_ssl's ssl_var_lookup_ssl_cert_dn_rec: the attributes exported as SSL_*_DN_<tag>.
DN_TAGS = {
    NameOID.COUNTRY_NAME: "C", NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L", NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.COMMON_NAME: "CN", NameOID.TITLE: "T",
    NameOID.INITIALS: "I", NameOID.GIVEN_NAME: "G", NameOID.SURNAME: "S",
    x509.ObjectIdentifier("2.5.4.13"): "D", NameOID.USER_ID: "UID",
    NameOID.EMAIL_ADDRESS: "Email",
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

#: Keys only the TLS layer may set; anything else claiming them is dropped (see ``replace``).
SERVER_SET_KEYS = ("HTTPS", "REMOTE_USER", "REMOTE_DOMAIN", "AUTH_TYPE")
SERVER_SET_PREFIX = "SSL_"


def dn_string(name: x509.Name) -> str:
    """``name`` as mod_ssl prints SSL_CLIENT_S_DN (``CN=alice,UID=alice,O=example``)."""
    return name.rfc4514_string(_OPENSSL_NAMES)


def serial_string(serial: int) -> str:
    """The serial as mod_ssl prints it: upper-case hex, whole bytes (``0A``, ``01F4``)."""
    digits = format(abs(serial), "X")
    digits = digits.zfill(len(digits) + len(digits) % 2)
    return "-" + digits if serial < 0 else digits


def time_string(moment: datetime.datetime) -> str:
    """``Nov  5 09:03:00 2025 GMT``, as OpenSSL's ASN1_TIME_print writes it."""
    return f"{moment:%b} {moment.day:2d} {moment:%H:%M:%S %Y} GMT"


def certificate_environ(prefix: str, certificate: x509.Certificate,
                        now: datetime.datetime | None = None) -> dict[str, str]:
    """The ``<prefix>_*`` keys of one certificate: M_*, V_*, S_DN*, I_DN*, SAN_* and CERT."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    remaining = (certificate.not_valid_after_utc - now).days
    environ = {
        f"{prefix}_M_VERSION": str(certificate.version.value + 1),
        f"{prefix}_M_SERIAL": serial_string(certificate.serial_number),
        f"{prefix}_V_START": time_string(certificate.not_valid_before_utc),
        f"{prefix}_V_END": time_string(certificate.not_valid_after_utc),
        f"{prefix}_V_REMAIN": str(max(remaining, 0)),
        f"{prefix}_S_DN": dn_string(certificate.subject),
        f"{prefix}_I_DN": dn_string(certificate.issuer),
        f"{prefix}_CERT": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }
    environ.update(_dn_parts(f"{prefix}_S_DN_", certificate.subject))
    environ.update(_dn_parts(f"{prefix}_I_DN_", certificate.issuer))
    environ.update(_san_parts(f"{prefix}_SAN_", certificate))
    return environ


def client_environ(der: bytes | None, user_attribute: str) -> dict[str, str]:
    """Keys for a connection whose peer sent ``der`` (already verified) or no certificate.

    ``REMOTE_USER`` is the value of ``user_attribute`` (mod_ssl's ``SSLUserName``) when the
    certificate has it; an absent or empty attribute sets no user, as in Apache.
    """
    if der is None:
        return {"SSL_CLIENT_VERIFY": "NONE"}
    environ = certificate_environ("SSL_CLIENT", x509.load_der_x509_certificate(der))
    environ["SSL_CLIENT_VERIFY"] = "SUCCESS"
    if environ.get(user_attribute):
        environ["REMOTE_USER"] = environ[user_attribute]
    return environ


def is_server_set(key: str) -> bool:
    return key in SERVER_SET_KEYS or key.startswith(SERVER_SET_PREFIX)


def replace(environ: dict, tls: dict) -> None:
    """Drop every server-set key of ``environ``, then add ``tls``: only TLS can name a user.

    The values go in as PEP 3333 "native strings", the UTF-8 bytes decoded as latin-1, which is
    what mod_wsgi hands over for mod_ssl's keys: a UID ``zoë`` arrives as ``zoÃ«`` from both
    servers, and cert_auth decodes both the same way.
    """
    for key in [key for key in environ if is_server_set(key)]:
        del environ[key]
    environ.update({key: native_string(value) for key, value in tls.items()})


def native_string(text: str) -> str:
    """``text`` as a WSGI server carries it: its UTF-8 bytes, one character per byte."""
    return text.encode("utf-8").decode("latin-1")


def _value(attribute: x509.NameAttribute) -> str:
    value = attribute.value if isinstance(attribute.value, str) else attribute.value.hex()
    return _CONTROL.sub(lambda match: f"\\{ord(match.group()):02X}", value)


def _dn_parts(prefix: str, name: x509.Name) -> dict[str, str]:
    parts, seen = {}, {}
    for attribute in name:
        tag = DN_TAGS.get(attribute.oid)
        if tag is None:
            continue
        count = seen.get(tag, 0)
        seen[tag] = count + 1
        parts[f"{prefix}{tag}" + (f"_{count}" if count else "")] = _value(attribute)
    return parts


def _san_parts(prefix: str, certificate: x509.Certificate) -> dict[str, str]:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return {}
    parts = {}
    for kind, tag in ((x509.RFC822Name, "Email"), (x509.DNSName, "DNS")):
        for index, value in enumerate(names.get_values_for_type(kind)):
            parts[f"{prefix}{tag}_{index}"] = value
    return parts
