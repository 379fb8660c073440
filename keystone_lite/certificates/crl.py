"""``[cert_auth] crl_file``: certificate revocation lists, read at start-up, re-read when changed.

The file is the one Apache's ``SSLCARevocationFile`` reads: one or more PEM ``X509 CRL`` blocks
concatenated (one per CA that issues client certificates), or a single CRL in DER. The rules
are OpenSSL's with CRL checking on, so Apache, the embedded server and cert_auth agree:

- every CA that issues client certificates needs its CRL in the file: a certificate whose issuer
  has none is refused (OpenSSL: "unable to get certificate CRL");
- a CRL past its nextUpdate (or before its lastUpdate) refuses every certificate of its issuer
  until a fresh one is installed: fail closed, never "not revoked";
- with ``[cert_auth] ca_file``, every CRL must be signed by a CA certificate of that file (one
  that may sign CRLs, when it has a key usage); otherwise the file is refused, as is a file
  holding anything but CRLs, two CRLs of one issuer, a delta or indirect CRL, a CRL of some
  revocation reasons only or with an unknown critical extension: read as a complete list, any of
  those could let a revoked certificate through.

Malformed at start-up is a ``CrlError`` (``from_settings`` makes it a ConfigError naming file,
section and key). The file is then watched: its inode, size and times are looked at once a
second at most (a stat, no read), and a change is read and checked again. A file that becomes
unreadable or malformed refuses every certificate until it is fixed: ``is_revoked`` raises
``CrlUnusable``; each change of state is logged once, never per request. Replace the file
atomically (write a temporary file, then ``mv`` it over the old one): a reader catching a file
half written refuses everyone for up to a second. ``ca_file`` is read at start-up only.
"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import logging
import os
import re
import threading
import time

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from keystone_lite.dn import normalise_dn
from keystone_lite.settings import ConfigError
from keystone_lite.tls_environ import dn_string

LOG = logging.getLogger(__name__)
CHECK_INTERVAL = 1.0  # seconds between two looks at the file
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)
_MAX_REPORTED = 64  # issuers without a CRL reported once each, at most this many per version


class CrlError(Exception):
    """``crl_file`` (or ``ca_file``, as ``key`` says) cannot be used; the message says why."""

    def __init__(self, message: str, key: str = "crl_file"):
        super().__init__(message)
        self.key = key


class CrlUnusable(Exception):
    """Whether the certificate is revoked cannot be told: refuse it (fail closed)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class IssuerCrl:
    """One issuer's CRL, as looked up per request."""

    issuer: str                # RFC 4514, as mod_ssl prints SSL_CLIENT_I_DN (for messages)
    this_update: float         # POSIX seconds
    next_update: float | None  # None: the CRL names no next update (never stale)
    revoked: frozenset[int]
    pem: bytes


@dataclasses.dataclass(frozen=True)
class _State:
    version: int
    crls: dict                  # normalise_dn key -> IssuerCrl
    problem: str | None         # the whole file is unusable (after start-up): why
    out_of_date: frozenset      # keys of CRLs past nextUpdate or before lastUpdate
    changes_at: float           # POSIX time when a CRL next goes in or out of date
    file_id: tuple | None
    digest: bytes | None


def name_key(name: x509.Name) -> tuple:
    """The comparison key of a certificate's name: what ``normalise_dn`` makes of its text."""
    return tuple(frozenset((attribute.oid.dotted_string, attribute.value) for attribute in rdn)
                 for rdn in name.rdns)


@functools.lru_cache(maxsize=256)
def _issuer_key(issuer_dn: str) -> tuple:
    """``normalise_dn`` of an SSL_CLIENT_I_DN (a few issuers, parsed once each)."""
    return normalise_dn(issuer_dn)


