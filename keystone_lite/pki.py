"""Development PKI: a local CA, a server certificate and client certificates for certificate login.

Enough for a laptop or a small installation to run keystone_lite the way it runs in production
(TLS with client certificates) without a real CA. Everything is made with ``cryptography``; keys
are ECDSA P-256. A client certificate's subject is ``CN=<user>,UID=<user>,O=keystone_lite dev``,
so mod_ssl's ``SSLUserName SSL_CLIENT_S_DN_UID`` (and the embedded server) name the user.

Layout of the directory (mode 0700, every file 0600)::

    ca.crt ca.key                 the CA; never overwritten once created
    server.crt server.key         the server certificate (localhost, 127.0.0.1, ::1 + names)
    clients/<user>.crt .key       a client certificate and its key
    clients/<user>.pem            certificate + key in one file, for ``curl --cert``
    clients/<user>.p12            PKCS#12 (with the CA), for browsers
"""
from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
import re
import tempfile

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keystone_lite.private_files import make_private_dir

ORGANIZATION = "keystone_lite dev"
CA_NAME = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                     x509.NameAttribute(NameOID.COMMON_NAME, "keystone_lite dev CA")])
DEFAULT_SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
CA_DAYS = 3650
LEAF_DAYS = 825
# User names become file names: keep them to what is safe in a path and a shell command.
_USER_NAME = re.compile(r"[A-Za-z0-9_@][A-Za-z0-9_.@-]{0,63}")


class PKIError(Exception):
    """The PKI directory or a request for a certificate is unusable; the message says why."""


@dataclasses.dataclass(frozen=True)
class Issued:
    """Paths of one certificate's files; ``created`` is False when existing files were kept."""

    certificate: str
    key: str
    created: bool
    combined: str | None = None
    pkcs12: str | None = None


def default_directory(data_dir: str) -> str:
    """Where the CLI and the embedded server keep the PKI unless told otherwise."""
    return os.path.join(data_dir, "pki")


def ensure_ca(directory: str) -> Issued:
    """Create the CA in ``directory`` unless one is there; an existing CA is never replaced."""
    _private_directory(directory)
    certificate_path, key_path = _paths(directory, "ca")
    if os.path.exists(certificate_path) or os.path.exists(key_path):
        load_ca(directory)
        return Issued(certificate_path, key_path, created=False)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        _builder(CA_NAME, CA_NAME, key.public_key(), CA_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256()))
    _write(key_path, _key_pem(key))
    _write(certificate_path, certificate.public_bytes(serialization.Encoding.PEM))
    return Issued(certificate_path, key_path, created=True)


