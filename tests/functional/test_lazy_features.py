"""Start-up leaves the rarely used features out (issue 11: start-up within a quarter of
Keystone's): their modules and tables (keystone_lite.db.feature_models) are loaded by their
first request, and answer it as if they had been there from the start."""
from __future__ import annotations

import concurrent.futures
import json
import os
import re
import subprocess
import sys
import threading

import pytest
import webob

from builders import ADMIN_PASSWORD, ADMIN_TOKEN, PASTE_INI, ROOT, password_auth
from keystone_lite import app as app_module, router
from keystone_lite.db import feature_models, models

FEATURE_MODULES = ("keystone_lite.db.feature_models", "keystone_lite.identity.credentials",
                   "keystone_lite.identity.trusts", "keystone_lite.identity.limits",
                   "keystone_lite.identity.policy_blobs",
                   "keystone_lite.identity.application_credentials",
                   "keystone_lite.oauth1.consumers", "keystone_lite.oauth1.delegation",
                   "keystone_lite.ec2.credentials", "keystone_lite.ec2.tokens",
                   "keystone_lite.token.oauth2")

# Loads both apps in a fresh interpreter, sends each request given (as the admin token; with
# the token the last POST /v3/auth/tokens issued as X-Subject-Token), and prints its status and
# which of FEATURE_MODULES are loaded after it.
_PROBE = """
import json, os, sys
import webob
from paste.deploy import loadapp
apps = {name: loadapp("config:" + sys.argv[1], name=name) for name in ("main", "admin")}
modules = json.loads(sys.argv[2])
loaded = lambda: sorted(name for name in modules if name in sys.modules)
print(json.dumps(["start-up", None, loaded()]))
headers = {"X-Auth-Token": os.environ["ADMIN_TOKEN"]}
for name, method, path, body in json.loads(sys.argv[3]):
    request = webob.Request.blank(path, method=method, headers=headers)
    if body is not None:
        request.json_body = body
    response = request.get_response(apps[name])
    if path == "/v3/auth/tokens" and method == "POST":
        headers["X-Subject-Token"] = response.headers["X-Subject-Token"]
    print(json.dumps([path, response.status_int, loaded()]))
"""


def probe(deployment, requests: list) -> list:
    env = {**os.environ, "KEYSTONE_LITE_CONFIG": deployment.config, "ADMIN_TOKEN": ADMIN_TOKEN,
           "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", _PROBE, PASTE_INI, json.dumps(FEATURE_MODULES),
                             json.dumps(requests)], env=env, capture_output=True, text=True,
                            timeout=120, check=True)
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_start_up_tokens_and_the_identity_api_load_no_feature(deployment):
    steps = probe(deployment, [
        ("main", "POST", "/v3/auth/tokens", password_auth("admin", ADMIN_PASSWORD, "admin")),
        ("main", "GET", "/v3/auth/tokens", None), ("admin", "GET", "/v3/auth/tokens", None),
        ("main", "GET", "/v3/auth/catalog", None), ("admin", "GET", "/v3/users", None),
        ("admin", "GET", "/v3/projects", None)])
    assert steps[0] == ["start-up", None, []]
    assert [status for _, status, _ in steps[1:]] == [201, 200, 200, 200, 200, 200]
    assert all(loaded == [] for _, _, loaded in steps[1:]), steps


def test_a_features_first_request_loads_it_and_is_answered(deployment):
    steps = probe(deployment, [("admin", "GET", "/v3/policies", None),
                               ("main", "GET", "/v3/credentials", None)])
    assert [(path, status) for path, status, _ in steps[1:]] == [
        ("/v3/policies", 200), ("/v3/credentials", 200)]
    assert set(steps[1][2]) == set(FEATURE_MODULES)


def test_every_model_of_feature_models_is_served_by_models():
    declared = {name for name, value in vars(feature_models).items()
                if isinstance(value, type) and issubclass(value, models.Base)
                and value.__module__ == feature_models.__name__}
    assert declared == models.FEATURE_MODELS
    assert all(getattr(models, name) is getattr(feature_models, name) for name in declared)
    with pytest.raises(AttributeError):
        models.NoSuchModel  # noqa: B018


def test_every_table_includes_the_feature_tables():
    names = {table.name for table in models.every_table()}
    assert {"trusts", "credentials", "oauth1_consumers", "limits", "policies"} <= names


def _sample_path(pattern: str) -> str:
    """A path ``pattern`` matches: each parameter replaced by its first alternative or ``x``."""
    def value(match):
        body = match.group(1)
        return "x" if "[" in body else body.split("|")[0]
    return re.sub(r"\(\?P<\w+>([^()]*)\)", value, pattern)


@pytest.mark.parametrize("admin", [False, True], ids=["main", "admin"])
def test_no_path_matches_both_a_start_up_route_and_a_feature_route(deployment, admin):
    """The router tries the feature routes only when no other matches: no path may match
    both, or which one answers would depend on that order."""
    v3 = app_module._v3({"config_file": deployment.config}, admin=admin)
    eager, lazy = v3.routes, v3.lazy_routes()
    assert lazy, "the feature routes are built"
    for one, others in ((eager, lazy), (lazy, eager)):
        for pattern, _ in one:
            path = _sample_path(pattern.pattern)
            assert pattern.fullmatch(path), (pattern.pattern, path)
            assert not [other.pattern for other, _ in others if other.fullmatch(path)], path


def test_concurrent_first_requests_build_the_feature_routes_once():
    calls = []
    started = threading.Event()

    def build():
        calls.append(1)
        started.wait(5)  # the other threads arrive while this one builds
        return [(r"/late", {"GET": lambda req, session: webob.Response("late")})]

    built = router.Router(None, [(r"/", {"GET": lambda req, session: None})], build)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = [pool.submit(built.lazy_routes) for _ in range(8)]
        started.set()
        lists = [result.result(timeout=10) for result in results]
    assert len(calls) == 1
    assert all(routes is lists[0] for routes in lists)
    assert [pattern.pattern for pattern, _ in lists[0]] == ["/late"]


def test_a_failed_build_of_the_feature_routes_is_tried_again():
    attempts = []

    def build():
        attempts.append(1)
        if len(attempts) == 1:
            raise ImportError("first attempt")
        return [(r"/late", {})]

    built = router.Router(None, [], build)
    with pytest.raises(ImportError):
        built.lazy_routes()
    assert [pattern.pattern for pattern, _ in built.lazy_routes()] == ["/late"]
    assert len(attempts) == 2
