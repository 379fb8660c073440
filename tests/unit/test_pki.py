"""The development PKI makes real certificates that verify the way TLS servers and clients check."""
from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (Criticality, DNSName, ExtensionPolicy, IPAddress,
                                             PolicyBuilder, Store)

from keystone_lite import pki
from keystone_lite.cli import manage


def load(path: str) -> x509.Certificate:
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def client_verifier(ca: x509.Certificate):
    """A TLS-server-side check of client certificates; ours, like most, carry no SAN."""
    end_entity = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    return (PolicyBuilder().store(Store([ca]))
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                                ee_policy=end_entity)
            .build_client_verifier())


@pytest.fixture
def directory(tmp_path) -> str:
    path = str(tmp_path / "pki")
    pki.ensure_ca(path)
    return path


def test_ca_is_a_self_signed_certificate_authority(directory):
    ca = load(os.path.join(directory, "ca.crt"))
    ca.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign


def test_server_certificate_verifies_for_localhost_loopback_and_given_names(directory):
    issued = pki.ensure_server_certificate(directory, ["keystone.example.test", "10.1.2.3"])
    certificate, ca = load(issued.certificate), load(os.path.join(directory, "ca.crt"))
    for name in (DNSName("localhost"), IPAddress(ipaddress.ip_address("127.0.0.1")),
                 DNSName("keystone.example.test"), IPAddress(ipaddress.ip_address("10.1.2.3"))):
        chain = PolicyBuilder().store(Store([ca])).build_server_verifier(name).verify(
            certificate, [])
        assert chain[-1] == ca
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_client_certificate_names_the_user_in_uid_and_verifies_for_client_auth(directory):
    issued = pki.issue_client_certificate(directory, "alice")
    certificate, ca = load(issued.certificate), load(os.path.join(directory, "ca.crt"))
    verified = client_verifier(ca).verify(certificate, [])
    assert verified.chain[-1] == ca
    subject = certificate.subject
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.USER_ID)] == ["alice"]
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["alice"]
    assert subject.rfc4514_string() == "CN=alice,UID=alice,O=keystone_lite dev"
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_client_certificate_is_not_a_server_certificate(directory):
    issued = pki.issue_client_certificate(directory, "alice")
    ca = load(os.path.join(directory, "ca.crt"))
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(DNSName("localhost"))
    with pytest.raises(x509.verification.VerificationError):
        verifier.verify(load(issued.certificate), [])


def test_combined_pem_holds_the_certificate_and_its_key(directory):
    issued = pki.issue_client_certificate(directory, "alice")
    combined = read(issued.combined)
    key = serialization.load_pem_private_key(combined, password=None)
    certificate = x509.load_pem_x509_certificate(combined)
    assert certificate == load(issued.certificate)
    assert key.public_key() == certificate.public_key()


def test_pkcs12_without_password_holds_key_certificate_and_ca(directory):
    issued = pki.issue_client_certificate(directory, "alice")
    bundle = pkcs12.load_pkcs12(read(issued.pkcs12), None)
    assert bundle.cert.certificate == load(issued.certificate)
    assert bundle.key.public_key() == bundle.cert.certificate.public_key()
    assert [extra.certificate for extra in bundle.additional_certs] == [
        load(os.path.join(directory, "ca.crt"))]


def test_pkcs12_with_password_needs_it(directory):
    issued = pki.issue_client_certificate(directory, "alice", p12_password="s3cret")
    assert pkcs12.load_pkcs12(read(issued.pkcs12), b"s3cret").cert.friendly_name == b"alice"
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(read(issued.pkcs12), b"wrong")


def test_every_file_is_0600_in_0700_directories(directory):
    pki.ensure_server_certificate(directory)
    pki.issue_client_certificate(directory, "alice", p12_password="pw")
    files = []
    for root, directories, names in os.walk(directory):
        assert stat.S_IMODE(os.stat(root).st_mode) == 0o700, root
        files += [os.path.join(root, name) for name in names]
    assert len(files) == 8
    assert {path: stat.S_IMODE(os.stat(path).st_mode) for path in files} == dict.fromkeys(
        files, 0o600)


def test_rerun_keeps_ca_and_server_certificate(directory):
    pki.ensure_server_certificate(directory)
    paths = [os.path.join(directory, name) for name in ("ca.crt", "ca.key", "server.crt")]
    before = {path: read(path) for path in paths}
    again_ca, again_server = pki.ensure_ca(directory), pki.ensure_server_certificate(directory)
    assert (again_ca.created, again_server.created) == (False, False)
    assert {path: read(path) for path in before} == before


