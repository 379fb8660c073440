"""The embedded server's environ keys are spelled the way mod_ssl (OpenSSL) spells them."""
from __future__ import annotations

import datetime
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from keystone_lite import tls_environ

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="the openssl command is the reference")


def certificate(subject: x509.Name, serial: int = 0x1F4,
                emails=(), dns_names=()) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example CA"),
                        x509.NameAttribute(NameOID.COMMON_NAME, "Root, the first")])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(serial)
               .not_valid_before(datetime.datetime(2025, 3, 7, 9, 5, 1))
               .not_valid_after(datetime.datetime(2035, 11, 27, 23, 0, 0)))
    if emails or dns_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [*map(x509.RFC822Name, emails), *map(x509.DNSName, dns_names)]), critical=False)
    return builder.sign(key, hashes.SHA256())


TRICKY = x509.Name([
    x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example, Inc."),
    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Ops"),
    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Cloud+Platform"),
    x509.NameAttribute(NameOID.EMAIL_ADDRESS, "zoe@example.test"),
    x509.NameAttribute(NameOID.USER_ID, "zoë"),
    x509.NameAttribute(NameOID.COMMON_NAME, "Zoë \"Z\" <Admin>; #1"),
])


def openssl(cert: x509.Certificate, *options: str) -> str:
    """What ``openssl x509`` prints: mod_ssl formats with the same OpenSSL functions."""
    result = subprocess.run(["openssl", "x509", "-noout", *options], check=True, timeout=10,
                            input=cert.public_bytes(serialization.Encoding.PEM),
                            capture_output=True)
    return result.stdout.decode("utf-8").strip()


@needs_openssl
def test_distinguished_names_are_openssl_rfc2253_without_utf8_escapes():
    cert = certificate(TRICKY)
    environ = tls_environ.certificate_environ("SSL_CLIENT", cert)
    assert "subject=" + environ["SSL_CLIENT_S_DN"] == openssl(
        cert, "-subject", "-nameopt", "RFC2253,-esc_msb")
    assert "issuer=" + environ["SSL_CLIENT_I_DN"] == openssl(
        cert, "-issuer", "-nameopt", "RFC2253,-esc_msb")


@needs_openssl
@pytest.mark.parametrize("serial", [0x0A, 0x1F4, 0x80, 2**159 - 1, 0x00FF00])
def test_serial_is_upper_case_hex_of_whole_bytes(serial):
    cert = certificate(TRICKY, serial=serial)
    environ = tls_environ.certificate_environ("SSL_CLIENT", cert)
    assert "serial=" + environ["SSL_CLIENT_M_SERIAL"] == openssl(cert, "-serial")


@needs_openssl
def test_validity_times_are_printed_like_asn1_time_print():
    cert = certificate(TRICKY)
    environ = tls_environ.certificate_environ("SSL_CLIENT", cert)
    assert environ["SSL_CLIENT_V_START"] == "Mar  7 09:05:01 2025 GMT"
    assert (f"notBefore={environ['SSL_CLIENT_V_START']}\n"
            f"notAfter={environ['SSL_CLIENT_V_END']}") == openssl(cert, "-startdate", "-enddate")


def test_dn_attributes_use_mod_ssl_tags_numbering_repeats():
    environ = tls_environ.certificate_environ("SSL_CLIENT", certificate(TRICKY))
    parts = {key: value for key, value in environ.items()
             if key.startswith("SSL_CLIENT_S_DN_")}
    assert parts == {"SSL_CLIENT_S_DN_C": "FR", "SSL_CLIENT_S_DN_O": "Example, Inc.",
                     "SSL_CLIENT_S_DN_OU": "Ops", "SSL_CLIENT_S_DN_OU_1": "Cloud+Platform",
                     "SSL_CLIENT_S_DN_Email": "zoe@example.test",
                     "SSL_CLIENT_S_DN_UID": "zoë",
                     "SSL_CLIENT_S_DN_CN": "Zoë \"Z\" <Admin>; #1"}
    assert environ["SSL_CLIENT_I_DN_CN"] == "Root, the first"


