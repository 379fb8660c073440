"""A certificate's assertion: Keystone's SSL_CLIENT_SUBJECT_DN_*/ISSUER_DN_* names, every value of
a repeated attribute, the alternative names, the serial and the thumbprint."""
from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization

from cert_builders import certificate, name
from keystone_lite.certificates.assertion import assertion_from_certificate, read_certificate


def test_subject_and_issuer_attributes_have_keystones_oauth2_names():
    cert = certificate(name(("C", "FR"), ("O", "Example"), ("UID", "alice"),
                            ("emailAddress", "alice@example.test"), ("serialNumber", "42"),
                            ("CN", "Alice")))
    assertion = assertion_from_certificate(cert)
    assert assertion["SSL_CLIENT_SUBJECT_DN_C"] == "FR"
    assert assertion["SSL_CLIENT_SUBJECT_DN_O"] == "Example"
    assert assertion["SSL_CLIENT_SUBJECT_DN_UID"] == "alice"
    assert assertion["SSL_CLIENT_SUBJECT_DN_CN"] == "Alice"
    # keystone.common.utils.ATTR_NAME_OVERRIDES, upper-cased by os_oauth2.py; dotted OIDs else.
    assert assertion["SSL_CLIENT_SUBJECT_DN_EMAILADDRESS"] == "alice@example.test"
    assert assertion["SSL_CLIENT_SUBJECT_DN_2.5.4.5"] == "42"
    assert assertion["SSL_CLIENT_ISSUER_DN_CN"] == "Corp CA"
    assert assertion["SSL_CLIENT_ISSUER_DN_O"] == "Example"
    assert assertion["SSL_CLIENT_S_DN"] == (
        "CN=Alice,serialNumber=42,emailAddress=alice@example.test,UID=alice,O=Example,C=FR")
    assert assertion["SSL_CLIENT_I_DN"] == "CN=Corp CA,O=Example"


def test_repeated_attribute_keeps_every_value_joined_with_semicolons():
    cert = certificate(name(("O", "Example"), ("OU", "ops"), ("OU", "dev"), ("CN", "bob")))
    assert assertion_from_certificate(cert)["SSL_CLIENT_SUBJECT_DN_OU"] == "ops;dev"


def test_values_are_the_attributes_own_text_not_rfc4514_escaped():
    cert = certificate(name(("O", "Example, Inc."), ("CN", "a=b+c")))
    assertion = assertion_from_certificate(cert)
    assert assertion["SSL_CLIENT_SUBJECT_DN_O"] == "Example, Inc."
    assert assertion["SSL_CLIENT_SUBJECT_DN_CN"] == "a=b+c"


def test_alternative_names_of_each_kind_serial_and_thumbprint():
    cert = certificate(name(("CN", "svc")), emails=("a@example.test", "b@example.test"),
                       dns=("svc.example.test",), uris=("spiffe://example.test/svc",),
                       upns=("svc@corp.example.test",), serial=0xABCDEF)
    assertion = assertion_from_certificate(cert)
    assert assertion["SSL_CLIENT_SAN_EMAIL"] == "a@example.test;b@example.test"
    assert assertion["SSL_CLIENT_SAN_DNS"] == "svc.example.test"
    assert assertion["SSL_CLIENT_SAN_URI"] == "spiffe://example.test/svc"
    assert assertion["SSL_CLIENT_SAN_UPN"] == "svc@corp.example.test"
    assert assertion["SSL_CLIENT_M_SERIAL"] == "ABCDEF"  # as mod_ssl's SSL_CLIENT_M_SERIAL
    der = cert.public_bytes(serialization.Encoding.DER)
    assert assertion["SSL_CLIENT_CERT_SHA256"] == hashlib.sha256(der).hexdigest()


def test_a_certificate_without_alternative_names_has_no_san_keys():
    assertion = assertion_from_certificate(certificate(name(("CN", "alice"))))
    assert not any(key.startswith("SSL_CLIENT_SAN_") for key in assertion)
    assert "SSL_CLIENT_SUBJECT_DN_UID" not in assertion


def test_a_value_holding_a_semicolon_leaves_its_whole_key_out_with_the_reason():
    # Read as two values, "contractors;staff" could pass a not_any_of on "contractors".
    cert = certificate(name(("OU", "staff"), ("OU", "contractors;staff"), ("CN", "eve")))
    reading = read_certificate(cert)
    assert "SSL_CLIENT_SUBJECT_DN_OU" not in reading.assertion
    assert "would read as two values" in reading.left_out["SSL_CLIENT_SUBJECT_DN_OU"]
    assert reading.assertion["SSL_CLIENT_SUBJECT_DN_CN"] == "eve"


def test_a_value_holding_a_control_character_leaves_its_key_out():
    reading = read_certificate(certificate(name(("CN", "eve\nadmin"))))
    assert "SSL_CLIENT_SUBJECT_DN_CN" not in reading.assertion
    assert "non-printing" in reading.left_out["SSL_CLIENT_SUBJECT_DN_CN"]
