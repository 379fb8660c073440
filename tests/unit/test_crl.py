"""certificates/crl.py: CRLs made by the dev PKI's CA, read from real files, re-read on change."""
from __future__ import annotations

import datetime
import logging
import os
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from keystone_lite import pki
from keystone_lite.certificates import crl
from keystone_lite.certificates.crl import CrlError, CrlUnusable, RevocationList
from keystone_lite.dn import normalise_dn
from keystone_lite.settings import ConfigError
from keystone_lite.tls_environ import dn_string

DEV_CA = "CN=keystone_lite dev CA,O=keystone_lite dev"
NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
PEM, DER = serialization.Encoding.PEM, serialization.Encoding.DER


class Ca:
    """A dev CA in a directory of its own, with helpers to make its CRLs."""

    def __init__(self, directory: str):
        self.directory = directory
        pki.ensure_ca(directory)
        self.certificate, self.key = pki.load_ca(directory)
        self.file = os.path.join(directory, "ca.crt")

    def issue(self, user: str) -> x509.Certificate:
        issued = pki.issue_client_certificate(self.directory, user)
        with open(issued.certificate, "rb") as handle:
            return x509.load_pem_x509_certificate(handle.read())

    def crl(self, *revoked: int, last_update=NOW - DAY, next_update=NOW + DAY,
            key=None) -> x509.CertificateRevocationList:
        return pki.build_crl(self.certificate, key or self.key,
                             dict.fromkeys(revoked, NOW - DAY), last_update, next_update)


@pytest.fixture
def ca(tmp_path) -> Ca:
    return Ca(str(tmp_path / "ca"))


@pytest.fixture
def other_ca(tmp_path) -> Ca:
    """A second CA, named apart from the first."""
    other = Ca(str(tmp_path / "other"))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other CA")])
    other.certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(NOW - DAY).not_valid_after(NOW + 30 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256()))
    other.key, other.file = key, None  # ca_file() writes the file naming both CAs
    return other


def write(path, *crls, encoding=PEM) -> str:
    """Replace ``path`` atomically with ``crls`` (or bytes) in ``encoding``."""
    data = b"".join(item if isinstance(item, bytes) else item.public_bytes(encoding)
                    for item in crls)
    temporary = f"{path}.new"
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)
    return str(path)


def ca_file(tmp_path, *cas: Ca) -> str:
    path = tmp_path / "trusted.pem"
    path.write_bytes(b"".join(ca.certificate.public_bytes(PEM) for ca in cas))
    return str(path)


# -- what is revoked -------------------------------------------------------------------------------

def test_serial_listed_in_pem_crl_is_revoked_and_others_are_not(ca, tmp_path):
    revocations = RevocationList(write(tmp_path / "crl.pem", ca.crl(10, 11)), ca.file)
    assert revocations.is_revoked(DEV_CA, 10) and revocations.is_revoked(DEV_CA, 11)
    assert not revocations.is_revoked(DEV_CA, 12)


def test_der_crl_answers_like_the_same_crl_in_pem(ca, tmp_path):
    revocations = RevocationList(write(tmp_path / "crl.der", ca.crl(10), encoding=DER),
                                 ca.file)
    assert revocations.is_revoked(DEV_CA, 10) and not revocations.is_revoked(DEV_CA, 12)


def test_issuer_in_openssl_slash_form_or_as_a_name_finds_the_same_crl(ca, tmp_path):
    revocations = RevocationList(write(tmp_path / "crl.pem", ca.crl(10)), ca.file)
    assert revocations.is_revoked("/O=keystone_lite dev/CN=keystone_lite dev CA", 10)
    assert revocations.is_revoked("cn = keystone_lite dev CA, o = keystone_lite dev", 10)
    assert revocations.is_revoked(ca.certificate.subject, 10)


def test_name_key_equals_normalise_dn_of_the_name_as_mod_ssl_prints_it(ca):
    name = ca.issue("alice").subject
    assert crl.name_key(name) == normalise_dn(dn_string(name))


