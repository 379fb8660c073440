"""Certificate revocation through a real Apache httpd (mod_ssl + mod_wsgi) and the real curl.

The site is the shipped ``httpd/keystone-lite-mod_ssl.conf`` with ``KEYSTONE_LITE_CRL`` defined
(``SSLCARevocationFile`` + ``SSLCARevocationCheck chain``) and the same file as ``[cert_auth]
crl_file``; the CRLs are the dev CA's (``keystone-lite-manage pki revoke`` / ``pki crl``).
mod_ssl reads the file at start and at ``graceful`` only; cert_auth re-reads it by itself, so
between a new CRL and the graceful restart the app refuses what httpd still lets through.
"""
from __future__ import annotations

import time

import pytest

from keystone_lite import pki, tls_environ

from builders import external_auth

pytestmark = pytest.mark.httpd

APACHE_CRL = True  # apache_site (conftest.py) then checks the dev CA's CRL
LOOK_INTERVAL = 1.1  # cert_auth looks at the CRL file once a second at most
HANDSHAKE_REFUSED = (35, 56)  # curl: the alert in the TLS 1.2 handshake, or after TLS 1.3's


def login(site, user: str):
    return site.post_json("/main/v3/auth/tokens", external_auth("demo"), *site.cert(user))


def assert_token(site, reply, user: str) -> None:
    assert reply.status == 201, site.explain(reply)
    assert reply.json()["token"]["user"]["name"] == user


def assert_handshake_refused(site, reply, *alerts: str) -> None:
    assert reply.exit_code in HANDSHAKE_REFUSED and reply.status is None, site.explain(reply)
    assert any(f"alert {alert}" in reply.stderr for alert in alerts), site.explain(reply)


def assert_401(site, reply, words: str) -> None:
    assert reply.status == 401, site.explain(reply)
    assert reply.headers["content-type"].startswith("application/json"), site.explain(reply)
    error = reply.json()["error"]
    assert error["code"] == 401 and words in error["message"], reply


def test_certificates_not_revoked_log_in_with_crl_checking_on(apache_site):
    assert_token(apache_site, login(apache_site, "alice"), "alice")


def test_revoked_certificate_gets_401_from_cert_auth_then_fails_the_handshake_after_graceful(
        apache_site):
    # bob's old certificate (UID bob) is revoked; his new one keeps working.
    pki.issue_client_certificate(apache_site.pki_dir, "bob-old", uids=("bob",))
    assert_token(apache_site, login(apache_site, "bob-old"), "bob")
    serial, _ = pki.revoke_client_certificate(apache_site.pki_dir, "bob-old")
    pki.issue_client_certificate(apache_site.pki_dir, "bob")
    apache_site.publish_crl()

    # httpd still holds the CRL it read at start: cert_auth, which re-read the file, refuses.
    time.sleep(LOOK_INTERVAL)
    assert_401(apache_site, login(apache_site, "bob-old"), "is revoked")
    assert_token(apache_site, login(apache_site, "bob"), "bob")

    apache_site.graceful()
    assert_handshake_refused(apache_site, login(apache_site, "bob-old"), "certificate revoked")
    assert_token(apache_site, login(apache_site, "bob"), "bob")
    with open(apache_site.error_log, encoding="utf-8", errors="replace") as log:
        assert f"serial {tls_environ.serial_string(serial)} " in log.read()  # cert_auth's line


def test_out_of_date_crl_refuses_everyone_in_the_app_then_in_the_handshake(apache_site):
    try:
        apache_site.publish_crl(next_update_in_past=True)
        time.sleep(LOOK_INTERVAL)
        assert_401(apache_site, login(apache_site, "alice"), "revocation cannot be checked")

        apache_site.graceful()
        # mod_ssl answers OpenSSL's "CRL has expired" with the certificate_unknown alert
        # (the embedded server's OpenSSL default is certificate_expired).
        assert_handshake_refused(apache_site, login(apache_site, "alice"),
                                 "certificate unknown", "certificate expired")
        with open(apache_site.error_log, encoding="utf-8", errors="replace") as log:
            text = log.read()
        assert "CRL has expired" in text, apache_site.explain()
        assert "is out of date: its nextUpdate was" in text, apache_site.explain()
    finally:
        apache_site.publish_crl()
        apache_site.graceful()
    assert_token(apache_site, login(apache_site, "alice"), "alice")
