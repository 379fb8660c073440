"""Distinguished names as web servers print them and operators type them, compared exactly.

mod_ssl and the embedded server print RFC 4514 (``CN=a,O=b``, UTF-8 unescaped), older mod_ssl
and mod_nss print OpenSSL's one-line form (``/O=b/CN=a``). Both are read into the name's RDNs
in certificate order; values are parsed by cryptography's RFC 4514 parser and then compared
exactly. What is *not* significant: the spelling of attribute types (case-insensitive, with
their aliases and dotted OIDs), unescaped spaces around ``,`` ``+`` ``=`` (RFC 2253 §4, as
``openssl x509 -subject`` prints), the order of attributes inside one multi-valued RDN, and
how a character is escaped. Everything else is: value case, every space, RDN order and grouping.
"""
from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID

# Attribute names as mod_ssl, mod_nss, OpenSSL's one-line format and RFC 4514 spell them, keyed
# case-insensitively (RFC 4514 attribute types are case-insensitive).
_ATTRIBUTE_NAMES = {name.casefold(): oid for name, oid in {
    "CN": NameOID.COMMON_NAME, "C": NameOID.COUNTRY_NAME, "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME, "S": NameOID.STATE_OR_PROVINCE_NAME,
    "O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "STREET": NameOID.STREET_ADDRESS, "DC": NameOID.DOMAIN_COMPONENT,
    "UID": NameOID.USER_ID, "userId": NameOID.USER_ID,
    "emailAddress": NameOID.EMAIL_ADDRESS, "E": NameOID.EMAIL_ADDRESS,
    "EMAIL": NameOID.EMAIL_ADDRESS, "serialNumber": NameOID.SERIAL_NUMBER,
    "SN": NameOID.SURNAME, "GN": NameOID.GIVEN_NAME, "givenName": NameOID.GIVEN_NAME,
    "title": NameOID.TITLE, "initials": NameOID.INITIALS, "pseudonym": NameOID.PSEUDONYM,
    "dnQualifier": NameOID.DN_QUALIFIER, "postalCode": NameOID.POSTAL_CODE,
    "businessCategory": NameOID.BUSINESS_CATEGORY,
}.items()}
_DOTTED_OID = re.compile(r"[0-9]+(\.[0-9]+)+")


def normalise_dn(dn: str) -> tuple:
    """The comparison key of a DN written as RFC 4514 (``CN=a,O=b``) or OpenSSL's ``/O=b/CN=a``:
    its RDNs in certificate order, each a frozenset of (dotted OID, exact value).

    Raises ValueError for text that is not a DN, an empty one or an empty value included.
    """
    text = dn.strip()
    if text.startswith("/"):
        # OpenSSL's one-line form: root first, one attribute per part, values not escaped
        # (everything after "=" is the value, exactly).
        rdns = [x509.RelativeDistinguishedName([_attribute(*_split_ava(part))])
                for part in text[1:].split("/")]
    else:
        rdns = _rfc4514(text).rdns
    return tuple(frozenset((attribute.oid.dotted_string, attribute.value) for attribute in rdn)
                 for rdn in rdns)


def _rfc4514(text: str) -> x509.Name:
    """Attribute types become dotted OIDs and unescaped spaces around separators go; the rest,
    values and their escapes, is left to cryptography's strict parser."""
    rdns = []
    for rdn in _split_unescaped(text, ",;"):
        avas = []
        for ava in _split_unescaped(rdn, "+"):
            key, value = _split_ava(ava)
            value = _strip_unescaped(value)
            if not value:
                raise ValueError(f"{key.strip()!r} has an empty value")
            if value.startswith("#"):
                raise ValueError(f"{key.strip()!r}: hex-encoded (#) values are not supported")
            avas.append(f"{_oid(key).dotted_string}={value}")
        rdns.append("+".join(avas))
    return x509.Name.from_rfc4514_string(",".join(rdns))


def _split_unescaped(text: str, separators: str) -> list[str]:
    """Split at separators not preceded by a backslash escape; escapes are kept."""
    parts, current, index = [], [], 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            current.append(text[index:index + 2])
            index += 2
            continue
        if char in separators:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def _strip_unescaped(value: str) -> str:
    """``value`` without the spaces around it that are not escaped (``a\\ `` keeps its space)."""
    value = value.lstrip(" ")
    while value.endswith(" ") and (len(value) - len(value[:-1].rstrip("\\")) - 1) % 2 == 0:
        value = value[:-1]
    return value


def _split_ava(ava: str) -> tuple[str, str]:
    key, equals, value = ava.partition("=")
    if not equals:
        raise ValueError(f"{ava!r} is not attribute=value")
    return key, value


def _oid(key: str) -> x509.ObjectIdentifier:
    key = key.strip()
    oid = _ATTRIBUTE_NAMES.get(key.casefold())
    if oid is None:
        if not _DOTTED_OID.fullmatch(key):
            raise ValueError(f"{key!r} is not a known DN attribute")
        oid = x509.ObjectIdentifier(key)
    return oid


def _attribute(key: str, value: str) -> x509.NameAttribute:
    if not value:
        raise ValueError(f"{key.strip()!r} has an empty value")
    return x509.NameAttribute(_oid(key), value)  # raises ValueError for e.g. a 3-letter country
