"""cert_auth: identity_from_environ with plain dicts, normalise_dn, and the filter itself."""
from __future__ import annotations

import datetime
import logging

import pytest
import webob
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from keystone_lite.context import get_context
from keystone_lite.tls_environ import dn_string
from keystone_lite.middleware.cert_auth import (
    CertAuthMiddleware, Identity, Refused, identity_from_environ, normalise_dn)
from keystone_lite.settings import ConfigError

from builders import CERT_ENVIRON, cert_environ, external_auth, issue

DEV_CA = "CN=keystone-lite dev CA,O=keystone_lite"
TRUSTED = (normalise_dn(DEV_CA),)


def self_signed_pem(common_name: str = "alice") -> tuple[str, x509.Certificate]:
    """A real self-signed certificate, as mod_ssl exports it in SSL_CLIENT_CERT."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.USER_ID, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"), certificate


# -- who the request is from --------------------------------------------------------------------

def test_remote_user_set_by_server_is_the_identity():
    identity = identity_from_environ(cert_environ("alice"))
    assert identity.remote_user == "alice"


def test_default_attribute_used_when_remote_user_absent():
    environ = {**CERT_ENVIRON, "SSL_CLIENT_S_DN_UID": "alice"}
    assert identity_from_environ(environ).remote_user == "alice"


def test_configured_attribute_used_when_remote_user_absent():
    environ = {**CERT_ENVIRON, "SSL_CLIENT_S_DN_CN": "alice", "SSL_CLIENT_S_DN_UID": "bob"}
    identity = identity_from_environ(environ, user_attribute="SSL_CLIENT_S_DN_CN")
    assert identity.remote_user == "alice"


def test_remote_user_wins_over_the_attribute():
    environ = {**CERT_ENVIRON, "REMOTE_USER": "alice", "SSL_CLIENT_S_DN_UID": "bob"}
    assert identity_from_environ(environ).remote_user == "alice"


def test_remote_user_surrounding_whitespace_is_refused_not_trimmed():
    # Issue 10 finding 7: trimming made "admin " (a certificate's UID) log in as admin.
    with pytest.raises(Refused, match="white space"):
        identity_from_environ({"REMOTE_USER": " alice "})


def test_remote_domain_is_carried_into_identity():
    identity = identity_from_environ({**cert_environ("alice"), "REMOTE_DOMAIN": "corp"})
    assert identity.remote_domain == "corp"


def test_no_identity_keys_means_anonymous():
    assert identity_from_environ({"REQUEST_METHOD": "GET", "PATH_INFO": "/v3"}) is None


def test_certificate_details_without_a_user_name_mean_anonymous():
    assert identity_from_environ(dict(CERT_ENVIRON)) is None


# -- spoofing: HTTP headers arrive as HTTP_* keys and must never authenticate -----------------

def test_remote_user_header_does_not_authenticate():
    assert identity_from_environ({"HTTP_REMOTE_USER": "admin"}) is None


def test_x_remote_user_header_does_not_authenticate():
    assert identity_from_environ({"HTTP_X_REMOTE_USER": "admin"}) is None


def test_x_ssl_client_s_dn_uid_header_does_not_authenticate():
    assert identity_from_environ({"HTTP_X_SSL_CLIENT_S_DN_UID": "admin"}) is None


def test_ssl_client_s_dn_uid_header_does_not_authenticate():
    assert identity_from_environ({"HTTP_SSL_CLIENT_S_DN_UID": "admin"}) is None


def test_spoofed_verify_header_does_not_rescue_a_failed_verification():
    environ = {**cert_environ("alice"), "SSL_CLIENT_VERIFY": "NONE",
               "HTTP_SSL_CLIENT_VERIFY": "SUCCESS"}
    with pytest.raises(Refused):
        identity_from_environ(environ)


# -- present but untrustworthy: refused, never anonymous --------------------------------------

@pytest.mark.parametrize("verify", ["NONE", "GENEROUS", "FAILED:unable to get issuer"])
def test_verification_other_than_success_is_refused_with_the_status(verify):
    with pytest.raises(Refused, match="verification") as refused:
        identity_from_environ({**cert_environ("alice"), "SSL_CLIENT_VERIFY": verify})
    assert verify in str(refused.value)


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_empty_or_whitespace_remote_user_is_refused(name):
    with pytest.raises(Refused, match="REMOTE_USER is empty"):
        identity_from_environ({**CERT_ENVIRON, "REMOTE_USER": name})


def test_empty_attribute_is_refused_naming_the_attribute():
    with pytest.raises(Refused, match="SSL_CLIENT_S_DN_UID is empty"):
        identity_from_environ({**CERT_ENVIRON, "SSL_CLIENT_S_DN_UID": " "})


def test_empty_remote_user_is_refused_even_when_the_attribute_is_set():
    with pytest.raises(Refused):
        identity_from_environ({**CERT_ENVIRON, "REMOTE_USER": "", "SSL_CLIENT_S_DN_UID": "bob"})


# -- trusted issuers ------------------------------------------------------------------------------

def test_issuer_in_rfc4514_form_is_accepted():
    environ = {**cert_environ("alice"), "SSL_CLIENT_I_DN": DEV_CA}
    assert identity_from_environ(environ, trusted_issuers=TRUSTED).remote_user == "alice"


def test_issuer_in_openssl_slash_form_is_accepted():
    environ = {**cert_environ("alice"),
               "SSL_CLIENT_I_DN": "/O=keystone_lite/CN=keystone-lite dev CA"}
    assert identity_from_environ(environ, trusted_issuers=TRUSTED).remote_user == "alice"


# Value case, spacing inside values and RDN order are significant (issue 10 finding 13; see
# test_issuer_match.py); the spelling of attribute types and spaces around separators are not.
@pytest.mark.parametrize("issuer", [
    "cn=keystone-lite dev CA,o=keystone_lite",
    "CN = keystone-lite dev CA , O = keystone_lite",
    "/o=keystone_lite/cn=keystone-lite dev CA",
])
def test_issuer_differing_in_type_case_or_separator_spacing_is_accepted(issuer):
    environ = {**cert_environ("alice"), "SSL_CLIENT_I_DN": issuer}
    assert identity_from_environ(environ, trusted_issuers=TRUSTED).remote_user == "alice"


@pytest.mark.parametrize("issuer", [
    "CN=evil CA,O=keystone_lite",
    "CN=keystone-lite dev CA,O=keystone_lite,OU=extra",
    "CN=keystone-lite dev CA",
])
def test_other_issuer_is_refused(issuer):
    environ = {**cert_environ("alice"), "SSL_CLIENT_I_DN": issuer}
    with pytest.raises(Refused, match="not in trusted_issuers"):
        identity_from_environ(environ, trusted_issuers=TRUSTED)


def test_missing_issuer_with_trusted_issuers_is_refused():
    environ = cert_environ("alice")
    del environ["SSL_CLIENT_I_DN"]
    with pytest.raises(Refused, match="SSL_CLIENT_I_DN"):
        identity_from_environ(environ, trusted_issuers=TRUSTED)


def test_unparsable_issuer_with_trusted_issuers_is_refused():
    environ = {**cert_environ("alice"), "SSL_CLIENT_I_DN": "no equals sign here"}
    with pytest.raises(Refused, match="cannot be parsed"):
        identity_from_environ(environ, trusted_issuers=TRUSTED)


def test_empty_slash_issuer_does_not_match_anything():
    environ = {**cert_environ("alice"), "SSL_CLIENT_I_DN": "/"}
    with pytest.raises(Refused):
        identity_from_environ(environ, trusted_issuers=TRUSTED)


def test_any_issuer_is_accepted_when_no_trusted_issuers_are_configured():
    environ = {**cert_environ("alice"), "SSL_CLIENT_I_DN": "CN=whatever CA"}
    assert identity_from_environ(environ).issuer_dn == "CN=whatever CA"


# -- certificate details --------------------------------------------------------------------------

def test_certificate_thumbprint_is_its_sha256_fingerprint():
    pem, certificate = self_signed_pem()
    identity = identity_from_environ({**cert_environ("alice"), "SSL_CLIENT_CERT": pem})
    assert identity.sha256 == certificate.fingerprint(hashes.SHA256()).hex()
    assert len(identity.sha256) == 64


@pytest.mark.parametrize("garbage", [
    "not a certificate",
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\nzé\n-----END CERTIFICATE-----\n",
])
def test_garbage_certificate_is_refused(garbage):
    with pytest.raises(Refused, match="SSL_CLIENT_CERT"):
        identity_from_environ({**cert_environ("alice"), "SSL_CLIENT_CERT": garbage})


def test_no_certificate_pem_leaves_thumbprint_empty():
    assert identity_from_environ(cert_environ("alice")).sha256 is None


def test_serial_subject_and_issuer_are_carried_into_identity():
    environ = {**cert_environ("alice"), "SSL_CLIENT_M_SERIAL": "1A2B"}
    assert identity_from_environ(environ) == Identity(
        remote_user="alice", remote_domain=None,
        subject_dn="CN=alice,UID=alice,O=keystone_lite", issuer_dn=DEV_CA, serial="1A2B",
        sha256=None)


# -- normalise_dn ---------------------------------------------------------------------------------

@pytest.mark.parametrize("alias", ["emailAddress", "E", "EMAIL", "email"])
def test_normalise_dn_email_aliases_are_one_attribute(alias):
    assert normalise_dn(f"{alias}=ca@example.org,CN=x") == normalise_dn(
        "1.2.840.113549.1.9.1=ca@example.org,CN=x")


@pytest.mark.parametrize("alias", ["UID", "userId", "uid", "0.9.2342.19200300.100.1.1"])
def test_normalise_dn_user_id_aliases_are_one_attribute(alias):
    assert normalise_dn(f"{alias}=alice,O=x") == normalise_dn("UID=alice,O=x")


def test_normalise_dn_escaped_comma_stays_in_the_value():
    assert normalise_dn(r"CN=Doe\, John,O=x") == (frozenset({("2.5.4.10", "x")}),
                                                  frozenset({("2.5.4.3", "Doe, John")}))


def test_normalise_dn_slash_form_value_with_comma_matches_escaped_rfc4514_form():
    assert normalise_dn("/O=x/CN=Doe, John") == normalise_dn(r"CN=Doe\, John,O=x")


def test_normalise_dn_escaped_trailing_space_is_part_of_the_value():
    assert normalise_dn("CN=a\\ ,O=x") == normalise_dn("CN=a\\20,O=x") != normalise_dn("CN=a,O=x")


def test_normalise_dn_hex_escaped_utf8_equals_the_literal_text():
    assert normalise_dn(r"CN=Jos\C3\A9,O=x") == normalise_dn("CN=José,O=x")


def test_normalise_dn_multi_valued_rdn_is_read_as_one_rdn():
    assert normalise_dn("CN=a+UID=b,O=x") == normalise_dn("UID=b+CN=a,O=x")
    assert normalise_dn("CN=a+UID=b,O=x") != normalise_dn("UID=b,CN=a,O=x")


@pytest.mark.parametrize("text", [
    "not a dn", "CN", "foo=bar", "CN=", "/", "", "   ", "CN=a,,O=b", "CN=a\\",
])
def test_normalise_dn_of_non_dn_raises_value_error(text):
    with pytest.raises(ValueError):
        normalise_dn(text)


# -- the filter -----------------------------------------------------------------------------------

def _seen_context(middleware_args, environ):
    """Run one request through CertAuthMiddleware around a tiny app; return what it saw."""
    seen = {}

    def app(environ_, start_response):
        seen.update(get_context(environ_))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    response = webob.Request.blank("/v3/auth/tokens", environ=environ).get_response(
        CertAuthMiddleware(app, *middleware_args))
    assert response.status_int == 200
    return seen


def test_filter_sets_remote_user_and_cert_in_context():
    pem, certificate = self_signed_pem()
    seen = _seen_context(("SSL_CLIENT_S_DN_UID", TRUSTED), {
        **cert_environ("alice"), "SSL_CLIENT_M_SERIAL": "0F", "SSL_CLIENT_CERT": pem})
    assert seen["remote_user"] == "alice"
    presented = seen["cert"].pop("presented")
    assert seen["cert"] == {"subject_dn": "CN=alice,UID=alice,O=keystone_lite",
                            "issuer_dn": DEV_CA, "serial": "0F",
                            "sha256": certificate.fingerprint(hashes.SHA256()).hex()}
    # What a token remembers of the certificate (keystone_lite.certificates.records).
    # Its names are the certificate's own (this one is self-signed), as mod_ssl writes them.
    assert (presented.thumbprint, presented.serial, presented.issuer_dn) == (
        seen["cert"]["sha256"], format(certificate.serial_number, "x"), dn_string(certificate.issuer))
    assert presented.not_after == int(certificate.not_valid_after_utc.timestamp()) * 10**6


def test_filter_leaves_context_anonymous_without_identity():
    seen = _seen_context(("SSL_CLIENT_S_DN_UID", ()), {"HTTP_REMOTE_USER": "admin"})
    assert seen["remote_user"] is None
    assert seen["cert"] is None


def test_refused_identity_gets_401_json_saying_why_and_a_warning_without_the_token(
        deployment, caplog):
    caplog.set_level(logging.WARNING, logger="keystone_lite")
    caller_token = issue(deployment.main, "admin")
    response = deployment.main.post_json(
        "/v3/auth/tokens", external_auth(),
        extra_environ={**cert_environ("admin"), "SSL_CLIENT_VERIFY": "GENEROUS"},
        headers={"X-Auth-Token": caller_token}, status=401)
    error = response.json["error"]
    assert (error["code"], error["title"]) == (401, "Unauthorized")
    assert "GENEROUS" in error["message"]
    assert "X-Subject-Token" not in response.headers
    warnings = [record for record in caplog.records
                if record.levelno == logging.WARNING and "refused" in record.getMessage()]
    assert len(warnings) == 1
    assert "GENEROUS" in warnings[0].getMessage()
    assert caller_token not in caplog.text


def test_refused_identity_is_not_served_anonymously_even_on_discovery(deployment):
    response = deployment.main.get(
        "/v3", extra_environ={**cert_environ("admin"), "SSL_CLIENT_VERIFY": "NONE"}, status=401)
    assert response.json["error"]["code"] == 401


def test_trusted_issuer_from_config_file_lets_matching_issuer_get_a_token(make_deployment):
    deployment = make_deployment({"cert_auth": {"trusted_issuers": DEV_CA}})
    assert issue(deployment.main, "admin")


def test_trusted_issuer_from_config_file_refuses_other_issuer(make_deployment):
    deployment = make_deployment({"cert_auth": {"trusted_issuers": DEV_CA}})
    response = deployment.main.post_json(
        "/v3/auth/tokens", external_auth(),
        extra_environ={**cert_environ("admin"), "SSL_CLIENT_I_DN": "CN=evil CA,O=evil"},
        status=401)
    assert "trusted_issuers" in response.json["error"]["message"]


def test_several_trusted_issuers_one_per_line_are_all_accepted(make_deployment):
    deployment = make_deployment(
        {"cert_auth": {"trusted_issuers": f"CN=other CA\n    {DEV_CA}"}})
    assert issue(deployment.main, "admin")


def test_bad_dn_in_trusted_issuers_fails_app_load_naming_file_section_and_key(make_deployment):
    with pytest.raises(ConfigError) as raised:
        make_deployment({"cert_auth": {"trusted_issuers": "not a DN"}})
    message = str(raised.value)
    assert "keystone-lite.conf" in message
    assert "[cert_auth] trusted_issuers" in message
    assert "not a DN" in message

