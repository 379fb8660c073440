"""cert_auth with ``[cert_auth] crl_file``: a revoked certificate gets 401, an old CRL refuses all.

Certificates and CRLs come from the dev PKI; the environ is what mod_ssl (and the embedded
server) make of a real certificate (``tls_environ.client_environ``).
"""
from __future__ import annotations

import datetime
import logging
import os
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from keystone_lite import pki, tls_environ
from keystone_lite.certificates.crl import RevocationList
from keystone_lite.middleware.cert_auth import Refused, RevocationUnknown, check_revocation
from keystone_lite.settings import ConfigError

from builders import external_auth

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


class DevPki:
    def __init__(self, directory: str):
        self.directory = directory
        pki.ensure_ca(directory)
        self.ca_file = os.path.join(directory, "ca.crt")
        self.crl_file = os.path.join(directory, "crl.pem")

    def certificate(self, name: str, uid: str | None = None) -> x509.Certificate:
        issued = pki.issue_client_certificate(self.directory, name, uids=(uid or name,))
        with open(issued.certificate, "rb") as handle:
            return x509.load_pem_x509_certificate(handle.read())

    def publish(self, *revoked: x509.Certificate, stale: bool = False) -> None:
        ca_certificate, ca_key = pki.load_ca(self.directory)
        dates = (NOW - 2 * DAY, NOW - DAY) if stale else (NOW - DAY, NOW + DAY)
        crl = pki.build_crl(ca_certificate, ca_key, {c.serial_number: NOW - DAY for c in revoked},
                            *dates)
        with open(self.crl_file + ".new", "wb") as handle:
            handle.write(crl.public_bytes(serialization.Encoding.PEM))
        os.replace(self.crl_file + ".new", self.crl_file)


def environ_of(certificate: x509.Certificate) -> dict:
    return tls_environ.client_environ(certificate.public_bytes(serialization.Encoding.DER),
                                      "SSL_CLIENT_S_DN_UID")


@pytest.fixture
def dev_pki(tmp_path) -> DevPki:
    return DevPki(str(tmp_path / "pki"))


# -- check_revocation, with plain dicts ------------------------------------------------------------

def test_revoked_certificate_is_refused_naming_its_serial_and_issuer(dev_pki):
    alice = dev_pki.certificate("alice")
    dev_pki.publish(alice)
    revocations = RevocationList(dev_pki.crl_file, dev_pki.ca_file)
    with pytest.raises(Refused) as refused:
        check_revocation(environ_of(alice), None, revocations)
    serial = tls_environ.serial_string(alice.serial_number)
    assert str(refused.value) == (f"certificate serial {serial} of issuer 'CN=keystone_lite "
                                  "dev CA,O=keystone_lite dev' is revoked (crl_file)")


def test_revoked_certificate_known_only_by_serial_and_issuer_dn_is_refused(dev_pki):
    alice = dev_pki.certificate("alice")
    dev_pki.publish(alice)
    environ = environ_of(alice)
    del environ["SSL_CLIENT_CERT"]  # SSLOptions without +ExportCertData
    with pytest.raises(Refused, match="is revoked"):
        check_revocation(environ, None, RevocationList(dev_pki.crl_file, dev_pki.ca_file))


def test_certificate_not_listed_passes(dev_pki):
    alice, bob = dev_pki.certificate("alice"), dev_pki.certificate("bob")
    dev_pki.publish(alice)
    assert check_revocation(environ_of(bob), None,
                            RevocationList(dev_pki.crl_file, dev_pki.ca_file)) is None


def test_request_without_a_client_certificate_passes(dev_pki):
    dev_pki.publish()
    assert check_revocation({"SSL_CLIENT_VERIFY": "NONE"}, None,
                            RevocationList(dev_pki.crl_file, dev_pki.ca_file)) is None


def test_verified_client_without_certificate_or_serial_in_the_environ_is_refused(dev_pki):
    dev_pki.publish()
    with pytest.raises(Refused, match="neither SSL_CLIENT_CERT nor SSL_CLIENT_M_SERIAL"):
        check_revocation({"SSL_CLIENT_VERIFY": "SUCCESS", "REMOTE_USER": "alice"}, None,
                         RevocationList(dev_pki.crl_file, dev_pki.ca_file))


