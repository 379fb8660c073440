"""keystone_lite behind a real Apache httpd (mod_ssl + mod_wsgi), driven with the real curl.

The site is the shipped ``httpd/keystone-lite-mod_ssl.conf`` included with its ``Define`` lines
(see conftest.py), serving a deployment made with ``keystone-lite-manage`` and the dev PKI. A
second vhost is the documented variant with ``SSLVerifyClient optional``. The same scenarios run
against the embedded server in tests/embedded/test_embedded_server.py.
"""
from __future__ import annotations

import pytest

from builders import external_auth

pytestmark = pytest.mark.httpd

TLS_VERSIONS = pytest.mark.parametrize("tls, exit_code", [
    (["--tlsv1.3"], 56), (["--tlsv1.2", "--tls-max", "1.2"], 35)], ids=["tls1.3", "tls1.2"])


def keystone_error(site, reply, code: int) -> dict:
    """``reply`` is keystone_lite's JSON error ``code`` (so the app, not httpd, answered)."""
    assert reply.status == code, site.explain(reply)
    assert reply.headers["content-type"].startswith("application/json"), site.explain(reply)
    error = reply.json()["error"]
    assert error["code"] == code and error["title"] and error["message"], reply
    return error


# -- (a) certificate login ----------------------------------------------------------------------

def test_certificate_login_returns_201_and_a_token(apache_site):
    reply = apache_site.post_json("/main/v3/auth/tokens", external_auth("demo"),
                                  *apache_site.cert("alice"))
    assert reply.status == 201, apache_site.explain(reply)
    assert reply.headers["x-subject-token"]
    token = reply.json()["token"]
    assert (token["user"]["name"], token["methods"]) == ("alice", ["external"])
    assert token["project"]["name"] == "demo"
    # The app runs on this deployment's keystone-lite.conf: its catalog is what bootstrap wrote.
    identity = next(entry for entry in token["catalog"] if entry["type"] == "identity")
    assert {(endpoint["interface"], endpoint["url"]) for endpoint in identity["endpoints"]} == {
        ("public", f"{apache_site.base}/main/v3"), ("internal", f"{apache_site.base}/main/v3"),
        ("admin", f"{apache_site.base}/admin/v3")}


# -- (b), (c) refused in the handshake ----------------------------------------------------------

@TLS_VERSIONS
def test_without_client_certificate_the_handshake_fails(apache_site, tls, exit_code):
    reply = apache_site.post_json("/main/v3/auth/tokens", external_auth("demo"), *tls)
    assert (reply.exit_code, reply.status) == (exit_code, None), apache_site.explain(reply)


@pytest.mark.parametrize("vhost", ["require", "optional"])
def test_same_subject_from_an_untrusted_ca_fails_the_handshake(apache_site, vhost):
    base = apache_site.base if vhost == "require" else apache_site.optional_base
    reply = apache_site.post_json(f"{base}/main/v3/auth/tokens", external_auth("demo"),
                                  *apache_site.cert("alice", apache_site.other_pki_dir))
    assert reply.exit_code in (35, 56) and reply.status is None, apache_site.explain(reply)
    assert "unknown ca" in reply.stderr, apache_site.explain(reply)


# -- (d) a valid certificate is not a user -------------------------------------------------------

def test_valid_certificate_of_an_unknown_user_gets_401_json(apache_site):
    reply = apache_site.post_json("/main/v3/auth/tokens", external_auth("demo"),
                                  *apache_site.cert("mallory"))
    keystone_error(apache_site, reply, 401)


# -- (e) issued on /main, validated and revoked on /admin ----------------------------------------

def test_token_from_main_validates_on_admin_and_is_revoked_there(apache_site):
    token = apache_site.token_for("alice", "demo")
    admin_token = apache_site.token_for("admin", "admin")
    options = [*apache_site.cert("admin"), "-H", f"X-Auth-Token: {admin_token}",
               "-H", f"X-Subject-Token: {token}"]

    validated = apache_site.curl("/admin/v3/auth/tokens", *options)
    assert validated.status == 200, apache_site.explain(validated)
    assert validated.headers["x-subject-token"] == token
    body = validated.json()["token"]
    assert (body["user"]["name"], body["project"]["name"]) == ("alice", "demo")

    revoked = apache_site.curl("/admin/v3/auth/tokens", *options, "-X", "DELETE")
    assert revoked.status == 204, apache_site.explain(revoked)
    keystone_error(apache_site, apache_site.curl("/admin/v3/auth/tokens", *options), 404)
    # The main app's processes see the revocation too.
    keystone_error(apache_site, apache_site.curl("/main/v3/auth/tokens", *options), 404)


# -- (f) headers cannot name the user -----------------------------------------------------------

SPOOFED = ["-H", "Remote-User: bob", "-H", "SSL-Client-S-DN-UID: bob",
           "-H", "SSL-Client-Verify: SUCCESS"]


def test_spoofed_remote_user_header_with_alices_certificate_logs_in_alice(apache_site):
    # bob is a real user of demo: honouring the header would issue bob's token.
    reply = apache_site.post_json("/main/v3/auth/tokens", external_auth("demo"),
                                  *apache_site.cert("alice"), *SPOOFED)
    assert reply.status == 201, apache_site.explain(reply)
    assert reply.json()["token"]["user"]["name"] == "alice"


