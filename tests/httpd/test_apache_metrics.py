"""Prometheus metrics of a real multi-process server: Apache httpd with the shipped vhost, whose
main app runs in ``WSGIDaemonProcess processes=2`` and admin app in a third daemon process, all
sharing ``[metrics] multiprocess_dir``. Requests made with the real curl; a scrape of any one
process (the plain-HTTP health vhost's /metrics, or /admin/metrics) must report the sums over all.
"""
from __future__ import annotations

import os
import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import running_site

pytestmark = pytest.mark.httpd

ISSUES = 6
VALIDATIONS = 4
SETTLE_SECONDS = 10
ISSUED = ("keystone_lite_tokens_issued_total", (("method", "external"),))
VALIDATED = ("keystone_lite_tokens_validated_total", (("method", "external"),))


@pytest.fixture(scope="module")
def site(apache_tools, database_backend):
    def with_metrics_directory(site, config):
        with open(config, "a", encoding="utf-8") as handle:
            # Inside data/, which the httpd user is given; created by the first daemon.
            handle.write("\n[metrics]\nmultiprocess_dir = ../data/metrics\n")

    with running_site(apache_tools, database_backend.create(),
                      prepare=with_metrics_directory) as running:
        yield running


def samples(text: str) -> dict:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_counters_summed_over_every_daemon_process_match_the_requests_made(site):
    admin = site.token_for("admin", "admin")
    subjects = [site.token_for("alice", "demo") for _ in range(ISSUES)]
    for subject in subjects[:VALIDATIONS]:
        reply = site.curl("/admin/v3/auth/tokens", *site.cert("admin"), "-H",
                          f"X-Auth-Token: {admin}", "-H", f"X-Subject-Token: {subject}")
        assert reply.status == 200, site.explain(reply)
    refused = site.post_json("/main/v3/auth/tokens", {"auth": {"identity": {"methods": []}}},
                             *site.cert("mallory"))
    assert refused.status == 401, site.explain(refused)

    # The health vhost runs in the main daemons; the validations were counted by the admin one.
    # Each process writes its counts within a second (keystone_lite.metrics.Recorder).
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        reply = site.curl(f"{site.health_base}/metrics")
        assert reply.status == 200, site.explain(reply)
        scraped = samples(reply.body.decode())
        if scraped.get(VALIDATED) == VALIDATIONS and scraped.get(ISSUED) == ISSUES + 1 or \
                time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")

    assert scraped[ISSUED] == ISSUES + 1
    assert scraped[VALIDATED] == VALIDATIONS
    assert scraped[("keystone_lite_authentication_failures_total",
                    (("reason", "no_such_user"),))] == 1
    assert scraped[("keystone_lite_http_requests_total", (
        ("app", "main"), ("method", "POST"), ("route", "/v3/auth/tokens"),
        ("status", "201")))] == ISSUES + 1
    assert scraped[("keystone_lite_http_requests_total", (
        ("app", "admin"), ("method", "GET"), ("route", "/v3/auth/tokens"),
        ("status", "200")))] == VALIDATIONS
    assert scraped[("keystone_lite_token_keys", ())] == 2

    # Every daemon process keeps its own files: two main ones and the admin one, at least.
    directory = os.path.join(site.home, "data", "metrics")
    pids = {match.group(1) for name in os.listdir(directory)
            for match in [re.fullmatch(r"counter_(\d+)\.db", name)] if match}
    assert len(pids) >= 3, sorted(os.listdir(directory))


def test_admin_metrics_over_tls_reports_the_same_sums_to_an_admin_token(site):
    admin = site.token_for("admin", "admin")
    time.sleep(SETTLE_SECONDS / 5)  # past the main daemons' next flush
    from_health = samples(site.curl(f"{site.health_base}/metrics").body.decode())
    reply = site.curl("/admin/metrics", *site.cert("admin"), "-H", f"X-Auth-Token: {admin}")
    assert reply.status == 200, site.explain(reply)
    from_admin = samples(reply.body.decode())

    assert from_admin[ISSUED] == from_health[ISSUED] and from_admin[ISSUED] >= ISSUES + 1


def test_admin_metrics_over_tls_refuses_a_certificate_alone(site):
    reply = site.curl("/admin/metrics", *site.cert("alice"))
    assert reply.status == 401, site.explain(reply)
    assert reply.json()["error"]["code"] == 401


def test_health_vhost_still_refuses_the_api(site):
    assert site.curl(f"{site.health_base}/main/v3").status == 403
    assert site.curl(f"{site.health_base}/healthcheck").status == 200
