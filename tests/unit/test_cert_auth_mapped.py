"""cert_auth with mapping rules configured: a verified certificate without the user attribute
(no UID: a SAN-only certificate, say) is an identity too, for the rules to name; everything else
cert_auth checks still applies, and without rules nothing changes."""
from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization

import cert_builders
from cert_builders import certificate, name
from keystone_lite.dn import normalise_dn
from keystone_lite.middleware.cert_auth import Refused, identity_from_environ


def without_uid(**changes) -> tuple:
    cert = certificate(name(("O", "Example"), ("CN", "Frank")), emails=("frank@example.test",))
    environ = cert_builders.environ(cert)
    environ.update(changes)
    return cert, {key: value for key, value in environ.items() if value is not None}


def test_without_rules_a_certificate_without_the_user_attribute_is_anonymous():
    _cert, environ = without_uid()
    assert "REMOTE_USER" not in environ
    assert identity_from_environ(environ) is None


def test_with_rules_it_is_an_identity_named_by_its_subject_for_the_logs():
    cert, environ = without_uid()
    identity = identity_from_environ(environ, mapped=True)
    assert identity.remote_user == "CN=Frank,O=Example"
    assert identity.remote_domain is None
    assert identity.sha256 == hashlib.sha256(
        cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def test_with_rules_an_empty_subject_is_named_by_the_thumbprint():
    cert = certificate(name(), emails=("svc@example.test",))
    identity = identity_from_environ(cert_builders.environ(cert), mapped=True)
    assert identity.remote_user == f"SHA256:{identity.sha256}"


@pytest.mark.parametrize("verify", [None, "NONE", "FAILED:unable to get issuer"])
def test_with_rules_a_certificate_the_server_did_not_verify_is_refused(verify):
    _cert, environ = without_uid(SSL_CLIENT_VERIFY=verify)
    with pytest.raises(Refused, match="verification is"):
        identity_from_environ(environ, mapped=True)


def test_with_rules_trusted_issuers_still_apply():
    _cert, environ = without_uid()
    with pytest.raises(Refused, match="is not in trusted_issuers"):
        identity_from_environ(environ, trusted_issuers=(normalise_dn("CN=Other CA"),),
                              mapped=True)
    assert identity_from_environ(environ, trusted_issuers=(
        normalise_dn("CN=Corp CA,O=Example"),), mapped=True) is not None


def test_with_rules_no_certificate_is_still_anonymous():
    assert identity_from_environ({"SSL_CLIENT_VERIFY": "NONE"}, mapped=True) is None


def test_with_rules_a_repeated_uid_is_left_to_the_rules():
    cert = certificate(name(("UID", "alice"), ("UID", "mallory")))
    environ = cert_builders.environ(cert)
    with pytest.raises(Refused, match="names more than one user"):
        identity_from_environ(environ)
    assert identity_from_environ(environ, mapped=True).remote_user == "alice"
