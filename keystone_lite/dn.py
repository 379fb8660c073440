"""Distinguished names as web servers print them, reduced to a comparable form.

mod_ssl prints RFC 4514 (``CN=a,O=b``), older mod_ssl and mod_nss print OpenSSL's one-line form
(``/O=b/CN=a``), and operators type either, with their own spacing and case. cryptography's RFC
4514 parser is strict about both, hence this small reader.
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
    """A comparable form of a DN written as RFC 4514 (``CN=a,O=b``) or OpenSSL's ``/O=b/CN=a``.

    Attribute order, attribute-name spelling and case, spaces around separators, case and
    repeated spaces in values do not matter. Raises ValueError for text that is not a DN, an
    empty one included.
    """
    text = dn.strip()
    if text.startswith("/"):
        # OpenSSL's one-line form does not escape values: everything after "=" is the value.
        attributes = [_attribute(*_split_ava(part)) for part in text[1:].split("/")]
    else:
        attributes = [_attribute(key, _unescape(value))
                      for rdn in _split_unescaped(text, ",;")
                      for key, value in (_split_ava(ava) for ava in _split_unescaped(rdn, "+"))]
    return tuple(sorted((attribute.oid.dotted_string,
                         " ".join(str(attribute.value).split()).casefold())
                        for attribute in attributes))


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


def _split_ava(ava: str) -> tuple[str, str]:
    key, equals, value = ava.partition("=")
    if not equals:
        raise ValueError(f"{ava!r} is not attribute=value")
    return key, value


def _unescape(value: str) -> str:
    """RFC 4514 value text to the value: ``\\,`` and ``\\2C`` style escapes (UTF-8 bytes)."""
    raw, index = bytearray(), 0
    while index < len(value):
        char = value[index]
        if char != "\\":
            raw += char.encode("utf-8")
            index += 1
        elif re.fullmatch(r"[0-9a-fA-F]{2}", value[index + 1:index + 3]):
            raw.append(int(value[index + 1:index + 3], 16))
            index += 3
        elif index + 1 < len(value):
            raw += value[index + 1].encode("utf-8")
            index += 2
        else:
            raise ValueError(f"{value!r} ends with a lone backslash")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{value!r} escapes bytes that are not UTF-8") from None


def _attribute(key: str, value: str) -> x509.NameAttribute:
    key = key.strip()
    oid = _ATTRIBUTE_NAMES.get(key.casefold())
    if oid is None:
        if not _DOTTED_OID.fullmatch(key):
            raise ValueError(f"{key!r} is not a known DN attribute")
        oid = x509.ObjectIdentifier(key)
    value = value.strip()
    if not value:
        raise ValueError(f"{key!r} has an empty value")
    return x509.NameAttribute(oid, value)  # raises ValueError for e.g. a 3-letter country