def test_spoofed_remote_user_header_without_certificate_gets_401(apache_site):
    # The optional vhost lets a request without a certificate reach /admin.
    reply = apache_site.post_json(f"{apache_site.optional_base}/admin/v3/auth/tokens",
                                  external_auth("demo"), *SPOOFED)
    keystone_error(apache_site, reply, 401)


def test_optional_vhost_keeps_main_for_certificate_holders(apache_site):
    url = f"{apache_site.optional_base}/main/v3/auth/tokens"
    refused = apache_site.post_json(url, external_auth("demo"), *SPOOFED)
    # httpd's Require expr answers (its HTML page): the app never sees the request.
    assert refused.status == 403, apache_site.explain(refused)
    assert refused.headers["content-type"].startswith("text/html"), apache_site.explain(refused)
    reply = apache_site.post_json(url, external_auth("demo"), *apache_site.cert("alice"))
    assert reply.status == 201, apache_site.explain(reply)
    assert reply.json()["token"]["user"]["name"] == "alice"


def test_account_page_behind_apache_shows_what_mod_ssl_exports_and_refuses_cross_site_posts(
        apache_site):
    """/main/account (docs/account.md) needs nothing of the vhost beyond /main: SSLOptions
    +ExportCertData gives it the certificate's expiry and thumbprint."""
    page = apache_site.curl("/main/account", *apache_site.cert("alice"),
                            "-H", "Accept: text/html")
    assert page.status == 200, apache_site.explain(page)
    text = page.body.decode()
    assert "<h1>Your account: alice</h1>" in text and "not exported" not in text
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    forged = apache_site.curl("/main/account/revoke", *apache_site.cert("alice"),
                              "-H", "Origin: https://evil.example", "-d", "csrf_token=x")
    keystone_error(apache_site, forged, 403)


# -- (g) the 2012 clients' v2.0 call, and discovery ------------------------------------------------

def test_v2_tenant_name_login_with_the_certificate_validates_on_admin(apache_site):
    reply = apache_site.post_json("/main/v2.0/tokens", {"auth": {"tenantName": "demo"}},
                                  *apache_site.cert("alice"))
    assert reply.status == 200, apache_site.explain(reply)
    access = reply.json()["access"]
    assert (access["user"]["name"], access["token"]["tenant"]["name"]) == ("alice", "demo")

    admin_token = apache_site.token_for("admin", "admin")
    validated = apache_site.curl(f"/admin/v2.0/tokens/{access['token']['id']}",
                                 *apache_site.cert("admin"), "-H", f"X-Auth-Token: {admin_token}")
    assert validated.status == 200, apache_site.explain(validated)
    assert validated.json()["access"]["user"]["name"] == "alice"


@pytest.mark.parametrize("app", ["main", "admin"])
def test_version_discovery_links_use_the_mount_and_the_host(apache_site, app):
    reply = apache_site.curl(f"/{app}/", *apache_site.cert("alice"))
    assert reply.status == 300, apache_site.explain(reply)
    links = {value["id"].split(".")[0]: value["links"]
             for value in reply.json()["versions"]["values"]}
    assert {"rel": "self", "href": f"{apache_site.base}/{app}/v3/"} in links["v3"]
    assert {"rel": "self", "href": f"{apache_site.base}/{app}/v2.0/"} in links["v2"]

    version = apache_site.curl(f"/{app}/v3", *apache_site.cert("alice"))
    assert version.status == 200, apache_site.explain(version)
    assert {"rel": "self", "href": f"{apache_site.base}/{app}/v3/"} in \
        version.json()["version"]["links"]


# -- health checks ------------------------------------------------------------------------------

def test_health_vhost_answers_ok_over_plain_http_without_a_certificate(apache_site):
    reply = apache_site.curl(f"{apache_site.health_base}/healthcheck")

    assert (reply.status, reply.body) == (200, b"OK"), apache_site.explain(reply)
    assert reply.headers["content-type"] == "text/plain; charset=UTF-8"


def test_health_vhost_answers_oslo_json_when_asked(apache_site):
    reply = apache_site.curl(f"{apache_site.health_base}/healthcheck",
                             "-H", "Accept: application/json")
    assert reply.status == 200, apache_site.explain(reply)
    assert reply.json() == {"detailed": False, "reasons": ["OK"]}


@pytest.mark.parametrize("path", ["/v3", "/v3/auth/tokens", "/main/v3", "/", "/healthcheckx"])
def test_health_vhost_refuses_everything_but_the_healthcheck(apache_site, path):
    reply = apache_site.curl(f"{apache_site.health_base}{path}")
    assert reply.status == 403, apache_site.explain(reply)


def test_healthcheck_is_served_by_both_apps_on_the_tls_port(apache_site):
    for app in ("main", "admin"):
        reply = apache_site.curl(f"/{app}/healthcheck", *apache_site.cert("alice"))
        assert (reply.status, reply.body) == (200, b"OK"), apache_site.explain(reply)
