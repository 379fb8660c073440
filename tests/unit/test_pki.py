"""The development PKI makes real certificates that verify the way TLS servers and clients check."""
from __future__ import annotations

import ipaddress
import os
import stat

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
