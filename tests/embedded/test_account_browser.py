"""The account page in a real browser: headless Chromium presenting alice's dev-PKI client
certificate (from an NSS database, chosen by the ``AutoSelectCertificateForUrls`` policy) to
``keystone-lite serve --verify-client optional``. The page names alice; its button revokes her
tokens (checked at /admin with curl); the same form posted from another origin by a page in the
same browser is refused. A browser without a certificate gets the page that says how to import
one. Screenshots are taken each run; with
KEYSTONE_LITE_UPDATE_SCREENSHOTS=1 they replace docs/account-page.png and
docs/account-revoked.png (shown by docs/account.md).

Skipped without chromium and libnss3-tools (or without root, for the policy file); CI installs
them and sets KEYSTONE_LITE_REQUIRE_CHROMIUM=1, which turns the skip into a failure.
"""
from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
import time

import pytest

import chromium
from builders import ADMIN_TOKEN, LOOPBACK as HOST, ROOT, external_auth, free_port
from keystone_lite import pki
from test_embedded_server import cert_options, cli, curl, database_lines, post_json, stop, \
    wait_listening

DOCS = os.path.join(ROOT, "docs")
UPDATE_ENV = "KEYSTONE_LITE_UPDATE_SCREENSHOTS"


def screenshot(browser, tmp_path, name: str) -> None:
    path = str(tmp_path / name)
    browser.screenshot(path)
    with open(path, "rb") as image:
        assert image.read(8) == b"\x89PNG\r\n\x1a\n"
    if os.environ.get(UPDATE_ENV) == "1":
        shutil.copyfile(path, os.path.join(DOCS, name))


@pytest.fixture(scope="module")
def browser_ready():
    reason = chromium.missing()
    if reason is not None:
        if os.environ.get(chromium.REQUIRE_ENV) == "1":
            pytest.fail(f"{chromium.REQUIRE_ENV}=1 and the browser test {reason}",
                        pytrace=False)
        pytest.skip(f"the browser test {reason}")


@pytest.fixture(scope="module")
def site(browser_ready, tmp_path_factory, database_backend):
    """``keystone-lite serve`` for alice, member of demo; a client without a certificate
    reaches the app (``--verify-client optional``), as with the documented optional vhost."""
    directory = tmp_path_factory.mktemp("account")
    config = str(directory / "keystone-lite.conf")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(f"[DEFAULT]\ndata_dir = data\nadmin_token = {ADMIN_TOKEN}\n"
                     + database_lines(database_backend.create()))
    port = free_port()
    base = f"https://{HOST}:{port}"
    cli(config, "db_sync")
    cli(config, "fernet_setup")
    cli(config, "bootstrap", "--bootstrap-public-url", f"{base}/main/v3",
        "--bootstrap-admin-url", f"{base}/admin/v3")
    cli(config, "user", "create", "alice", "--project", "demo", "--role", "member")
    cli(config, "pki", "setup")
    pki_dir = str(directory / "data" / "pki")
    alice = pki.issue_client_certificate(pki_dir, "alice")
    log_path = str(directory / "server.log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "keystone_lite.cli.serve", "serve", "--config-file", config,
             "--host", HOST, "--port", str(port), "--verify-client", "optional"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(process, port, log_path)
        yield base, os.path.join(pki_dir, "ca.crt"), alice
    finally:
        status = stop(process)
    assert status == 0, "keystone-lite serve did not stop cleanly on SIGTERM"


@pytest.fixture
def browser(site, tmp_path):
    base, ca, alice = site
    home = str(tmp_path / "home")
    chromium.nss_database(home, ca, alice.pkcs12)
    # Any port of the loopback address: test runs at once write the same rule, so that
    # whichever file Chromium takes the policy from, each run's certificate is chosen.
    with chromium.auto_select_policy(f"keystone-lite-test-{os.getpid()}", f"https://{HOST}:*"):
        browser = chromium.Browser(home, str(tmp_path / "chromium.log"))
        try:
            browser.open()
            yield browser
        finally:
            browser.close()


def test_chromium_without_a_certificate_is_told_how_to_present_one(site, tmp_path):
    base, ca, _alice = site
    home = str(tmp_path / "home")
    chromium.nss_database(home, ca, None)  # the CA only: no certificate to choose, no dialog
    browser = chromium.Browser(home, str(tmp_path / "chromium.log"))
    try:
        browser.open()
        browser.navigate(f"{base}/main/account")
        assert browser.evaluate("document.querySelector('h1').textContent") == \
            "401 Unauthorized"
        assert "Your browser presented no client certificate" in browser.evaluate(
            "document.getElementById('problem').innerText")
        assert "pk12util -d sql:$HOME/.pki/nssdb -i NAME.p12" in browser.evaluate(
            "document.getElementById('help').innerText")
        screenshot(browser, tmp_path, "account-no-certificate.png")
    finally:
        browser.close()


def alices_token(base: str, ca: str, alice: pki.Issued) -> str:
    login = post_json(f"{base}/main/v3/auth/tokens", external_auth("demo"),
                      *cert_options(alice, ca))
    assert login.status == 201, login
    return login.headers["x-subject-token"]


def validation_status(base: str, ca: str, alice: pki.Issued, token: str) -> int:
    """GET /admin/v3/auth/tokens for ``token`` with the admin token (over alice's certificate:
    the server requires one on every connection)."""
    return curl(f"{base}/admin/v3/auth/tokens", *cert_options(alice, ca),
                "-H", f"X-Auth-Token: {ADMIN_TOKEN}", "-H", f"X-Subject-Token: {token}").status


def test_chromium_shows_alice_her_account_and_revokes_her_tokens(site, browser, tmp_path):
    started = time.monotonic()
    base, ca, alice = site
    token = alices_token(base, ca, alice)
    assert validation_status(base, ca, alice, token) == 200

    browser.navigate(f"{base}/main/account")
    assert browser.evaluate("document.querySelector('h1').textContent") == "Your account: alice"
    identity = browser.evaluate("document.getElementById('identity').innerText")
    assert "UID=alice" in identity and "SHA-256 thumbprint" in identity
    assert "demo" in browser.evaluate("document.getElementById('projects').innerText")
    screenshot(browser, tmp_path, "account-page.png")

    # Another origin (a page of the same browser) posting the form, with the page's own form
    # token even: the browser says where it comes from, and the server refuses.
    form_token = browser.evaluate("document.querySelector('[name=csrf_token]').value")
    forged = (f'<form method="post" action="{base}/main/account/revoke">'
              f'<input name="csrf_token" value="{html.escape(form_token)}">'
              "<button id=go>go</button></form>")
    browser.navigate("data:text/html," + forged.replace("#", "%23"))
    browser.click_and_wait("#go")
    assert browser.evaluate("document.querySelector('h1').textContent") == "403 Forbidden"
    assert validation_status(base, ca, alice, token) == 200

    # The page's own button: a POST from the page, then back to the page.
    browser.navigate(f"{base}/main/account")
    browser.click_and_wait("#revoke-all")
    assert browser.evaluate("location.pathname + location.search") == "/main/account?revoked"
    assert "Every token issued to you until now is revoked" in browser.evaluate(
        "document.getElementById('revoked').innerText")
    screenshot(browser, tmp_path, "account-revoked.png")
    assert validation_status(base, ca, alice, token) == 404
    assert validation_status(base, ca, alice, alices_token(base, ca, alice)) == 200
    assert time.monotonic() - started < 60
