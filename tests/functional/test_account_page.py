"""The account page (``/main/account``) through WebTest on the shipped paste pipeline: what it
shows the certificate's holder, that every name is escaped, that its one state-changing form
refuses cross-site requests, and that "revoke all my tokens" kills the user's tokens at /admin
while new ones work. In a real browser: tests/embedded/test_account_browser.py."""
from __future__ import annotations

import html
import json
import re

import pytest
import yaml

import cert_builders
from builders import (add_user, create_domain, admin_headers, assert_keystone_error, cert_environ,
                      client_certificate, external_auth, issue, post_token)
from keystone_lite.account import forms

ADMIN = admin_headers()
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
SAME_ORIGIN = {"Origin": "http://localhost"}  # WebTest's requests go to http://localhost
HOSTILE = "<script>alert(1)</script>\"'&amp;"
SECURITY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "Cache-Control",
                    "Referrer-Policy", "X-Content-Type-Options")


def page(deployment, user: str, status: int = 200, **environ):
    return deployment.main.get("/account", headers=BROWSER, status=status,
                               extra_environ={**cert_environ(user), **environ})


def form_token(response) -> str:
    return html.unescape(re.search(r'name="csrf_token" value="([^"]*)"', response.text)[1])


def revoke(deployment, user: str, token: str | None, headers=SAME_ORIGIN, status: int = 303,
           accept: dict = BROWSER):
    form = {} if token is None else {"csrf_token": token}
    return deployment.main.post("/account/revoke", form, headers={**accept, **headers},
                                extra_environ=cert_environ(user), status=status)


def is_valid(deployment, token: str) -> bool:
    status = deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token),
                                  expect_errors=True).status_int
    assert status in (200, 404), status
    return status == 200


def assert_secured(response) -> None:
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; style-src 'sha256-"), policy
    assert "script-src" not in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_page_shows_who_the_certificate_makes_the_holder_and_their_projects(deployment):
    add_user(deployment, "alice", project="demo", role="member")
    certificate = client_certificate("alice")
    response = deployment.main.get("/account", headers=BROWSER,
                                   extra_environ=certificate.environ)
    assert response.content_type == "text/html"
    assert_secured(response)
    text = response.text
    user_id = post_token(deployment.main, external_auth(), user="alice").json["token"]["user"]["id"]
    assert "<h1>Your account: alice</h1>" in text
    assert f"<dt>User id</dt><dd><code>{user_id}</code></dd>" in text
    assert "<dt>Domain</dt><dd>Default (default)</dd>" in text
    assert "<dt>Certificate subject</dt><dd>CN=alice,UID=alice,O=keystone_lite</dd>" in text
    assert f"<dt>SHA-256 thumbprint</dt><dd><code>{certificate.thumbprint}</code></dd>" in text
    assert re.search(r"<dt>Certificate expires</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d UTC "
                     r"\(in less than a day\)</dd>", text)
    assert re.search(r"<tr><td>demo</td><td>Default</td><td><code>[0-9a-f]{32}</code></td>"
                     r"<td>member</td></tr>", text)
    assert 'href="/account/clouds.yaml"' in text and 'href="/account/openrc"' in text
    assert '<form method="post" action="/account/revoke">' in text
    assert "<script" not in text


def test_system_and_domain_roles_are_listed_and_no_project_is_explained(deployment):
    add_user(deployment, "carol")
    deployment.cli("role", "assignment", "add", "--user", "carol", "--system", "reader")
    text = page(deployment, "carol").text
    assert "You hold no role on any enabled project" in text
    assert "<p>On the system: reader</p>" in text


def test_hostile_user_project_and_role_names_are_escaped_everywhere(deployment):
    deployment.admin.post_json("/v3/users", {"user": {"name": HOSTILE}}, headers=ADMIN,
                               status=201)
    project = deployment.admin.post_json("/v3/projects", {"project": {"name": HOSTILE}},
                                         headers=ADMIN, status=201).json["project"]["id"]
    role = deployment.admin.post_json("/v3/roles", {"role": {"name": HOSTILE + "r"}},
                                      headers=ADMIN, status=201).json["role"]["id"]
    user = deployment.admin.get("/v3/users", {"name": HOSTILE}, headers=ADMIN).json["users"][0]
    deployment.admin.put(f"/v3/projects/{project}/users/{user['id']}/roles/{role}",
                         headers=ADMIN, status=204)
    response = page(deployment, HOSTILE)
    escaped = html.escape(HOSTILE)
    assert "<script" not in response.text and "alert(1)</script>" not in response.text
    assert f"<h1>Your account: {escaped}</h1>" in response.text
    assert f"<title>Account of {escaped} · keystone_lite</title>" in response.text
    assert f"<tr><td>{escaped}</td>" in response.text
    assert f"<td>{escaped}r</td></tr>" in response.text
    # title, h1, user name, the subject's CN and UID, project, role
    assert response.text.count("&lt;script&gt;") == 7
    assert "&amp;amp;" in response.text  # the name's own "&amp;" is text, shown as typed