def test_concatenated_pem_crls_each_answer_for_their_own_issuer(ca, other_ca, tmp_path):
    path = write(tmp_path / "crl.pem", ca.crl(10), other_ca.crl(20))
    revocations = RevocationList(path, ca_file(tmp_path, ca, other_ca))
    assert revocations.is_revoked(DEV_CA, 10) and not revocations.is_revoked(DEV_CA, 20)
    assert revocations.is_revoked("CN=other CA", 20) and not revocations.is_revoked(
        "CN=other CA", 10)


def test_certificate_of_an_issuer_without_a_crl_is_unusable_and_logged_once(
        ca, other_ca, tmp_path, caplog):
    revocations = RevocationList(write(tmp_path / "crl.pem", ca.crl()), ca.file)
    caplog.set_level(logging.ERROR, logger="keystone_lite")
    for _ in range(3):
        with pytest.raises(CrlUnusable, match="no CRL of the issuer CN=other CA"):
            revocations.is_revoked("CN=other CA", 20)
    assert len([r for r in caplog.records if "no CRL of the issuer" in r.getMessage()]) == 1


def test_unparsable_issuer_dn_is_unusable_not_an_error(ca, tmp_path):
    revocations = RevocationList(write(tmp_path / "crl.pem", ca.crl()), ca.file)
    with pytest.raises(CrlUnusable, match="cannot be parsed"):
        revocations.is_revoked("not a DN", 1)


# -- refused at load -------------------------------------------------------------------------------

def test_crl_signed_with_another_key_under_the_ca_name_is_refused(ca, tmp_path):
    forged = ca.crl(10, key=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(CrlError, match="signature of the CRL of CN=keystone_lite dev CA"):
        RevocationList(write(tmp_path / "crl.pem", forged), ca.file)


def test_crl_of_a_ca_not_in_ca_file_is_refused(ca, other_ca, tmp_path):
    with pytest.raises(CrlError, match="CN=other CA is not from a CA of"):
        RevocationList(write(tmp_path / "crl.pem", ca.crl(), other_ca.crl()), ca.file)


def test_ca_whose_key_usage_forbids_crl_signing_cannot_vouch_for_a_crl(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no CRLs")])
    usage = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment",
                           "data_encipherment", "key_agreement", "crl_sign", "encipher_only",
                           "decipher_only"), False)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(NOW - DAY).not_valid_after(NOW + DAY)
        .add_extension(x509.KeyUsage(key_cert_sign=True, **usage), critical=True)
        .sign(key, hashes.SHA256()))
    (tmp_path / "ca.pem").write_bytes(certificate.public_bytes(PEM))
    revocation_list = (x509.CertificateRevocationListBuilder().issuer_name(name)
                       .last_update(NOW - DAY).next_update(NOW + DAY).sign(key, hashes.SHA256()))
    with pytest.raises(CrlError, match="may not sign CRLs"):
        RevocationList(write(tmp_path / "crl.pem", revocation_list), str(tmp_path / "ca.pem"))


@pytest.mark.parametrize("content, reason", [
    (b"", "neither PEM CRLs nor a DER CRL"),
    (b"garbage\n", "neither PEM CRLs nor a DER CRL"),
    (b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "block 1 is not a valid CRL"),
    (b"-----BEGIN X509 CRL-----\nAAAA\n", "no complete PEM X509 CRL block"),
], ids=["empty", "garbage", "bad-base64-body", "truncated"])
def test_malformed_file_is_refused_saying_why(ca, tmp_path, content, reason):
    with pytest.raises(CrlError, match=reason):
        RevocationList(write(tmp_path / "crl.pem", content), ca.file)


def test_certificate_in_the_crl_file_is_refused(ca, tmp_path):
    # Apache would trust a CA certificate left in its SSLCARevocationFile.
    path = write(tmp_path / "crl.pem", ca.crl(), ca.certificate.public_bytes(PEM))
    with pytest.raises(CrlError, match="PEM block 2 is a CERTIFICATE, not an X509 CRL"):
        RevocationList(path, ca.file)


def test_two_crls_of_one_issuer_are_refused(ca, tmp_path):
    with pytest.raises(CrlError, match="two CRLs of issuer CN=keystone_lite dev CA"):
        RevocationList(write(tmp_path / "crl.pem", ca.crl(1), ca.crl(2)), ca.file)


