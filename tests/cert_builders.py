"""Client certificates for the mapping tests, made with cryptography's builders, and the environ
the web server gives the app for them (keystone_lite.tls_environ, as mod_ssl spells it)."""
from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from keystone_lite import tls_environ
from keystone_lite.certificates.assertion import UPN_OID

_CA_KEY = ec.generate_private_key(ec.SECP256R1())  # one per test run: signatures are not checked
_ATTRIBUTES = {"C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME,
               "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "UID": NameOID.USER_ID,
               "CN": NameOID.COMMON_NAME, "emailAddress": NameOID.EMAIL_ADDRESS,
               "serialNumber": NameOID.SERIAL_NUMBER, "DC": NameOID.DOMAIN_COMPONENT}


def name(*pairs: tuple[str, str]) -> x509.Name:
    """``name(("O", "Example"), ("CN", "alice"))``: a DN in certificate order."""
    return x509.Name([x509.NameAttribute(_ATTRIBUTES[key], value) for key, value in pairs])


def certificate(subject: x509.Name, *, issuer: x509.Name | None = None, emails=(), dns=(),
                uris=(), upns=(), serial: int = 0x1F4) -> x509.Certificate:
    """A client certificate of ``subject`` (issuer ``CN=Corp CA,O=Example`` by default) with
    these subject alternative names."""
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = issuer or name(("O", "Example"), ("CN", "Corp CA"))
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(serial)
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=30)))
    alternative = [*map(x509.RFC822Name, emails), *map(x509.DNSName, dns),
                   *map(x509.UniformResourceIdentifier, uris),
                   *(x509.OtherName(UPN_OID, utf8_string(upn)) for upn in upns)]
    if alternative:
        builder = builder.add_extension(x509.SubjectAlternativeName(alternative),
                                        critical=False)
    return builder.sign(_CA_KEY, hashes.SHA256())


def utf8_string(text: str) -> bytes:
    """``text`` as a DER UTF8String (a UPN otherName's value)."""
    data = text.encode("utf-8")
    length = bytes([len(data)]) if len(data) < 128 else bytes(
        [0x80 | 2]) + len(data).to_bytes(2, "big")
    return b"\x0c" + length + data


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def environ(cert: x509.Certificate, user_attribute: str = "SSL_CLIENT_S_DN_UID") -> dict:
    """What the web server sets for a client that presented ``cert`` (REMOTE_USER when the
    subject has ``user_attribute``), as PEP 3333 native strings."""
    keys = tls_environ.client_environ(cert.public_bytes(serialization.Encoding.DER),
                                      user_attribute)
    return {key: tls_environ.native_string(value) for key, value in keys.items()}
