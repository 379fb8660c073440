"""One way to name a certificate, and the renderings others expect.

keystone_lite names a certificate by the SHA-256 of its DER encoding in lowercase hex, as
``openssl x509 -noout -fingerprint -sha256`` prints it (without the colons). That is the only
form it accepts as input (``parse``). The base64url forms below are renderings for token bodies:
Keystone's ``oauth2_credential`` binding and RFC 8705's ``cnf``.
"""
from __future__ import annotations

import base64
import hashlib
import re
import ssl

_HEX = re.compile(r"[0-9a-f]{64}")


def of_der(der: bytes) -> str:
    """The thumbprint of a DER-encoded certificate."""
    return hashlib.sha256(der).hexdigest()


def parse(text: str) -> str:
    """A thumbprint as an operator types it: 64 hex digits, any case, colons optional (as
    openssl prints it, with or without ``sha256 Fingerprint=``). Raises ValueError."""
    value = text.strip()
    if "=" in value:  # "sha256 Fingerprint=AB:CD:..." pasted whole
        label, _, value = value.partition("=")
        if label.strip().lower() not in ("sha256 fingerprint", "sha2-256 fingerprint"):
            raise ValueError("a thumbprint is the SHA-256 fingerprint of the certificate")
    value = value.replace(":", "").lower()
    if not _HEX.fullmatch(value):
        raise ValueError("a thumbprint is 64 hexadecimal digits (the SHA-256 of the DER "
                         "certificate, as openssl x509 -noout -fingerprint -sha256 prints it)")
    return value


def keystone_x5t(der: bytes) -> str:
    """Keystone's ``oauth2_credential`` ``x5t#S256``: SHA-256 of the certificate's PEM text,
    base64url with padding (keystone.common.utils.get_certificate_thumbprint). The PEM is the
    one every server writes (64-character lines, trailing newline): keystonemiddleware's
    ``oauth2_mtls_token`` computes it from the DER the socket gives in the same way."""
    pem = ssl.DER_cert_to_PEM_cert(der).encode("ascii")
    return base64.urlsafe_b64encode(hashlib.sha256(pem).digest()).decode("ascii")


def rfc8705_x5t(thumbprint: str) -> str:
    """RFC 8705's ``cnf`` ``x5t#S256``: base64url without padding of SHA-256(DER)."""
    return base64.urlsafe_b64encode(bytes.fromhex(thumbprint)).rstrip(b"=").decode("ascii")
