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
    revoked.json                  serials revoked with ``pki revoke`` (the CA's register)
    crl.pem                       the CRL ``pki crl`` writes by default (mode 0644: it is public)

Client certificates may carry subject alternative names (e-mail, DNS, URI and a Microsoft UPN
``otherName``), as enterprise CAs issue them, for mapping rules to match on.
"""
from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import json
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
CRL_DAYS = 30
REVOKED_FILE = "revoked.json"
CRL_FILE = "crl.pem"
#: Microsoft's user principal name, an otherName SAN (``SSL_CLIENT_SAN_OTHER_msUPN_0``).
UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
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


@dataclasses.dataclass(frozen=True)
class AlternativeNames:
    """Subject alternative names of a client certificate; each a tuple of text values."""

    emails: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    upns: tuple[str, ...] = ()

    def general_names(self) -> list[x509.GeneralName]:
        """The names as X.509 GeneralNames; raises PKIError for one that cannot be encoded."""
        try:
            return [*map(x509.RFC822Name, self.emails), *map(x509.DNSName, self.dns_names),
                    *map(x509.UniformResourceIdentifier, self.uris),
                    *(x509.OtherName(UPN_OID, _der_utf8_string(upn)) for upn in self.upns)]
        except (ValueError, TypeError) as exc:
            raise PKIError(f"subject alternative name: {exc}") from None


def issue_client_certificate(directory: str, user: str, p12_password: str | None = None,
                             keep_existing: bool = False, uids: tuple[str, ...] | None = None,
                             alternative_names: AlternativeNames = AlternativeNames()
                             ) -> Issued:
    """Issue a client certificate for ``user`` (replacing an older one unless ``keep_existing``).

    Writes the certificate, its key, both in one PEM and a PKCS#12 bundle with the CA (encrypted
    with ``p12_password`` when given). ``uids`` are the subject's UID values in order (default:
    ``user``); any text goes, so that odd certificates (a UID with a trailing space, two UIDs)
    can be made to see what the web server and cert_auth do with them; ``user`` only names the
    files. ``alternative_names`` go into a SubjectAlternativeName extension (none: no
    extension). Raises PKIError for a name unfit for a file name, an empty UID or a bad SAN.
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
    builder = _leaf_builder(subject, key, ca_certificate, ExtendedKeyUsageOID.CLIENT_AUTH)
    general_names = alternative_names.general_names()
    if general_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names),
                                        critical=False)
    certificate = builder.sign(ca_key, hashes.SHA256())
    certificate_pem = certificate.public_bytes(serialization.Encoding.PEM)
    encryption = (serialization.BestAvailableEncryption(p12_password.encode("utf-8"))
                  if p12_password else serialization.NoEncryption())
    _write(key_path, _key_pem(key))
    _write(certificate_path, certificate_pem)
    _write(combined_path, certificate_pem + _key_pem(key))
    _write(pkcs12_path, pkcs12.serialize_key_and_certificates(
        user.encode("utf-8"), key, certificate, [ca_certificate], encryption))
    return Issued(certificate_path, key_path, True, combined_path, pkcs12_path)


# -- revocation --------------------------------------------------------------------------------

def revoke_client_certificate(directory: str, user: str) -> tuple[int, bool]:
    """Record the serial of ``user``'s current certificate as revoked in the CA's register.

    Returns ``(serial, newly)``; ``newly`` is False when it was revoked already. Raises
    PKIError when the user has no certificate of this CA. Publish with ``write_crl``.
    """
    ca_certificate, _ = load_ca(directory)
    path = os.path.join(directory, "clients", f"{user}.crt")
    try:
        with open(path, "rb") as handle:
            certificate = x509.load_pem_x509_certificate(handle.read())
        certificate.verify_directly_issued_by(ca_certificate)
    except FileNotFoundError:
        raise PKIError(f"{path}: missing; no certificate of {user!r} to revoke") from None
    except (OSError, ValueError, TypeError, InvalidSignature) as exc:
        raise PKIError(f"{path}: not a certificate of this CA: {exc}") from None
    register = _read_register(directory)
    serial = certificate.serial_number
    if any(int(entry["serial"], 16) == serial for entry in register):
        return serial, False
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    register.append({"serial": format(serial, "X"), "name": user,
                     "revoked_at": now.isoformat()})
    _write(os.path.join(directory, REVOKED_FILE),
           (json.dumps({"revoked": register}, indent=1) + "\n").encode())
    return serial, True


