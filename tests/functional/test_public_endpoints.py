"""Issue 10, finding 12: links come from [DEFAULT] public_endpoint / admin_endpoint when set,
not from the Host header; token responses may not be stored or shared by caches."""
from __future__ import annotations

import pytest

from keystone_lite.settings import ConfigError

from builders import admin_headers, cert_environ, external_auth, issue, subject_headers

PUBLIC = "https://keystone.example.com/main"
ADMIN = "https://keystone-admin.example.com:35357/admin"
EVIL = {"Host": "evil.example:8443"}


@pytest.fixture
def configured(make_deployment):
    return make_deployment({"DEFAULT": {"public_endpoint": PUBLIC + "/",
                                        "admin_endpoint": ADMIN}})


@pytest.mark.parametrize("app_name, base", [("main", PUBLIC), ("admin", ADMIN)])
def test_configured_endpoint_replaces_host_and_mount_in_every_link(configured, app_name, base):
    app = getattr(configured, app_name)
    versions = app.get("/", headers=EVIL, status=300)
    assert versions.headers["Location"] == f"{base}/v3/"
    assert {link["href"] for value in versions.json["versions"]["values"]
            for link in value["links"]} == {f"{base}/v3/", f"{base}/v2.0/"}
    assert app.get("/v3", headers=EVIL).json["version"]["links"] == [
        {"rel": "self", "href": f"{base}/v3/"}]
    refused = app.get("/v3/auth/catalog", headers={**EVIL, "X-Auth-Token": "bogus"}, status=401)
    assert refused.headers["WWW-Authenticate"] == f'Keystone uri="{base}/v3"'
    assert "evil.example" not in str(versions.headers) + versions.text + str(refused.headers)


def test_without_configured_endpoints_links_follow_the_host_as_before(deployment):
    assert deployment.main.get("/v3", headers=EVIL).json["version"]["links"] == [
        {"rel": "self", "href": "http://evil.example:8443/v3/"}]


@pytest.mark.parametrize("value", ["keystone.example.com/main", "ftp://keystone.example.com/",
                                   "https://keystone.example.com/main?x=1",
                                   'https://keystone.example.com/"main', "https:///main"])
def test_bad_endpoint_stops_start_up_naming_the_key(make_deployment, value):
    with pytest.raises(ConfigError, match=r"\[DEFAULT\] public_endpoint"):
        make_deployment({"DEFAULT": {"public_endpoint": value}})


def assert_not_cacheable(response):
    assert response.headers.getall("Cache-Control") == ["no-store"]
    assert response.headers.getall("Vary") == ["X-Auth-Token, X-Subject-Token"]


def test_v3_token_responses_are_not_cacheable(deployment):
    response = deployment.main.post_json("/v3/auth/tokens", external_auth(),
                                         extra_environ=cert_environ("admin"), status=201)
    assert_not_cacheable(response)
    token = response.headers["X-Subject-Token"]
    assert_not_cacheable(deployment.admin.get("/v3/auth/tokens", headers=subject_headers(token)))
    assert_not_cacheable(deployment.admin.head("/v3/auth/tokens",
                                               headers=subject_headers(token)))


def test_v2_token_responses_are_not_cacheable(deployment):
    response = deployment.main.post_json("/v2.0/tokens", {"auth": {}},
                                         extra_environ=cert_environ("admin"))
    assert_not_cacheable(response)
    token = response.json["access"]["token"]["id"]
    assert_not_cacheable(deployment.admin.get(f"/v2.0/tokens/{token}", headers=admin_headers()))
    assert_not_cacheable(deployment.admin.head(f"/v2.0/tokens/{token}",
                                               headers=admin_headers()))


def test_other_responses_keep_one_vary_on_the_caller_token(deployment):
    token = issue(deployment.main, "admin")
    response = deployment.main.get("/v3/auth/projects", headers={"X-Auth-Token": token})
    assert response.headers.getall("Vary") == ["X-Auth-Token"]
    assert "Cache-Control" not in response.headers