def load_ca_certificates(path: str) -> list[x509.Certificate]:
    """The PEM certificates of ``ca_file``; raises CrlError (key ``ca_file``) saying why not."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise CrlError(f"{path}: cannot read: {exc.strerror}", "ca_file") from None
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CrlError(f"{path}: not a PEM file of CA certificates", "ca_file") from None
    return certificates


def parse_crls(data: bytes, path: str, cas: list[x509.Certificate] | None) -> dict:
    """``{issuer key: IssuerCrl}`` of the file's bytes; raises CrlError saying what is wrong.

    ``cas``: the CA certificates each CRL must be signed by (None: signatures not checked).
    """
    crls = {}
    for crl in _decode(data, path):
        issuer = dn_string(crl.issuer)
        _check_scope(crl, path, issuer)
        if cas is not None:
            _check_signature(crl, path, issuer, cas)
        key = name_key(crl.issuer)
        if key in crls:
            raise CrlError(f"{path}: two CRLs of issuer {issuer}; keep only the newest")
        next_update = crl.next_update_utc
        crls[key] = IssuerCrl(
            issuer=issuer, this_update=crl.last_update_utc.timestamp(),
            next_update=next_update.timestamp() if next_update else None,
            revoked=frozenset(entry.serial_number for entry in crl),
            pem=crl.public_bytes(serialization.Encoding.PEM))
    return crls


def _decode(data: bytes, path: str) -> list[x509.CertificateRevocationList]:
    if b"-----BEGIN" not in data:
        try:
            return [x509.load_der_x509_crl(data)]
        except ValueError:
            raise CrlError(f"{path}: neither PEM CRLs nor a DER CRL") from None
    crls = []
    for number, block in enumerate(_PEM_BLOCK.finditer(data), start=1):
        if block.group(1) != b"X509 CRL":
            # Apache would add a certificate found here to the CAs it trusts.
            raise CrlError(f"{path}: PEM block {number} is a {block.group(1).decode()}, not an "
                           "X509 CRL; the file must hold CRLs only")
        try:
            crls.append(x509.load_pem_x509_crl(block.group(0)))
        except ValueError:
            raise CrlError(f"{path}: PEM block {number} is not a valid CRL") from None
    if not crls:
        raise CrlError(f"{path}: no complete PEM X509 CRL block")
    return crls


def _check_scope(crl: x509.CertificateRevocationList, path: str, issuer: str) -> None:
    """Refuse what would not be a complete list of the issuer's revoked certificates."""
    where = f"{path}: the CRL of {issuer}"
    try:
        extensions = list(crl.extensions)
        entry_extensions = [extension for entry in crl for extension in entry.extensions]
    except ValueError as exc:  # e.g. an extension present twice
        raise CrlError(f"{where} has a malformed extension: {exc}") from None
    for extension in extensions:
        value = extension.value
        if isinstance(value, x509.DeltaCRLIndicator):
            raise CrlError(f"{where} is a delta CRL; install the complete (base) CRL")
        if isinstance(value, x509.IssuingDistributionPoint) and (
                value.indirect_crl or value.only_some_reasons or value.only_contains_ca_certs
                or value.only_contains_attribute_certs):
            raise CrlError(f"{where} covers only part of its certificates (indirect, some "
                           "reasons only, or CA or attribute certificates only); install a "
                           "complete CRL")
        if extension.critical and isinstance(value, x509.UnrecognizedExtension):
            raise CrlError(f"{where} has an unknown critical extension "
                           f"{extension.oid.dotted_string}")
    for extension in entry_extensions:
        if isinstance(extension.value, x509.CertificateIssuer):
            raise CrlError(f"{where} is an indirect CRL (entries of other issuers)")
        if extension.critical and isinstance(extension.value, x509.UnrecognizedExtension):
            raise CrlError(f"{where} has an entry with an unknown critical extension "
                           f"{extension.oid.dotted_string}")


def _check_signature(crl: x509.CertificateRevocationList, path: str, issuer: str,
                     cas: list[x509.Certificate]) -> None:
    candidates = [ca for ca in cas if ca.subject == crl.issuer]
    if not candidates:
        raise CrlError(f"{path}: the CRL of {issuer} is not from a CA of [cert_auth] ca_file")
    for ca in candidates:
        if not _may_sign_crls(ca):
            continue
        try:
            if crl.is_signature_valid(ca.public_key()):
                return
        except (TypeError, ValueError, UnsupportedAlgorithm):  # a key unfit for this CRL
            continue
    raise CrlError(f"{path}: the signature of the CRL of {issuer} does not verify with the "
                   "CA certificate of that name in [cert_auth] ca_file (or that CA may not "
                   "sign CRLs)")


def _may_sign_crls(ca: x509.Certificate) -> bool:
    try:
        return ca.extensions.get_extension_for_class(x509.KeyUsage).value.crl_sign
    except x509.ExtensionNotFound:
        return True


def _file_id(info: os.stat_result) -> tuple:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC")