def revoked_serials(directory: str) -> dict[int, datetime.datetime]:
    """Serial -> revocation time of every certificate ``revoke_client_certificate`` recorded."""
    return {int(entry["serial"], 16): datetime.datetime.fromisoformat(entry["revoked_at"])
            for entry in _read_register(directory)}


def build_crl(ca_certificate: x509.Certificate, ca_key, revoked: dict[int, datetime.datetime],
              last_update: datetime.datetime, next_update: datetime.datetime
              ) -> x509.CertificateRevocationList:
    """A CRL of ``revoked`` (serial -> revocation time) signed by the CA; any dates go, so that
    tests can make out-of-date and not-yet-valid CRLs."""
    key_id = ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_certificate.subject)
               .last_update(last_update).next_update(next_update)
               .add_extension(x509.CRLNumber(int(last_update.timestamp() * 1000)),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                   key_id.value), critical=False))
    for serial, when in sorted(revoked.items()):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build())
    return builder.sign(ca_key, hashes.SHA256())


def write_crl(directory: str, out: str | None = None, days: int = CRL_DAYS,
              next_update_in_past: bool = False, der: bool = False
              ) -> tuple[str, x509.CertificateRevocationList]:
    """Write the CA's CRL of every revoked serial to ``out`` (default ``<directory>/crl.pem``,
    or ``crl.der`` in DER), replacing the file atomically, mode 0644 (a CRL is public).
    Returns ``(path, crl)``.

    The CRL is valid from 5 minutes ago until ``days`` from now; ``next_update_in_past`` makes
    one whose nextUpdate was a day ago instead, to see what an out-of-date CRL does.
    """
    if days < 1:
        raise PKIError(f"--days {days}: a CRL must be valid for at least a day")
    ca_certificate, ca_key = load_ca(directory)
    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)
    if next_update_in_past:
        last_update, next_update = now - 2 * day, now - day
    else:
        last_update, next_update = now - datetime.timedelta(minutes=5), now + days * day
    crl = build_crl(ca_certificate, ca_key, revoked_serials(directory), last_update,
                    next_update)
    path = os.path.abspath(out or os.path.join(directory, "crl.der" if der else CRL_FILE))
    encoding = serialization.Encoding.DER if der else serialization.Encoding.PEM
    _write(path, crl.public_bytes(encoding), mode=0o644)
    return path, crl


# -- helpers -------------------------------------------------------------------------------------

def _read_register(directory: str) -> list[dict]:
    path = os.path.join(directory, REVOKED_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            register = json.load(handle)["revoked"]
        for entry in register:
            int(entry["serial"], 16)
            datetime.datetime.fromisoformat(entry["revoked_at"])
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PKIError(f"{path}: not a register of revoked serials: {exc}") from None
    return register


def _der_utf8_string(text: str) -> bytes:
    """``text`` as a DER UTF8String, the value of a UPN otherName (cryptography encodes the
    otherName, not its value)."""
    data = text.encode("utf-8")
    if len(data) < 0x80:
        length = bytes([len(data)])
    else:
        digits = len(data).to_bytes((len(data).bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(digits)]) + digits
    return b"\x0c" + length + data


def _paths(directory: str, stem: str) -> tuple[str, str]:
    return os.path.join(directory, f"{stem}.crt"), os.path.join(directory, f"{stem}.key")


def _private_directory(path: str) -> None:
    make_private_dir(path)
    os.chmod(path, 0o700)


def _write(path: str, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` atomically with a file of ``mode``: no reader sees half a key."""
    descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, mode)
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
