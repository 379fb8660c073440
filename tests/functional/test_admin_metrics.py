"""Prometheus metrics through the apps loaded from the shipped paste ini: GET /admin/metrics for
admin tokens only, and what the requests made count (by route template, never by raw path).

The process's counters are shared by every deployment a test run loads (prometheus_client keeps
them per process), so each test compares a scrape before and after its own requests.
"""
from __future__ import annotations

import pytest
import webtest
from prometheus_client.parser import text_string_to_metric_families

from builders import (add_user, admin_headers, admin_token_of, assert_keystone_error, issue,
                      password_auth, post_token, subject_headers)


def scrape(deployment) -> dict:
    response = deployment.admin.get("/metrics", headers=admin_headers(), status=200)
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def delta(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_admin_metrics_needs_a_caller_token(deployment):
    response = deployment.admin.get("/metrics", status=401)
    assert_keystone_error(response, 401)


def test_admin_metrics_refuses_a_member_token(deployment):
    add_user(deployment, "carol", "demo")
    member = issue(deployment.main, "carol", "demo")
    response = deployment.admin.get("/metrics", headers={"X-Auth-Token": member}, status=403)
    assert_keystone_error(response, 403)


def test_admin_metrics_answers_a_real_admin_token(deployment):
    token = admin_token_of(deployment.main)
    response = deployment.admin.get("/metrics", headers={"X-Auth-Token": token}, status=200)
    assert "# TYPE keystone_lite_tokens_issued_total counter" in response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_main_app_serves_no_metrics(deployment):
    deployment.main.get("/metrics", headers=admin_headers(), status=404)


def test_issue_validate_revoke_and_failures_are_counted_by_method_and_reason(deployment):
    add_user(deployment, "dave", "demo", password="dave-secret")
    before = scrape(deployment)
    subjects = [issue(deployment.main, "dave", "demo") for _ in range(3)]
    post_token(deployment.main, password_auth("dave", "dave-secret", "demo"))
    for subject in subjects:
        deployment.admin.get("/v3/auth/tokens", headers=subject_headers(subject))
    deployment.admin.delete("/v3/auth/tokens", headers=subject_headers(subjects[0]),
                            status=204)
    post_token(deployment.main, password_auth("dave", "wrong", "demo"), status=401)
    post_token(deployment.main, {"auth": {"identity": {"methods": []}}},
               user="nobody-here", status=401)
    after = scrape(deployment)

    assert delta(before, after, "keystone_lite_tokens_issued_total", method="external") == 3
    assert delta(before, after, "keystone_lite_tokens_issued_total", method="password") == 1
    assert delta(before, after, "keystone_lite_tokens_validated_total", method="external") == 3
    assert delta(before, after, "keystone_lite_tokens_revoked_total", method="external") == 1
    assert delta(before, after, "keystone_lite_authentication_failures_total",
                 reason="bad_password") == 1
    assert delta(before, after, "keystone_lite_authentication_failures_total",
                 reason="no_such_user") == 1
    assert delta(before, after, "keystone_lite_http_requests_total", app="main",
                 route="/v3/auth/tokens", method="POST", status="201") == 4
    assert delta(before, after, "keystone_lite_http_requests_total", app="admin",
                 route="/v3/auth/tokens", method="DELETE", status="204") == 1
    assert delta(before, after, "keystone_lite_http_request_duration_seconds_count",
                 app="admin", route="/v3/auth/tokens", method="GET") == 3


def test_a_repeated_validation_is_a_cache_hit(deployment):
    subject = issue(deployment.main, "admin", "admin")
    deployment.admin.get("/v3/auth/tokens", headers=subject_headers(subject))
    before = scrape(deployment)
    for _ in range(5):
        deployment.admin.get("/v3/auth/tokens", headers=subject_headers(subject))
    after = scrape(deployment)
    # The caller's admin token is no token; each GET looks the subject up once.
    assert delta(before, after, "keystone_lite_validation_cache_hits_total") >= 5
    assert delta(before, after, "keystone_lite_validation_cache_misses_total") == 0


def test_routes_are_labelled_by_template_so_ids_never_become_labels(deployment):
    response = deployment.admin.get("/v3/users", headers=admin_headers())
    user_id = response.json["users"][0]["id"]
    deployment.admin.get(f"/v3/users/{user_id}", headers=admin_headers())
    deployment.admin.get("/v3/users/no-such-user", headers=admin_headers(), status=404)
    deployment.admin.get("/no/such/path/at/all", status=404)
    # A method no client library sends (WebTest's lint would refuse it before the app does).
    webtest.TestApp(deployment.admin.app, lint=False).request(
        "/v3/users", method="BREW", headers=admin_headers(), status=405)
    text = deployment.admin.get("/metrics", headers=admin_headers()).text

    assert 'route="/v3/users/{user_id}",status="200"' in text
    assert 'route="/v3/users/{user_id}",status="404"' in text
    assert 'route="unmatched",status="404"' in text
    assert 'method="other",route="/v3/users",status="405"' in text
    assert user_id not in text and "no-such-user" not in text and "BREW" not in text


def test_key_repository_version_is_scraped(deployment):
    samples = scrape(deployment)
    assert samples[("keystone_lite_token_keys", ())] == 2   # fernet_setup: staged and primary
    assert samples[("keystone_lite_token_primary_key", ())] == 1
    deployment.cli("fernet_rotate")
    assert scrape(deployment)[("keystone_lite_token_primary_key", ())] == 2


def test_metrics_off_answers_404_and_keeps_the_api(make_deployment):
    deployment = make_deployment({"metrics": {"enabled": "false"}})
    response = deployment.admin.get("/metrics", headers=admin_headers(), status=404)
    assert_keystone_error(response, 404)
    issue(deployment.main, "admin", "admin")


@pytest.mark.parametrize("value", ["maybe", ""])
def test_bad_enabled_value_names_the_key(make_deployment, value):
    from keystone_lite.settings import ConfigError
    with pytest.raises(ConfigError, match=r"\[metrics\] enabled: must be true or false"):
        make_deployment({"metrics": {"enabled": value}})