def test_new_server_name_reissues_server_certificate_under_the_same_ca(directory):
    ca_before = read(os.path.join(directory, "ca.crt"))
    pki.ensure_server_certificate(directory)
    reissued = pki.ensure_server_certificate(directory, ["new.example.test"])
    assert reissued.created
    assert read(os.path.join(directory, "ca.crt")) == ca_before
    names = load(reissued.certificate).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert names == ["localhost", "new.example.test"]


def test_ca_certificate_without_its_key_is_an_error_and_is_not_replaced(directory):
    os.unlink(os.path.join(directory, "ca.key"))
    certificate = read(os.path.join(directory, "ca.crt"))
    with pytest.raises(pki.PKIError, match="ca.key: missing"):
        pki.ensure_ca(directory)
    assert read(os.path.join(directory, "ca.crt")) == certificate


def test_client_keep_existing_reuses_files_and_default_reissues(directory):
    first = pki.issue_client_certificate(directory, "alice")
    original = read(first.certificate)
    kept = pki.issue_client_certificate(directory, "alice", keep_existing=True)
    assert not kept.created and read(kept.certificate) == original
    assert read(pki.issue_client_certificate(directory, "alice").certificate) != original


@pytest.mark.parametrize("user", ["../alice", "", ".hidden", "a b", "x" * 65])
def test_user_name_unfit_for_a_file_name_is_refused(directory, user):
    with pytest.raises(pki.PKIError, match="cannot be used"):
        pki.issue_client_certificate(directory, user)


def test_cli_setup_then_client_under_data_dir(tmp_path, capsys):
    config = tmp_path / "keystone-lite.conf"
    config.write_text("[DEFAULT]\ndata_dir = data\n")
    run = ["--config-file", str(config), "pki"]
    assert manage.main([*run, "setup", "--name", "keystone.example.test"]) == 0
    assert manage.main([*run, "setup", "--name", "keystone.example.test"]) == 0
    assert manage.main([*run, "client", "alice"]) == 0
    out = capsys.readouterr().out
    directory = tmp_path / "data" / "pki"
    assert f"CA: created {directory / 'ca.crt'}" in out
    assert f"CA: kept existing {directory / 'ca.crt'}" in out
    assert out.count("server certificate: kept existing") == 1
    assert f"(curl --cert): {directory / 'clients' / 'alice.pem'}" in out
    client_verifier(load(str(directory / "ca.crt"))).verify(
        load(str(directory / "clients" / "alice.crt")), [])


def test_cli_client_without_ca_fails_with_one_line(tmp_path, capsys):
    config = tmp_path / "keystone-lite.conf"
    config.write_text("[DEFAULT]\ndata_dir = data\n")
    with pytest.raises(SystemExit) as exit_:
        manage.main(["--config-file", str(config), "pki", "client", "alice"])
    assert str(exit_.value) == (f"keystone-lite-manage pki client: {tmp_path}/data/pki/ca.crt: "
                                "missing; run keystone-lite-manage pki setup")


def test_client_certificate_with_chosen_uids_keeps_them_exactly_and_in_order(directory):
    issued = pki.issue_client_certificate(directory, "odd", uids=("admin ", "zoë\u3000"))
    subject = load(issued.certificate).subject
    assert [attribute.value for attribute in subject.get_attributes_for_oid(
        NameOID.USER_ID)] == ["admin ", "zoë\u3000"]
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "odd"


@pytest.mark.parametrize("uids", [(), ("",), ("alice", "")])
def test_client_certificate_needs_non_empty_uids(directory, uids):
    with pytest.raises(pki.PKIError, match="UIDs"):
        pki.issue_client_certificate(directory, "odd", uids=uids)


# -- subject alternative names, revocation and CRLs ------------------------------------------------

def openssl(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *argv], capture_output=True, text=True, timeout=30)


@pytest.fixture
def manage_pki(tmp_path):
    """``keystone-lite-manage ... pki ARGS`` on a deployment whose PKI is set up."""
    config = tmp_path / "keystone-lite.conf"
    config.write_text("[DEFAULT]\ndata_dir = data\n")

    def run(*argv: str) -> int:
        return manage.main(["--config-file", str(config), "pki", *argv])

    assert run("setup") == 0
    run.directory = str(tmp_path / "data" / "pki")
    return run


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")
def test_cli_client_with_san_options_puts_each_name_in_the_certificate(manage_pki):
    long_upn = "u" * 130 + "@corp.example"  # a DER length of more than one byte
    assert manage_pki("client", "alice", "--email", "alice@example.com", "--dns",
                      "alice.example.com", "--uri", "https://example.com/alice",
                      "--upn", "alice@CORP.EXAMPLE", "--upn", long_upn) == 0
    path = os.path.join(manage_pki.directory, "clients", "alice.crt")
    names = load(path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.RFC822Name) == ["alice@example.com"]
    assert names.get_values_for_type(x509.DNSName) == ["alice.example.com"]
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == [
        "https://example.com/alice"]
    # OpenSSL decodes the otherName values as Microsoft UPNs (UTF8String).
    text = openssl("x509", "-in", path, "-noout", "-ext", "subjectAltName").stdout
    assert "UPN::alice@CORP.EXAMPLE" in text and f"UPN::{long_upn}" in text, text
    client_verifier(load(os.path.join(manage_pki.directory, "ca.crt"))).verify(load(path), [])