def test_without_a_certificate_a_browser_gets_a_page_saying_how_to_present_one(deployment):
    response = deployment.main.get("/account", headers=BROWSER, status=401)
    assert response.content_type == "text/html"
    assert_secured(response)
    assert "Your browser presented no client certificate" in response.text
    assert "How to present your certificate" in response.text
    assert "pk12util -d sql:$HOME/.pki/nssdb -i NAME.p12" in response.text
    assert re.search(r"<code>req-[0-9a-f-]{36}</code>", response.text)
    # An API client gets Keystone's JSON, with the same reason.
    error = assert_keystone_error(deployment.main.get("/account", status=401), 401)
    assert error["message"].startswith("Your browser presented no client certificate")


def test_a_verified_certificate_of_no_user_gets_401_without_naming_who_exists(deployment):
    response = page(deployment, "ghost", status=401)
    assert "it logs in no enabled user" in response.text
    assert "ghost" not in response.text.split("<h2>How to present")[0].split("<h1>")[1]


def test_a_refused_certificate_is_explained_to_a_browser(deployment):
    response = page(deployment, "alice", status=401, SSL_CLIENT_VERIFY="FAILED:expired")
    assert "Client certificate refused: client certificate verification is" in response.text
    assert "How to present your certificate" in response.text


def test_a_certificate_the_operator_revoked_opens_no_page(deployment):
    add_user(deployment, "alice", project="demo", role="member")
    certificate = client_certificate("alice")
    deployment.cli("cert", "revoke", "--thumbprint", certificate.thumbprint)
    response = deployment.main.get("/account", headers=BROWSER, status=401,
                                   extra_environ=certificate.environ)
    assert "The client certificate you presented is revoked." in response.text


def test_with_mapping_rules_the_page_shows_the_mapped_user_and_never_provisions(
        make_deployment, tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"local": [{"user": {"name": "{0}", "domain": {
        "name": "corp"}}}], "remote": [{"type": "SSL_CLIENT_SUBJECT_DN_UID"}]}]))
    deployment = make_deployment({"cert_auth": {"mapping_file": str(rules),
                                                "provision_users": "true"}})
    corp = create_domain(deployment, "corp")
    lena = cert_builders.environ(cert_builders.certificate(cert_builders.name(("UID", "lena"))))

    response = deployment.main.get("/account", headers=BROWSER, extra_environ=lena, status=401)
    assert "it logs in no enabled user" in response.text
    assert deployment.admin.get("/v3/users", {"name": "lena"}, headers=ADMIN).json["users"] == []
    # A token request is a login: it provisions her; the page then shows her, in corp.
    deployment.main.post_json("/v3/auth/tokens", external_auth(), extra_environ=lena,
                              status=201)
    text = deployment.main.get("/account", headers=BROWSER, extra_environ=lena).text
    assert "<h1>Your account: lena</h1>" in text
    assert f"<dt>Domain</dt><dd>corp ({corp})</dd>" in text


@pytest.mark.parametrize("path", ["/account/clouds.yaml", "/account/openrc"])
def test_downloads_need_the_certificate(deployment, path):
    assert_keystone_error(deployment.main.get(path, status=401), 401)


def test_clouds_yaml_and_openrc_log_in_with_the_certificate_by_oauth2_mtls(deployment):
    add_user(deployment, "alice", project="demo", role="member")
    user_id = post_token(deployment.main, external_auth(), user="alice").json["token"]["user"]["id"]
    response = deployment.main.get("/account/clouds.yaml", extra_environ=cert_environ("alice"),
                                   headers={"Host": "keystone.example.org"})
    assert response.headers["Content-Disposition"] == 'attachment; filename="clouds.yaml"'
    assert_secured(response)
    cloud = yaml.safe_load(response.text)["clouds"]["keystone-lite"]
    assert cloud == {
        "auth_type": "v3oauth2mtlsclientcredential",
        "auth": {"auth_url": "http://keystone.example.org/v3",
                 "oauth2_endpoint": "http://keystone.example.org/v3/OS-OAUTH2/token",
                 "oauth2_client_id": user_id},
        "cert": "~/.config/openstack/keystone-lite.crt",
        "key": "~/.config/openstack/keystone-lite.key",
        "cacert": "~/.config/openstack/keystone-lite-ca.crt",
        "identity_api_version": 3}
    openrc = deployment.main.get("/account/openrc", extra_environ=cert_environ("alice")).text
    assert "export OS_AUTH_TYPE=v3oauth2mtlsclientcredential\n" in openrc
    assert f"export OS_OAUTH2_CLIENT_ID={user_id}\n" in openrc
    assert "export OS_AUTH_URL=http://localhost/v3\n" in openrc
    assert 'export OS_CERT="$HOME/.config/openstack/keystone-lite.crt"\n' in openrc
    assert_keystone_error(deployment.main.get("/account/cloudsXyaml", status=404,
                                              extra_environ=cert_environ("alice")), 404)