def test_delta_crl_is_refused(ca, tmp_path):
    delta = (x509.CertificateRevocationListBuilder().issuer_name(ca.certificate.subject)
             .last_update(NOW - DAY).next_update(NOW + DAY)
             .add_extension(x509.DeltaCRLIndicator(5), critical=True)
             .sign(ca.key, hashes.SHA256()))
    with pytest.raises(CrlError, match="delta CRL"):
        RevocationList(write(tmp_path / "crl.pem", delta), ca.file)


def test_crl_of_some_reasons_only_is_refused(ca, tmp_path):
    partial = (x509.CertificateRevocationListBuilder().issuer_name(ca.certificate.subject)
               .last_update(NOW - DAY).next_update(NOW + DAY)
               .add_extension(x509.IssuingDistributionPoint(
                   None, None, False, False, frozenset({x509.ReasonFlags.key_compromise}),
                   False, False), critical=True)
               .sign(ca.key, hashes.SHA256()))
    with pytest.raises(CrlError, match="covers only part of its certificates"):
        RevocationList(write(tmp_path / "crl.pem", partial), ca.file)


def test_missing_crl_file_is_refused(ca, tmp_path):
    with pytest.raises(CrlError, match="cannot read: No such file"):
        RevocationList(str(tmp_path / "absent.pem"), ca.file)


def test_unreadable_ca_file_is_an_error_about_ca_file(ca, tmp_path):
    path = write(tmp_path / "crl.pem", ca.crl())
    with pytest.raises(CrlError) as raised:
        RevocationList(path, str(tmp_path / "crl.pem"))
    assert raised.value.key == "ca_file" and "not a PEM file of CA certificates" in str(
        raised.value)


def test_without_ca_file_signatures_are_not_checked_and_a_warning_says_so(ca, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="keystone_lite")
    forged = ca.crl(10, key=ec.generate_private_key(ec.SECP256R1()))
    revocations = RevocationList(write(tmp_path / "crl.pem", forged))
    assert revocations.is_revoked(DEV_CA, 10)
    assert "CRL signatures are not checked: set [cert_auth] ca_file" in caplog.text


# -- dates -----------------------------------------------------------------------------------------

def test_crl_past_its_next_update_is_unusable_with_one_log_line(ca, tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="keystone_lite")
    stale = ca.crl(10, last_update=NOW - 2 * DAY, next_update=NOW - DAY)
    revocations = RevocationList(write(tmp_path / "crl.pem", stale), ca.file)
    for serial in (10, 11, 12):
        with pytest.raises(CrlUnusable, match="out of date: its nextUpdate was"):
            revocations.is_revoked(DEV_CA, serial)
    lines = [r for r in caplog.records if "out of date" in r.getMessage()]
    assert len(lines) == 1 and "every certificate of that issuer is refused" in lines[0].message


def test_crl_before_its_last_update_is_unusable(ca, tmp_path):
    early = ca.crl(last_update=NOW + DAY, next_update=NOW + 2 * DAY)
    revocations = RevocationList(write(tmp_path / "crl.pem", early), ca.file)
    with pytest.raises(CrlUnusable, match="not valid before its lastUpdate"):
        revocations.is_revoked(DEV_CA, 1)


def test_crl_going_out_of_date_while_loaded_fails_closed_and_changes_version(
        ca, tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="keystone_lite")
    # A CRL's times are whole seconds: nextUpdate is at least 2 s away once truncated.
    soon = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
            ).replace(microsecond=0)
    revocations = RevocationList(write(tmp_path / "crl.pem", ca.crl(10, next_update=soon)),
                                 ca.file, check_interval=0)
    version = revocations.version
    assert not revocations.is_revoked(DEV_CA, 11)
    time.sleep(max(0.0, soon.timestamp() - time.time()) + 0.05)
    with pytest.raises(CrlUnusable, match="out of date"):
        revocations.is_revoked(DEV_CA, 11)
    assert revocations.version != version
    assert len([r for r in caplog.records if "out of date" in r.getMessage()]) == 1


# -- re-reading the file ---------------------------------------------------------------------------

def test_replaced_file_is_read_again_and_the_version_changes(ca, tmp_path):
    path = write(tmp_path / "crl.pem", ca.crl())
    revocations = RevocationList(path, ca.file, check_interval=0)
    version = revocations.version
    assert not revocations.is_revoked(DEV_CA, 10)
    write(path, ca.crl(10))
    assert revocations.is_revoked(DEV_CA, 10)
    assert revocations.version != version


