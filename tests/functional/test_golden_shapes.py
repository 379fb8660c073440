"""Replay the requests of real Keystone 30 (``../shared/keystone-golden``) against keystone_lite
and compare statuses, key sets, JSON types and headers with what Keystone answered.

Ids, times and token strings naturally differ; tokens in the recorded requests are replaced by
equivalent tokens of this deployment (the bootstrap admin, REMOTE_USER "admin", project "admin").
Our bodies may carry extra keys (``is_admin_project``); every key Keystone sent must be there with
the same JSON type.
"""
from __future__ import annotations

import glob
import json
import os

import pytest

from builders import GOLDEN, assert_keystone_error, cert_environ, external_auth, project_id

GOLDEN_FILES = sorted(glob.glob(os.path.join(GOLDEN, "*.json")))
# Keystone 30 dropped v2.0 (its golden answers are 404); keystone_lite keeps it for 2012 clients.
NOT_REPLAYED = {"v2.0-root.json", "v2.0-tokens-post.json"}
# Keystone (Flask) answered 405 in HTML; keystone_lite answers JSON. Compare the status only.
STATUS_ONLY = {"error-method-not-allowed.json"}
FAKE_TOKEN_MARK = "notarealtoken"

pytestmark = pytest.mark.skipif(not GOLDEN_FILES, reason=f"no golden files in {GOLDEN}")