class RevocationList:
    """The CRLs of one file, kept current; thread-safe, cheap per call.

    Raises CrlError at construction when the file (or ``ca_file``) cannot be used.
    """

    def __init__(self, path: str, ca_file: str | None = None,
                 check_interval: float = CHECK_INTERVAL):
        self.path, self.ca_file = path, ca_file
        self._cas = load_ca_certificates(ca_file) if ca_file else None
        self._interval = check_interval
        self._lock = threading.Lock()
        self._reported: set = set()
        file_id, data = self._read()
        crls = parse_crls(data, path, self._cas)
        state = _State(1, crls, None, frozenset(), 0.0, file_id, hashlib.sha256(data).digest())
        LOG.info("%s: %s", path, self._describe(state))
        self._state = self._dated(state, time.time(), start=True)
        self._next_look = time.monotonic() + check_interval
        if self._cas is None:
            LOG.warning("%s: CRL signatures are not checked: set [cert_auth] ca_file to the "
                        "CA certificates that issue client certificates", path)

    # -- what callers use ----------------------------------------------------------------------

    @property
    def version(self) -> int:
        """A number that changes whenever the answers of ``is_revoked`` may change."""
        return self._current().version

    def is_revoked(self, issuer_dn: str | x509.Name, serial: int) -> bool:
        """Whether the CRL of ``issuer_dn`` lists ``serial``.

        ``issuer_dn`` is SSL_CLIENT_I_DN text (RFC 4514 or OpenSSL's ``/O=../CN=..``, compared
        as ``dn.normalise_dn`` does) or the certificate's issuer name. Raises CrlUnusable when
        that cannot be told: no CRL of that issuer, the CRL out of date, the file unusable.
        """
        state = self._current()
        if state.problem is not None:
            raise CrlUnusable(state.problem)
        if isinstance(issuer_dn, x509.Name):
            key, text = name_key(issuer_dn), dn_string(issuer_dn)
        else:
            try:
                key, text = _issuer_key(issuer_dn), issuer_dn
            except ValueError:
                raise CrlUnusable(f"issuer DN {issuer_dn!r} cannot be parsed") from None
        crl = state.crls.get(key)
        if crl is None:
            reason = f"{self.path} holds no CRL of the issuer {text}"
            self._report_once(state.version, reason)
            raise CrlUnusable(reason)
        now = time.time()  # checked here too: the state is only re-dated once a second
        if key in state.out_of_date or now < crl.this_update or (
                crl.next_update is not None and now >= crl.next_update):
            raise CrlUnusable(self._out_of_date_reason(crl, now))
        return serial in crl.revoked

    def pem(self) -> tuple[int, bytes | None]:
        """``(version, the CRLs in PEM)``; None while the file is unusable."""
        state = self._current()
        if state.problem is not None:
            return state.version, None
        return state.version, b"".join(crl.pem for crl in state.crls.values())

    # -- keeping current -----------------------------------------------------------------------

    def _current(self) -> _State:
        state = self._state
        if time.monotonic() >= self._next_look or time.time() >= state.changes_at:
            state = self._refresh()
        return state

    def _refresh(self) -> _State:
        if not self._lock.acquire(blocking=False):
            return self._state  # another thread is at it; is_revoked still checks the dates
        try:
            state = self._state
            if time.monotonic() >= self._next_look:
                state = self._reread_if_changed(state)
                self._next_look = time.monotonic() + self._interval
            self._state = state = self._dated(state, time.time())
            return state
        finally:
            self._lock.release()

    def _read(self) -> tuple[tuple, bytes]:
        try:
            with open(self.path, "rb") as handle:
                return _file_id(os.fstat(handle.fileno())), handle.read()
        except OSError as exc:
            raise CrlError(f"{self.path}: cannot read: {exc.strerror}") from None

    def _reread_if_changed(self, state: _State) -> _State:
        try:
            file_id = _file_id(os.stat(self.path))
        except OSError as exc:
            if state.problem is not None and state.file_id is None:
                return state  # still missing: reported already
            return self._unusable(state, f"{self.path}: cannot read: {exc.strerror}", None)
        if file_id == state.file_id:
            return state
        try:
            file_id, data = self._read()
            digest = hashlib.sha256(data).digest()
            if digest == state.digest and state.problem is None:
                return dataclasses.replace(state, file_id=file_id)  # touched, not changed
            crls = parse_crls(data, self.path, self._cas)
        except CrlError as error:
            return self._unusable(state, str(error), file_id)
        fresh = _State(state.version + 1, crls, None, frozenset(), 0.0, file_id, digest)
        if state.problem is not None:
            LOG.warning("%s is usable again: %s", self.path, self._describe(fresh))
        else:
            LOG.info("%s changed, re-read: %s", self.path, self._describe(fresh))
        return self._dated(fresh, time.time(), start=True)

    def _unusable(self, state: _State, reason: str, file_id: tuple | None) -> _State:
        LOG.error("%s; every client certificate is refused until the file is fixed", reason)
        return _State(state.version + 1, {}, reason, frozenset(), float("inf"), file_id, None)

    def _dated(self, state: _State, now: float, start: bool = False) -> _State:
        """``state`` with its out-of-date CRLs marked as of ``now``; each change logged once."""
        if state.problem is not None or (now < state.changes_at and not start):
            return state
        out_of_date, changes_at = set(), float("inf")
        for key, crl in state.crls.items():
            if now < crl.this_update:
                out_of_date.add(key)
                changes_at = min(changes_at, crl.this_update)
            elif crl.next_update is not None and now >= crl.next_update:
                out_of_date.add(key)
            elif crl.next_update is not None:
                changes_at = min(changes_at, crl.next_update)
        if out_of_date == state.out_of_date and not start:
            return dataclasses.replace(state, changes_at=changes_at)
        for key in out_of_date - state.out_of_date:
            LOG.error("%s; every certificate of that issuer is refused until a current CRL "
                      "is installed", self._out_of_date_reason(state.crls[key], now))
        for key in state.out_of_date - out_of_date:
            LOG.warning("%s: the CRL of %s is current again", self.path, state.crls[key].issuer)
        return dataclasses.replace(state, version=state.version + (0 if start else 1),
                                   out_of_date=frozenset(out_of_date), changes_at=changes_at)

    def _out_of_date_reason(self, crl: IssuerCrl, now: float) -> str:
        if now < crl.this_update:
            return (f"{self.path}: the CRL of {crl.issuer} is not valid before its lastUpdate "
                    f"{_when(crl.this_update)} (is the clock right?)")
        return (f"{self.path}: the CRL of {crl.issuer} is out of date: its nextUpdate was "
                f"{_when(crl.next_update)}")

    def _report_once(self, version: int, reason: str) -> None:
        with self._lock:
            self._reported = {item for item in self._reported if item[0] == version}
            if len(self._reported) >= _MAX_REPORTED or (version, reason) in self._reported:
                return
            self._reported.add((version, reason))
        LOG.error("%s; certificates of that issuer are refused (every CA that issues client "
                  "certificates needs its CRL in the file)", reason)

    def _describe(self, state: _State) -> str:
        parts = []
        for crl in state.crls.values():
            until = _when(crl.next_update) if crl.next_update is not None else "no nextUpdate"
            parts.append(f"{crl.issuer} ({len(crl.revoked)} revoked, next update {until})")
        return f"{len(parts)} CRL(s): " + "; ".join(parts)