def test_client_certificate_without_san_options_has_no_san_extension(directory):
    issued = pki.issue_client_certificate(directory, "alice")
    with pytest.raises(x509.ExtensionNotFound):
        load(issued.certificate).extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_unencodable_san_is_a_pki_error(directory):
    with pytest.raises(pki.PKIError, match="subject alternative name"):
        pki.issue_client_certificate(directory, "alice", alternative_names=pki.AlternativeNames(
            dns_names=("bücher.example",)))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")
def test_revoke_then_crl_lists_the_serial_in_a_crl_openssl_verifies(manage_pki, capsys):
    for user in ("alice", "bob"):
        assert manage_pki("client", user) == 0
    assert manage_pki("revoke", "alice") == 0
    assert manage_pki("crl", "--days", "3") == 0
    out = capsys.readouterr().out
    directory = manage_pki.directory
    ca, crl_path = os.path.join(directory, "ca.crt"), os.path.join(directory, "crl.pem")
    alice, bob = (os.path.join(directory, "clients", f"{user}.crt") for user in ("alice", "bob"))
    assert f"CRL: {crl_path} (1 revoked serial(s), next update" in out
    assert stat.S_IMODE(os.stat(crl_path).st_mode) == 0o644  # public, for the web server
    revocation_list = x509.load_pem_x509_crl(read(crl_path))
    assert revocation_list.is_signature_valid(load(ca).public_key())
    assert [entry.serial_number for entry in revocation_list] == [load(alice).serial_number]
    remaining = revocation_list.next_update_utc - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=2, hours=23) < remaining <= datetime.timedelta(days=3)
    assert "verify OK" in openssl("crl", "-in", crl_path, "-CAfile", ca, "-noout").stderr
    revoked = openssl("verify", "-crl_check", "-CAfile", ca, "-CRLfile", crl_path, alice)
    assert revoked.returncode != 0 and "certificate revoked" in revoked.stdout + revoked.stderr
    assert openssl("verify", "-crl_check", "-CAfile", ca, "-CRLfile", crl_path,
                   bob).returncode == 0


def test_revoking_twice_says_it_was_revoked_already(manage_pki, capsys):
    assert manage_pki("client", "alice") == 0
    assert manage_pki("revoke", "alice") == 0
    assert manage_pki("revoke", "alice") == 0
    assert "was already revoked" in capsys.readouterr().out
    assert len(pki.revoked_serials(manage_pki.directory)) == 1


def test_revoking_a_user_without_certificate_fails_with_one_line(manage_pki):
    with pytest.raises(SystemExit) as exit_:
        manage_pki("revoke", "nobody")
    assert str(exit_.value).startswith("keystone-lite-manage pki revoke: ")
    assert "no certificate of 'nobody' to revoke" in str(exit_.value)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")
def test_cli_crl_next_update_in_past_writes_a_crl_openssl_calls_expired(manage_pki):
    assert manage_pki("client", "alice") == 0
    out = os.path.join(manage_pki.directory, "stale.pem")
    assert manage_pki("crl", "--next-update-in-past", "--out", out) == 0
    ca = os.path.join(manage_pki.directory, "ca.crt")
    result = openssl("verify", "-crl_check", "-CAfile", ca, "-CRLfile", out,
                     os.path.join(manage_pki.directory, "clients", "alice.crt"))
    assert result.returncode != 0 and "CRL has expired" in result.stdout + result.stderr


def test_cli_crl_der_writes_one_der_crl(manage_pki):
    assert manage_pki("crl", "--der") == 0
    revocation_list = x509.load_der_x509_crl(read(os.path.join(manage_pki.directory,
                                                               "crl.der")))
    assert list(revocation_list) == []


def test_cli_crl_of_zero_days_is_refused(manage_pki):
    with pytest.raises(SystemExit, match="at least a day"):
        manage_pki("crl", "--days", "0")