def test_revoke_all_kills_every_token_of_the_user_and_new_ones_work(deployment):
    add_user(deployment, "alice", project="demo", role="member")
    add_user(deployment, "bob", project="demo", role="member")
    alices = [issue(deployment.main, "alice", "demo"), issue(deployment.main, "alice")]
    bobs = issue(deployment.main, "bob", "demo")
    assert all(is_valid(deployment, token) for token in alices)

    response = revoke(deployment, "alice", form_token(page(deployment, "alice")))
    assert response.headers["Location"] == "http://localhost/account?revoked"
    assert_secured(response)
    assert not any(is_valid(deployment, token) for token in alices)
    assert is_valid(deployment, bobs)
    assert is_valid(deployment, issue(deployment.main, "alice", "demo"))
    shown = deployment.main.get(response.headers["Location"], headers=BROWSER,
                                extra_environ=cert_environ("alice"))
    assert 'id="revoked"' in shown.text and 'id="revoked"' not in page(deployment, "alice").text


def test_a_referer_of_this_site_stands_for_a_missing_origin(deployment):
    add_user(deployment, "alice", project="demo", role="member")
    token = issue(deployment.main, "alice", "demo")
    revoke(deployment, "alice", form_token(page(deployment, "alice")),
           headers={"Referer": "http://localhost/account"})
    assert not is_valid(deployment, token)


def refusals(deployment) -> dict:
    """Each way a cross-site or forged form can arrive: (form token, headers)."""
    good = form_token(page(deployment, "alice"))
    bobs = form_token(page(deployment, "bob"))
    issued, _, mac = good.partition(".")
    return {
        "no form token": (None, SAME_ORIGIN),
        "empty form token": ("", SAME_ORIGIN),
        "another user's form token": (bobs, SAME_ORIGIN),
        "a forged form token": (f"{issued}.{mac[::-1]}", SAME_ORIGIN),
        "an old form token": (f"{int(issued) - forms.LIFETIME}.{mac}", SAME_ORIGIN),
        "another origin": (good, {"Origin": "https://evil.example"}),
        "another port": (good, {"Origin": "http://localhost:8080"}),
        "an opaque origin": (good, {"Origin": "null"}),
        "another site's referer": (good, {"Referer": "https://evil.example/account"}),
        "neither origin nor referer": (good, {}),
    }


def test_forged_or_cross_site_revocations_are_refused_with_403(deployment):
    add_user(deployment, "alice", project="demo", role="member")
    add_user(deployment, "bob", project="demo", role="member")
    token = issue(deployment.main, "alice", "demo")
    for case, (form, headers) in refusals(deployment).items():
        response = revoke(deployment, "alice", form, headers=headers, status=403)
        assert "The form was refused" in response.text, case
        assert_secured(response)
        api = revoke(deployment, "alice", form, headers=headers, status=403, accept={})
        assert_keystone_error(api, 403)
    assert is_valid(deployment, token)


def test_get_changes_nothing(deployment):
    add_user(deployment, "alice", project="demo", role="member")
    token = issue(deployment.main, "alice", "demo")
    good = form_token(page(deployment, "alice"))
    response = deployment.main.get("/account/revoke", {"csrf_token": good}, headers=SAME_ORIGIN,
                                   extra_environ=cert_environ("alice"), status=405)
    assert response.headers["Allow"] == "POST"
    assert is_valid(deployment, token)


def test_form_tokens_survive_a_key_rotation_and_expire():
    keys = [b"k1" * 16]
    now = [1_000_000.0]
    tokens = forms.FormTokens(lambda: tuple(keys), clock=lambda: now[0])
    issued = tokens.issue("user", "thumbprint")
    assert tokens.check("user", "thumbprint", issued)
    assert not tokens.check("user", "other thumbprint", issued)
    keys.insert(0, b"k2" * 16)  # rotated: the old key is still among the current ones
    assert tokens.check("user", "thumbprint", issued)
    keys.pop()  # purged
    assert not tokens.check("user", "thumbprint", issued)
    keys.append(b"k1" * 16)
    now[0] += forms.LIFETIME
    assert not tokens.check("user", "thumbprint", issued)