def load_ca(directory: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The CA certificate and key; raises PKIError when missing, unreadable or mismatched."""
    certificate_path, key_path = _paths(directory, "ca")
    try:
        with open(certificate_path, "rb") as handle:
            certificate = x509.load_pem_x509_certificate(handle.read())
        with open(key_path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
    except FileNotFoundError as exc:
        raise PKIError(f"{exc.filename}: missing; run keystone-lite-manage pki setup") from None
    except (OSError, ValueError, TypeError) as exc:
        raise PKIError(f"{directory}: cannot read the CA: {exc}") from None
    if key.public_key() != certificate.public_key():
        raise PKIError(f"{key_path} is not the key of {certificate_path}")
    return certificate, key


def ensure_server_certificate(directory: str, names=()) -> Issued:
    """Issue the server certificate unless the existing one is from this CA and covers ``names``.

    ``names`` are DNS names or IP addresses, added to localhost, 127.0.0.1 and ::1.
    """
    ca_certificate, ca_key = load_ca(directory)
    wanted = _general_names([*DEFAULT_SERVER_NAMES, *names])
    certificate_path, key_path = _paths(directory, "server")
    existing = _existing_certificate(certificate_path, key_path, ca_certificate)
    if existing is not None and set(wanted) <= set(_subject_alternative_names(existing)):
        return Issued(certificate_path, key_path, created=False)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                         x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    certificate = (
        _leaf_builder(subject, key, ca_certificate, ExtendedKeyUsageOID.SERVER_AUTH)
        .add_extension(x509.SubjectAlternativeName(wanted), critical=False)
        .sign(ca_key, hashes.SHA256()))
    _write(key_path, _key_pem(key))
    _write(certificate_path, certificate.public_bytes(serialization.Encoding.PEM))
    return Issued(certificate_path, key_path, created=True)


def issue_client_certificate(directory: str, user: str, p12_password: str | None = None,
                             keep_existing: bool = False, uids: tuple[str, ...] | None = None
                             ) -> Issued:
    """Issue a client certificate for ``user`` (replacing an older one unless ``keep_existing``).

    Writes the certificate, its key, both in one PEM and a PKCS#12 bundle with the CA (encrypted
    with ``p12_password`` when given). ``uids`` are the subject's UID values in order (default:
    ``user``); any text goes, so that odd certificates (a UID with a trailing space, two UIDs)
    can be made to see what the web server and cert_auth do with them; ``user`` only names the
    files. Raises PKIError for a name unfit for a file name or an empty UID.
    """
    if not _USER_NAME.fullmatch(user):
        raise PKIError(f"user name {user!r} cannot be used for a certificate file; use letters, "
                       "digits and . _ @ - (64 at most)")
    uids = (user,) if uids is None else tuple(uids)
    if not uids or not all(uids):
        raise PKIError(f"UIDs {uids!r}: a certificate needs at least one, none empty")
    ca_certificate, ca_key = load_ca(directory)
    clients = os.path.join(directory, "clients")
    _private_directory(clients)
    certificate_path, key_path = _paths(clients, user)
    combined_path = os.path.join(clients, f"{user}.pem")
    pkcs12_path = os.path.join(clients, f"{user}.p12")
    if keep_existing and all(map(os.path.exists, (combined_path, pkcs12_path))) and (
            _existing_certificate(certificate_path, key_path, ca_certificate) is not None):
        return Issued(certificate_path, key_path, False, combined_path, pkcs12_path)

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                         *(x509.NameAttribute(NameOID.USER_ID, uid) for uid in uids),
                         x509.NameAttribute(NameOID.COMMON_NAME, user)])
    certificate = _leaf_builder(subject, key, ca_certificate,
                                ExtendedKeyUsageOID.CLIENT_AUTH).sign(ca_key, hashes.SHA256())
    certificate_pem = certificate.public_bytes(serialization.Encoding.PEM)
    encryption = (serialization.BestAvailableEncryption(p12_password.encode("utf-8"))
                  if p12_password else serialization.NoEncryption())
    _write(key_path, _key_pem(key))
    _write(certificate_path, certificate_pem)
    _write(combined_path, certificate_pem + _key_pem(key))
    _write(pkcs12_path, pkcs12.serialize_key_and_certificates(
        user.encode("utf-8"), key, certificate, [ca_certificate], encryption))
    return Issued(certificate_path, key_path, True, combined_path, pkcs12_path)


# -- helpers -------------------------------------------------------------------------------------

def _paths(directory: str, stem: str) -> tuple[str, str]:
    return os.path.join(directory, f"{stem}.crt"), os.path.join(directory, f"{stem}.key")


def _private_directory(path: str) -> None:
    make_private_dir(path)
    os.chmod(path, 0o700)


def _write(path: str, data: bytes) -> None:
    """Replace ``path`` atomically with a 0600 file: no reader sees half a key."""
    descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _key_usage(**enabled) -> x509.KeyUsage:
    flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment",
                           "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                           "encipher_only", "decipher_only"), False)
    return x509.KeyUsage(**{**flags, **enabled})


def _builder(subject, issuer, public_key, days) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days)))


def _leaf_builder(subject, key, ca_certificate, usage) -> x509.CertificateBuilder:
    ca_key_id = ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return (
        _builder(subject, ca_certificate.subject, key.public_key(), LEAF_DAYS)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            ca_key_id.value), critical=False))


def _general_names(names) -> list[x509.GeneralName]:
    result = []
    for name in dict.fromkeys(names):
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def _subject_alternative_names(certificate) -> list[x509.GeneralName]:
    try:
        return list(certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


def _existing_certificate(certificate_path, key_path, ca_certificate):
    """The certificate at ``certificate_path`` if it, its key and its issuer are all usable."""
    try:
        with open(certificate_path, "rb") as handle:
            certificate = x509.load_pem_x509_certificate(handle.read())
        with open(key_path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
        certificate.verify_directly_issued_by(ca_certificate)
    except (OSError, ValueError, TypeError, InvalidSignature):
        return None
    if key.public_key() != certificate.public_key():
        return None
    if certificate.not_valid_after_utc <= datetime.datetime.now(datetime.timezone.utc):
        return None
    return certificate
