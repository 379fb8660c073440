"""GET /healthcheck on both apps, loaded from the shipped paste ini: oslo.middleware's shape, no
authentication, and a 503 with its reason when the database or the token keys are gone for real.
"""
from __future__ import annotations

import json
import logging
import os
import shutil

import pytest

from keystone_lite import health

APPS = ("main", "admin")


def healthcheck(deployment, app: str, status: int, **kwargs):
    return getattr(deployment, app).get("/healthcheck", status=status, **kwargs)


def past_cache(monkeypatch) -> None:
    """Results are kept for a second; the tests look at the state they just made."""
    monkeypatch.setattr(health, "CACHE_SECONDS", 0.0)


@pytest.fixture
def fresh(make_deployment, monkeypatch):
    past_cache(monkeypatch)
    return make_deployment


@pytest.mark.parametrize("app", APPS)
def test_healthy_deployment_answers_200_ok_as_text_without_credentials(deployment, app):
    response = healthcheck(deployment, app, 200)

    assert response.body == b"OK"
    assert response.content_type == "text/plain"
    assert response.charset.upper() == "UTF-8"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("app", APPS)
def test_healthy_deployment_answers_oslo_json_when_asked(deployment, app):
    response = healthcheck(deployment, app, 200, headers={"Accept": "application/json"})

    assert response.content_type == "application/json"
    assert json.loads(response.body) == {"detailed": False, "reasons": ["OK"]}


def test_head_is_204_without_a_body_when_healthy(deployment):
    response = deployment.admin.head("/healthcheck", status=204)
    assert response.body == b""


def test_post_is_405_keystone_json(deployment):
    response = deployment.main.post("/healthcheck", status=405)
    assert response.json["error"]["code"] == 405


@pytest.mark.sqlite_only("removes the SQLite file")
def test_missing_database_file_is_503_database_unreachable_then_recovers(fresh, tmp_path,
                                                                         bootstrapped_data,
                                                                         caplog):
    keys = tmp_path / "keys"   # outside the data directory, which goes away
    shutil.copytree(os.path.join(bootstrapped_data, "fernet-keys"), keys)
    deployment = fresh({"fernet_tokens": {"key_repository": str(keys)}})
    healthcheck(deployment, "main", 200)
    away = deployment.data_dir + ".away"

    os.rename(deployment.data_dir, away)
    with caplog.at_level(logging.ERROR):
        plain = healthcheck(deployment, "main", 503)
        as_json = healthcheck(deployment, "admin", 503, headers={"Accept": "application/json"})
    os.rename(away, deployment.data_dir)

    assert plain.body == b"database unreachable"
    assert json.loads(as_json.body) == {"detailed": False, "reasons": ["database unreachable"]}
    assert deployment.data_dir not in plain.text + as_json.text   # paths are for the log
    assert [record for record in caplog.records if "database unreachable" in record.message]
    healthcheck(deployment, "main", 200)


def test_removed_key_repository_is_503_key_repository_unreadable_then_recovers(fresh):
    deployment = fresh()
    keys = os.path.join(deployment.data_dir, "fernet-keys")
    healthcheck(deployment, "admin", 200)

    os.rename(keys, keys + ".away")
    response = healthcheck(deployment, "admin", 503)
    head = deployment.main.head("/healthcheck", status=503)
    os.rename(keys + ".away", keys)

    assert response.body == b"key repository unreadable"
    assert "fernet-keys" not in response.text
    assert head.body == b""
    healthcheck(deployment, "admin", 200)


def test_uuid_tokens_are_healthy_without_a_key_repository(fresh):
    deployment = fresh({"token": {"provider": "uuid"}})
    shutil.rmtree(os.path.join(deployment.data_dir, "fernet-keys"))

    assert healthcheck(deployment, "main", 200).body == b"OK"


def test_results_are_kept_for_a_second_so_probes_cost_one_check_a_second(deployment):
    # A second probe within CACHE_SECONDS sees the first one's answer, even if the keys went.
    healthcheck(deployment, "main", 200)
    keys = os.path.join(deployment.data_dir, "fernet-keys")
    os.rename(keys, keys + ".away")
    try:
        assert healthcheck(deployment, "main", 200).body == b"OK"
    finally:
        os.rename(keys + ".away", keys)
