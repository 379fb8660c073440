"""A client certificate's fields as mapping rules see them: an *assertion*, ``{key: text}``.

Keys (an attribute or name that occurs more than once gives one key whose values are joined
with ``;``, which the rule engine splits again, as Keystone's federation does with multi-valued
assertions):

- ``SSL_CLIENT_SUBJECT_DN_<ATTR>``, ``SSL_CLIENT_ISSUER_DN_<ATTR>``: each attribute of the
  subject and issuer DN, named as Keystone's OAuth2 mTLS grant names them
  (keystone/api/os_oauth2.py over keystone.common.utils.get_certificate_subject_dn): the
  RFC 4514 name upper-cased (``CN``, ``O``, ``OU``, ``C``, ``L``, ``ST``, ``STREET``, ``DC``,
  ``UID``), ``EMAILADDRESS`` for emailAddress, the dotted OID for any other
  (``SSL_CLIENT_SUBJECT_DN_2.5.4.5`` is serialNumber). Two differences from Keystone, both
  deliberate: values are the attribute's own text (Keystone passes the RFC 4514-escaped form,
  ``Smith\\, J``, and fails on a value holding ``=``), and a repeated attribute keeps all its
  values (Keystone keeps the last one only).
- ``SSL_CLIENT_S_DN``, ``SSL_CLIENT_I_DN``: the whole subject and issuer DN, as mod_ssl
  prints them (keystone_lite.tls_environ.dn_string).
- ``SSL_CLIENT_SAN_EMAIL``, ``SSL_CLIENT_SAN_DNS``, ``SSL_CLIENT_SAN_URI``,
  ``SSL_CLIENT_SAN_UPN``: the subject alternative names of each kind (UPN: Microsoft's
  userPrincipalName otherName, 1.3.6.1.4.1.311.20.2.3).
- ``SSL_CLIENT_M_SERIAL``: the serial number in upper-case hex, as mod_ssl prints it.
- ``SSL_CLIENT_CERT_SHA256``: the SHA-256 thumbprint of the DER, lower-case hex, no colons
  (``openssl x509 -noout -fingerprint -sha256`` without the colons).

A key one of whose values holds ``;`` (it would read as two values) or a non-printing character
is left out altogether (``read_certificate`` says which and why). A missing key never lets a rule
match (see keystone_lite.certificates.mapping), so such a certificate can only match fewer rules,
never more; dropping the one odd value instead could let a ``not_any_of`` pass.
"""
from __future__ import annotations

import dataclasses

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from keystone_lite.tls_environ import dn_string, serial_string

SUBJECT_PREFIX = "SSL_CLIENT_SUBJECT_DN_"
ISSUER_PREFIX = "SSL_CLIENT_ISSUER_DN_"
SUBJECT_DN = "SSL_CLIENT_S_DN"
ISSUER_DN = "SSL_CLIENT_I_DN"
SAN_EMAIL = "SSL_CLIENT_SAN_EMAIL"
SAN_DNS = "SSL_CLIENT_SAN_DNS"
SAN_URI = "SSL_CLIENT_SAN_URI"
SAN_UPN = "SSL_CLIENT_SAN_UPN"
SERIAL = "SSL_CLIENT_M_SERIAL"
THUMBPRINT = "SSL_CLIENT_CERT_SHA256"
SEPARATOR = ";"  # between the values of one key (Keystone's rule processor splits on it)

UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
# keystone.common.utils.ATTR_NAME_OVERRIDES: names RFC 4514 has none for.
_KEYSTONE_NAMES = {NameOID.EMAIL_ADDRESS: "emailAddress"}
_SAN_KINDS = ((SAN_EMAIL, x509.RFC822Name), (SAN_DNS, x509.DNSName),
              (SAN_URI, x509.UniformResourceIdentifier))


@dataclasses.dataclass(frozen=True)
class Reading:
    """What ``read_certificate`` found: the assertion, and the keys it left out with why."""

    assertion: dict[str, str]
    left_out: dict[str, str]


def assertion_from_certificate(certificate: x509.Certificate) -> dict[str, str]:
    """The certificate's assertion (see the module docstring for its keys)."""
    return read_certificate(certificate).assertion


def read_certificate(certificate: x509.Certificate) -> Reading:
    """The certificate's assertion, and the keys left out of it with the reason."""
    found: dict[str, list[str]] = {}

    def add(key: str, value: str) -> None:
        if value:  # an empty value says nothing (Keystone: an absent attribute)
            found.setdefault(key, []).append(value)

    for prefix, name in ((SUBJECT_PREFIX, certificate.subject),
                         (ISSUER_PREFIX, certificate.issuer)):
        for attribute in name:
            add(prefix + keystone_attribute_name(attribute), _attribute_text(attribute))
    add(SUBJECT_DN, dn_string(certificate.subject))
    add(ISSUER_DN, dn_string(certificate.issuer))
    left_out: dict[str, str] = {}
    try:
        for key, value in _alternative_names(certificate):
            add(key, value)
    except ValueError as error:  # cryptography parses extensions when first asked
        left_out["SSL_CLIENT_SAN_*"] = f"the subject alternative names cannot be read: {error}"
    add(SERIAL, serial_string(certificate.serial_number))
    add(THUMBPRINT, certificate.fingerprint(hashes.SHA256()).hex())

    assertion = {}
    for key, values in found.items():
        odd = next((value for value in values if SEPARATOR in value
                    or not value.isprintable()), None)
        if odd is None:
            assertion[key] = SEPARATOR.join(values)
        else:
            left_out[key] = (f"a value holds {SEPARATOR!r}, which would read as two values"
                             if SEPARATOR in odd else "a value holds a non-printing character")
    return Reading(assertion, left_out)


def keystone_attribute_name(attribute: x509.NameAttribute) -> str:
    """The ``<ATTR>`` of ``SSL_CLIENT_SUBJECT_DN_<ATTR>``, as Keystone derives it."""
    return _KEYSTONE_NAMES.get(attribute.oid, attribute.rfc4514_attribute_name).upper()


def _attribute_text(attribute: x509.NameAttribute) -> str:
    value = attribute.value
    return value if isinstance(value, str) else value.hex()  # a BIT STRING (uniqueIdentifier)


def _alternative_names(certificate: x509.Certificate):
    try:
        names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return
    for key, kind in _SAN_KINDS:
        for value in names.get_values_for_type(kind):
            yield key, value
    for other in names.get_values_for_type(x509.OtherName):
        if other.type_id == UPN_OID:
            upn = _der_utf8_string(other.value)
            if upn is None:
                raise ValueError("a userPrincipalName is not a DER UTF8String")
            yield SAN_UPN, upn


def _der_utf8_string(der: bytes) -> str | None:
    """The text of a DER-encoded UTF8String (tag 12), None for anything else.

    cryptography hands an otherName's value over still encoded; a UPN is one UTF8String.
    """
    if len(der) < 2 or der[0] != 0x0C:
        return None
    length, offset = der[1], 2
    if length & 0x80:
        size = length & 0x7F
        if not 1 <= size <= 4 or len(der) < 2 + size:
            return None
        length, offset = int.from_bytes(der[2:2 + size], "big"), 2 + size
    if offset + length != len(der):
        return None
    try:
        return der[offset:].decode("utf-8")
    except UnicodeDecodeError:
        return None