# -- one RevocationList per file and process ----------------------------------------------------

_shared: dict[str, RevocationList] = {}
_shared_lock = threading.Lock()


def shared(path: str, ca_file: str | None = None) -> RevocationList:
    """The process's RevocationList of ``path``, made on first use (raises CrlError).

    cert_auth and the embedded server of one process share it: one reload, one log line per
    change. One made with a ``ca_file`` serves callers that name none (the embedded server
    passes its own CA when ``[cert_auth] ca_file`` is unset).
    """
    key = os.path.abspath(path)
    with _shared_lock:
        existing = _shared.get(key)
        if existing is not None and ca_file in (None, existing.ca_file):
            return existing
        _shared[key] = made = RevocationList(path, ca_file)
        return made


def forget_shared() -> None:
    """Drop every shared RevocationList (tests, and re-loading after a change)."""
    with _shared_lock:
        _shared.clear()


def from_settings(settings, ca_file: str | None = None) -> RevocationList | None:
    """The RevocationList of ``[cert_auth] crl_file``, None when unset.

    ``ca_file`` is used when ``[cert_auth] ca_file`` is unset. Raises ConfigError naming the
    configuration file, the section and the key.
    """
    if not settings.crl_file:
        return None
    try:
        return shared(settings.crl_file, settings.ca_file or ca_file)
    except CrlError as error:
        raise ConfigError(f"{settings.config_file}: [cert_auth] {error.key}: {error}") from None
