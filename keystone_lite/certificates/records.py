"""Which certificate earned a token, and which certificates are revoked.

A token earned with a client certificate carries the first bytes of the certificate's
thumbprint (``thumbprints.reference``); the ``certificates`` table, written the first time a
certificate earns a token, holds the rest. Revoking a certificate (by thumbprint, or by serial
of one issuer or of any) refuses it from then on and kills every token it earned, on the next
validation on every node: the revocation moves the change counter (db.generation), and
validation checks the token's certificate against the revocations read under the new stamp.
"""
from __future__ import annotations

import dataclasses
import hmac
import uuid

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select
from sqlalchemy.orm import Session

from keystone_lite import errors
from keystone_lite.certificates import thumbprints
from keystone_lite.db import models, session as db_session
from keystone_lite.dn import normalise_dn
from keystone_lite.tls_environ import dn_string
from keystone_lite.token.payload import now_us

_REASON_LIMIT = 255


@dataclasses.dataclass(frozen=True)
class Presented:
    """The client certificate the web server verified for this request (cert_auth)."""

    thumbprint: str
    issuer_dn: str
    serial: str  # normalised: see ``serial_key``
    subject_dn: str
    not_after: int  # µs since the epoch
    der: bytes = dataclasses.field(repr=False)

    @classmethod
    def of(cls, certificate: x509.Certificate) -> Presented:
        """The names are the certificate's own, written as mod_ssl writes SSL_CLIENT_I_DN and
        SSL_CLIENT_S_DN (whatever the server exported)."""
        der = certificate.public_bytes(Encoding.DER)
        return cls(thumbprint=thumbprints.of_der(der), issuer_dn=dn_string(certificate.issuer),
                   serial=format(certificate.serial_number, "x"),
                   subject_dn=dn_string(certificate.subject),
                   not_after=int(certificate.not_valid_after_utc.timestamp()) * 1_000_000,
                   der=der)

    @property
    def reference(self) -> str:
        return thumbprints.reference(self.thumbprint)


def presented(context: dict) -> Presented | None:
    """The request's certificate, or None when the server exported none (SSL_CLIENT_CERT:
    mod_ssl's ``SSLOptions +ExportCertData``)."""
    cert = context["cert"]
    return cert and cert.get("presented")


def serial_key(text: str) -> str:
    """A serial as the store keeps it: lowercase hex without leading zeros, from hex as
    mod_ssl (``SSL_CLIENT_M_SERIAL``) or openssl print it, colons optional. Raises
    ValueError."""
    value = text.strip().replace(":", "")
    if value.lower().startswith("0x"):
        value = value[2:]
    if not value or len(value) > 64 or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise ValueError("a serial number is hexadecimal, as openssl x509 -noout -serial "
                         "prints it")
    return format(int(value, 16), "x")


def remember(session: Session, certificate: Presented) -> None:
    """Record ``certificate`` if it has not earned a token before (one row, never changed)."""
    if session.get(models.Certificate, certificate.thumbprint) is not None:
        return
    table = models.Certificate.__table__
    session.execute(db_session.conflict_insert(session, table).values(
        thumbprint=certificate.thumbprint, reference=certificate.reference,
        issuer_dn=certificate.issuer_dn, serial=certificate.serial,
        subject_dn=certificate.subject_dn, not_after=certificate.not_after,
        keystone_x5t=thumbprints.keystone_x5t(certificate.der), first_used_at=now_us(),
    ).on_conflict_do_nothing(index_elements=[table.c.thumbprint]))


def find(session: Session, reference: str):
    """The snapshot of the certificate a token's reference names, or None."""
    row = session.scalar(select(models.Certificate).where(
        models.Certificate.reference == reference))
    return row and row.snapshot()


@dataclasses.dataclass(frozen=True)
class Revocations:
    """Every revocation, read once per stamp: few rows, looked up in memory."""

    thumbprints: frozenset = frozenset()
    # serial -> issuer DN keys it is revoked for; None in the set: for every issuer.
    serials: dict = dataclasses.field(default_factory=dict)

    def cover(self, thumbprint: str, serial: str, issuer_dn: str) -> bool:
        if thumbprint in self.thumbprints:
            return True
        issuers = self.serials.get(serial)
        if not issuers:
            return False
        if None in issuers:
            return True
        try:
            return _dn_key(issuer_dn) in issuers
        except ValueError:  # no issuer DN from the server: only "any issuer" matches
            return False


def load_revocations(session: Session) -> Revocations:
    thumbprints_, serials = set(), {}
    for row in session.scalars(select(models.CertificateRevocation)):
        if row.thumbprint is not None:
            thumbprints_.add(row.thumbprint)
        else:
            serials.setdefault(row.serial, set()).add(
                _dn_key(row.issuer_dn) if row.issuer_dn else None)
    return Revocations(frozenset(thumbprints_), serials)


def normalised(*, thumbprint: str | None = None, serial: str | None = None,
               issuer_dn: str | None = None, reason: str | None = "") -> dict:
    """The columns of a revocation of the certificate named by ``thumbprint``, or by
    ``serial`` (of ``issuer_dn``'s certificates only, when given). Raises ValidationError for
    input that names no certificate."""
    if (thumbprint is None) == (serial is None):
        raise errors.ValidationError("Name the certificate by its thumbprint or by its serial "
                                     "number, not both.")
    if issuer_dn is not None:
        if thumbprint is not None:
            raise errors.ValidationError("An issuer DN goes with a serial number only.")
        issuer_dn = issuer_dn.strip()
        try:
            _dn_key(issuer_dn)
        except ValueError as error:
            raise errors.ValidationError(f"Invalid issuer DN: {error}.") from None
    reason = reason or ""
    if len(reason) > _REASON_LIMIT:
        raise errors.ValidationError(f"The reason is longer than {_REASON_LIMIT} characters.")
    try:
        return {"thumbprint": thumbprint and thumbprints.parse(thumbprint),
                "serial": serial and serial_key(serial), "issuer_dn": issuer_dn,
                "reason": reason}
    except ValueError as error:
        raise errors.ValidationError(f"Invalid certificate: {error}.") from None


def existing(session: Session, columns: dict):
    """The revocation with these (normalised) columns, if the certificate is revoked so."""
    revocation = models.CertificateRevocation
    if columns["thumbprint"] is not None:
        condition = revocation.thumbprint == columns["thumbprint"]
    else:
        condition = (revocation.serial == columns["serial"]) & (
            revocation.issuer_dn.is_(None) if columns["issuer_dn"] is None
            else revocation.issuer_dn == columns["issuer_dn"])
    return session.scalar(select(revocation).where(condition))


def revoke(session: Session, **certificate):
    """Revoke the certificate ``normalised`` describes; returns the revocation row (the
    existing one when it was already revoked so)."""
    columns = normalised(**certificate)
    row = existing(session, columns)
    if row is None:
        row = models.CertificateRevocation(id=uuid.uuid4().hex, revoked_at=now_us(), **columns)
        session.add(row)
        session.flush()
    return row


def revocations(session: Session) -> list:
    return list(session.scalars(select(models.CertificateRevocation).order_by(
        models.CertificateRevocation.id)))


def same_certificate(record, certificate: Presented | None) -> bool:
    """Whether the request's certificate is the one ``record`` (a token's) names."""
    return certificate is not None and hmac.compare_digest(record.thumbprint,
                                                           certificate.thumbprint)


def _dn_key(dn: str) -> tuple:
    return normalise_dn(dn)