def test_control_characters_in_attributes_are_escaped():
    name = x509.Name([x509.NameAttribute(NameOID.USER_ID, "alice\nREMOTE_USER=bob")])
    environ = tls_environ.certificate_environ("SSL_CLIENT", certificate(name))
    assert environ["SSL_CLIENT_S_DN_UID"] == "alice\\0AREMOTE_USER=bob"


def test_subject_alternative_names_are_numbered_per_kind():
    cert = certificate(TRICKY, emails=["a@example.test", "b@example.test"],
                       dns_names=["host.example.test"])
    environ = tls_environ.certificate_environ("SSL_CLIENT", cert)
    assert {key: value for key, value in environ.items() if "_SAN_" in key} == {
        "SSL_CLIENT_SAN_Email_0": "a@example.test", "SSL_CLIENT_SAN_Email_1": "b@example.test",
        "SSL_CLIENT_SAN_DNS_0": "host.example.test"}


def test_version_remaining_days_and_pem():
    cert = certificate(TRICKY)
    now = datetime.datetime(2035, 11, 17, 23, 0, 1, tzinfo=datetime.timezone.utc)
    environ = tls_environ.certificate_environ("SSL_CLIENT", cert, now=now)
    assert environ["SSL_CLIENT_M_VERSION"] == "3"
    assert environ["SSL_CLIENT_V_REMAIN"] == "9"
    assert x509.load_pem_x509_certificate(environ["SSL_CLIENT_CERT"].encode()) == cert


def test_verified_client_sets_remote_user_from_the_configured_attribute():
    der = certificate(TRICKY).public_bytes(serialization.Encoding.DER)
    environ = tls_environ.client_environ(der, "SSL_CLIENT_S_DN_UID")
    assert (environ["SSL_CLIENT_VERIFY"], environ["REMOTE_USER"]) == ("SUCCESS", "zoë")
    assert tls_environ.client_environ(der, "SSL_CLIENT_S_DN_Email")["REMOTE_USER"] == (
        "zoe@example.test")


def test_certificate_without_the_attribute_sets_no_remote_user():
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no uid here")])
    der = certificate(name).public_bytes(serialization.Encoding.DER)
    environ = tls_environ.client_environ(der, "SSL_CLIENT_S_DN_UID")
    assert "REMOTE_USER" not in environ and environ["SSL_CLIENT_S_DN_CN"] == "no uid here"


def test_no_client_certificate_means_verify_none_and_no_identity():
    assert tls_environ.client_environ(None, "SSL_CLIENT_S_DN_UID") == {
        "SSL_CLIENT_VERIFY": "NONE"}


def test_replace_drops_every_server_key_not_from_tls_and_keeps_headers():
    environ = {"REMOTE_USER": "bob", "REMOTE_DOMAIN": "evil", "AUTH_TYPE": "Basic",
               "SSL_CLIENT_S_DN_UID": "bob", "SSL_CLIENT_VERIFY": "SUCCESS", "HTTPS": "on",
               "HTTP_REMOTE_USER": "bob", "HTTP_SSL_CLIENT_S_DN_UID": "bob",
               "PATH_INFO": "/v3"}
    tls_environ.replace(environ, {"SSL_CLIENT_VERIFY": "NONE", "HTTPS": "on"})
    assert environ == {"SSL_CLIENT_VERIFY": "NONE", "HTTPS": "on",
                       "HTTP_REMOTE_USER": "bob", "HTTP_SSL_CLIENT_S_DN_UID": "bob",
                       "PATH_INFO": "/v3"}


def test_replace_hands_values_over_as_pep_3333_native_strings_like_mod_wsgi():
    environ = {}
    tls_environ.replace(environ, {"REMOTE_USER": "zoë", "SSL_CLIENT_S_DN_UID": "admin\u3000"})
    assert environ == {"REMOTE_USER": "zo\u00c3\u00ab",
                       "SSL_CLIENT_S_DN_UID": "admin\u00e3\u0080\u0080"}