def test_file_looked_at_once_per_interval_at_most(ca, tmp_path):
    path = write(tmp_path / "crl.pem", ca.crl())
    revocations = RevocationList(path, ca.file, check_interval=60)
    write(path, ca.crl(10))
    assert not revocations.is_revoked(DEV_CA, 10)  # the change waits for the next look


def test_rewritten_file_with_the_same_content_keeps_the_version(ca, tmp_path):
    path = write(tmp_path / "crl.pem", ca.crl(10))
    with open(path, "rb") as handle:
        data = handle.read()
    revocations = RevocationList(path, ca.file, check_interval=0)
    version = revocations.version
    write(path, data)
    assert revocations.version == version and revocations.is_revoked(DEV_CA, 10)


def test_file_turning_malformed_refuses_everyone_then_recovers_logging_each_change_once(
        ca, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="keystone_lite")
    path = write(tmp_path / "crl.pem", ca.crl(10))
    revocations = RevocationList(path, ca.file, check_interval=0)
    write(path, b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    for serial in (10, 11):
        with pytest.raises(CrlUnusable, match="not a valid CRL"):
            revocations.is_revoked(DEV_CA, serial)
    assert revocations.pem()[1] is None
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "every client certificate is refused" in errors[0].message
    write(path, ca.crl(10))
    assert revocations.is_revoked(DEV_CA, 10) and not revocations.is_revoked(DEV_CA, 11)
    assert len([r for r in caplog.records if "is usable again" in r.getMessage()]) == 1


def test_file_removed_after_start_refuses_everyone(ca, tmp_path):
    path = write(tmp_path / "crl.pem", ca.crl())
    revocations = RevocationList(path, ca.file, check_interval=0)
    os.unlink(path)
    with pytest.raises(CrlUnusable, match="cannot read"):
        revocations.is_revoked(DEV_CA, 1)


def test_lookups_from_many_threads_while_the_file_is_replaced_always_answer(ca, tmp_path):
    path = write(tmp_path / "crl.pem", ca.crl(10))
    revocations = RevocationList(path, ca.file, check_interval=0)
    answers, failures = [], []

    def look():
        try:
            for _ in range(300):
                answers.append(revocations.is_revoked(DEV_CA, 10))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=look) for _ in range(4)]
    for thread in threads:
        thread.start()
    for serial in range(20, 30):
        write(path, ca.crl(10, serial))
    for thread in threads:
        thread.join(30)
    assert not failures and len(answers) == 1200 and all(answers)


# -- from settings ---------------------------------------------------------------------------------

class SettingsLike:
    """The three Settings fields from_settings reads."""

    def __init__(self, crl_file, ca_file=None):
        self.config_file, self.crl_file, self.ca_file = "/etc/kl.conf", crl_file, ca_file


def test_no_crl_file_means_no_revocation_list():
    assert crl.from_settings(SettingsLike(None)) is None


def test_malformed_crl_file_at_start_is_a_config_error_naming_file_section_and_key(
        ca, tmp_path):
    path = write(tmp_path / "crl.pem", b"garbage")
    with pytest.raises(ConfigError) as raised:
        crl.from_settings(SettingsLike(path, ca.file))
    assert str(raised.value) == (f"/etc/kl.conf: [cert_auth] crl_file: {path}: neither PEM CRLs "
                                 "nor a DER CRL")
    assert "\n" not in str(raised.value)


def test_bad_ca_file_at_start_is_a_config_error_naming_ca_file(ca, tmp_path):
    path = write(tmp_path / "crl.pem", ca.crl())
    with pytest.raises(ConfigError, match=r"\[cert_auth\] ca_file: .*cannot read"):
        crl.from_settings(SettingsLike(path, str(tmp_path / "absent.pem")))


def test_one_revocation_list_per_file_is_shared_in_a_process(ca, tmp_path):
    path = write(tmp_path / "crl.pem", ca.crl())
    try:
        first = crl.from_settings(SettingsLike(path), ca_file=ca.file)
        assert crl.from_settings(SettingsLike(path)) is first  # cert_auth reuses the server's
    finally:
        crl.forget_shared()