def load(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def shape_differences(golden, ours, where: str = "$") -> list[str]:
    """Where ``ours`` lacks a key of ``golden`` or holds another JSON type; extra keys are fine."""
    if json_type(golden) != json_type(ours):
        return [f"{where}: Keystone has {json_type(golden)}, we have {json_type(ours)}"]
    problems = []
    if isinstance(golden, dict):
        for key, value in golden.items():
            if key not in ours:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += shape_differences(value, ours[key], f"{where}.{key}")
    elif isinstance(golden, list) and golden:
        if not ours:
            problems.append(f"{where}: Keystone has items, we have none")
        # Every one of our items must have the shape of Keystone's first one.
        for index, item in enumerate(ours):
            problems += shape_differences(golden[0], item, f"{where}[{index}]")
    return problems


class TokenMap:
    """Keystone's recorded tokens and project ids → equivalent ones of this deployment."""

    def __init__(self, app, project_ids: dict[str, str] | None = None):
        self.app = app
        self.ours: dict[str, str] = {}
        self.project_ids = project_ids or {}

    def __getitem__(self, golden_token: str) -> str:
        if FAKE_TOKEN_MARK in golden_token:
            return golden_token  # an invalid token stays invalid
        if golden_token not in self.ours:
            # Every real token of the recordings is the admin's, scoped to project admin.
            response = self.app.post_json("/v3/auth/tokens", external_auth("admin"),
                                          extra_environ=cert_environ("admin"), status=201)
            self.ours[golden_token] = response.headers["X-Subject-Token"]
        return self.ours[golden_token]

    def substitute(self, value):
        """``value`` with every recorded token replaced (request bodies hold them too)."""
        if isinstance(value, dict):
            return {key: self.substitute(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.substitute(item) for item in value]
        if isinstance(value, str) and value.startswith("gAAAAA"):
            return self[value]
        return self.project_ids.get(value, value) if isinstance(value, str) else value


def project_ids(deployment, recorded: dict) -> dict[str, str]:
    """Keystone's id of each project its response names → our id of the same-named project."""
    body = recorded["response"].get("body_json") or {}
    projects = body.get("projects", []) + [body.get("token", {}).get("project")]
    return {project["id"]: project_id(deployment, project["name"])
            for project in projects if project}


def replay(app, recorded: dict, tokens: TokenMap):
    request = recorded["request"]
    headers = {name: tokens.substitute(value) for name, value in request["headers"].items()}
    environ = dict(request["environ_extra"])
    body = request["body"]
    if body is None:
        payload = b""
    elif isinstance(body, str):
        payload = body.encode("utf-8")  # recorded as raw text: malformed or empty JSON
    else:
        payload = json.dumps(tokens.substitute(body)).encode()
    return app.request(request["path"], method=request["method"], headers=headers,
                       environ=environ, body=payload, expect_errors=True)


def header(response, name: str) -> str | None:
    for key, value in response.headerlist:
        if key.lower() == name.lower():
            return value
    return None


def golden_header(recorded: dict, name: str) -> str | None:
    for key, value in recorded["response"]["headers"]:
        if key.lower() == name.lower():
            return value
    return None


def prepare(name: str, recorded: dict, tokens: TokenMap, app) -> None:
    """Bring the deployment into the state the recording was made in."""
    if name.startswith("revoke-") and name != "revoke-delete.json":
        # Recorded after revoke-delete.json revoked the same subject token.
        subject = tokens[recorded["request"]["headers"]["X-Subject-Token"]]
        caller = tokens[recorded["request"]["headers"]["X-Auth-Token"]]
        app.delete("/v3/auth/tokens", headers={"X-Auth-Token": caller,
                                               "X-Subject-Token": subject}, status=204)


REPLAYED = [path for path in GOLDEN_FILES if os.path.basename(path) not in NOT_REPLAYED]


@pytest.mark.parametrize("app_name", ["main", "admin"])
@pytest.mark.parametrize("path", REPLAYED, ids=[os.path.basename(p)[:-5] for p in REPLAYED])
def test_response_matches_keystone_in_status_keys_types_and_headers(deployment, path,
                                                                    app_name):
    name = os.path.basename(path)
    recorded = load(path)
    app = getattr(deployment, app_name)
    tokens = TokenMap(deployment.main, project_ids(deployment, recorded))
    prepare(name, recorded, tokens, app)

    response = replay(app, recorded, tokens)

    golden_status = int(recorded["response"]["status"].split()[0])
    assert response.status_int == golden_status, response.body
    assert header(response, "x-openstack-request-id")
    for name_ in ("X-Subject-Token", "WWW-Authenticate", "Location", "Allow"):
        if golden_header(recorded, name_) is not None:
            assert header(response, name_), f"{name_} missing"
        elif name_ in ("X-Subject-Token", "WWW-Authenticate"):
            assert header(response, name_) is None, f"unexpected {name_}"
    if name in STATUS_ONLY:
        assert_keystone_error(response, golden_status)
        return
    if golden_header(recorded, "Content-Type") == "application/json":
        assert response.content_type == "application/json"
    if recorded["request"]["method"] == "HEAD" or golden_status == 204:
        assert response.body == b""
        return
    golden_body = recorded["response"]["body_json"]
    assert shape_differences(golden_body, response.json) == []
    if "error" in golden_body:
        assert_keystone_error(response, golden_status)
    if golden_header(recorded, "X-Subject-Token") and "X-Subject-Token" in \
            recorded["request"]["headers"]:
        assert header(response, "X-Subject-Token") == tokens[
            recorded["request"]["headers"]["X-Subject-Token"]]


def test_replayed_subject_token_validates_as_the_same_user_keystone_saw(deployment):
    """The substitution itself: our stand-in tokens carry what Keystone's carried."""
    recorded = load(os.path.join(GOLDEN, "validate-get.json"))
    tokens = TokenMap(deployment.main)

    ours = replay(deployment.main, recorded, tokens).json["token"]

    theirs = recorded["response"]["body_json"]["token"]
    assert ours["user"]["name"] == theirs["user"]["name"]
    assert ours["project"]["name"] == theirs["project"]["name"]
    assert ours["methods"] == theirs["methods"]
    assert {role["name"] for role in ours["roles"]} <= {role["name"] for role in theirs["roles"]}


def test_error_titles_match_keystone(deployment):
    for path in REPLAYED:
        recorded = load(path)
        golden_body = recorded["response"].get("body_json") or {}
        if "error" not in golden_body:
            continue
        tokens = TokenMap(deployment.main)
        prepare(os.path.basename(path), recorded, tokens, deployment.main)

        response = replay(deployment.main, recorded, tokens)

        assert response.json["error"]["title"] == golden_body["error"]["title"], path