@pytest.mark.parametrize("serial", ["", "0x1F", "1_F", "zz", " 1F"])
def test_serial_that_is_not_hex_is_refused(dev_pki, serial):
    dev_pki.publish()
    environ = {"SSL_CLIENT_VERIFY": "SUCCESS", "SSL_CLIENT_M_SERIAL": serial,
               "SSL_CLIENT_I_DN": "CN=keystone_lite dev CA,O=keystone_lite dev"}
    with pytest.raises(Refused, match="is not a serial"):
        check_revocation(environ, None, RevocationList(dev_pki.crl_file, dev_pki.ca_file))


def test_out_of_date_crl_makes_every_certificate_unknown_without_naming_the_file_to_clients(
        dev_pki):
    alice = dev_pki.certificate("alice")
    dev_pki.publish(stale=True)
    with pytest.raises(RevocationUnknown) as unknown:
        check_revocation(environ_of(alice), None,
                         RevocationList(dev_pki.crl_file, dev_pki.ca_file))
    assert str(unknown.value) == "its revocation cannot be checked"
    assert "out of date" in unknown.value.reason


# -- the filter in the shipped pipeline ------------------------------------------------------------

@pytest.fixture
def crl_deployment(make_deployment, dev_pki):
    dev_pki.publish()
    return make_deployment({"cert_auth": {"crl_file": dev_pki.crl_file,
                                          "ca_file": dev_pki.ca_file}})


def login(deployment, certificate: x509.Certificate, status: int):
    return deployment.main.post_json("/v3/auth/tokens", external_auth(),
                                     extra_environ=environ_of(certificate), status=status)


def test_revoked_certificate_gets_401_json_and_a_warning_others_get_tokens(
        make_deployment, dev_pki, caplog):
    revoked, kept = dev_pki.certificate("old-admin", "admin"), dev_pki.certificate("admin")
    dev_pki.publish(revoked)
    deployment = make_deployment({"cert_auth": {"crl_file": dev_pki.crl_file,
                                                "ca_file": dev_pki.ca_file}})
    caplog.set_level(logging.WARNING, logger="keystone_lite")
    error = login(deployment, revoked, 401).json["error"]
    assert (error["code"], error["title"]) == (401, "Unauthorized")
    assert "is revoked" in error["message"]
    serial = tls_environ.serial_string(revoked.serial_number)
    assert any(f"certificate serial {serial} of issuer 'CN=keystone_lite dev CA" in r.message
               and r.levelno == logging.WARNING for r in caplog.records)
    assert login(deployment, kept, 201).headers["X-Subject-Token"]


def test_crl_replaced_while_running_refuses_the_newly_revoked_certificate(
        crl_deployment, dev_pki):
    admin = dev_pki.certificate("admin")
    login(crl_deployment, admin, 201)
    dev_pki.publish(admin)
    time.sleep(1.1)  # cert_auth looks at the file once a second at most
    login(crl_deployment, admin, 401)


def test_out_of_date_crl_refuses_everyone_with_one_error_line_for_many_requests(
        crl_deployment, dev_pki, caplog):
    admin = dev_pki.certificate("admin")
    caplog.set_level(logging.INFO, logger="keystone_lite")
    dev_pki.publish(stale=True)
    time.sleep(1.1)
    for _ in range(3):
        error = login(crl_deployment, admin, 401).json["error"]
        assert error["message"] == ("Client certificate refused: its revocation cannot be "
                                    "checked.")
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and "out of date" in errors[0].getMessage(), caplog.text


def test_malformed_crl_file_fails_app_load_naming_file_section_and_key(
        make_deployment, dev_pki):
    with open(dev_pki.crl_file, "wb") as handle:
        handle.write(b"not a CRL")
    with pytest.raises(ConfigError) as raised:
        make_deployment({"cert_auth": {"crl_file": dev_pki.crl_file}})
    message = str(raised.value)
    assert "keystone-lite.conf: [cert_auth] crl_file: " in message
    assert f"{dev_pki.crl_file}: neither PEM CRLs nor a DER CRL" in message


def test_without_crl_file_the_filter_checks_nothing(deployment, dev_pki):
    # A certificate of a CA with no CRL anywhere: accepted as before this option existed.
    login(deployment, dev_pki.certificate("admin"), 201)
