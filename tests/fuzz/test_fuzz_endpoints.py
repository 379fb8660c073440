"""Every endpoint of both paste-loaded apps under hostile requests (hypothesis).

The endpoints are found by walking the loaded pipelines to their routers (``fuzz_routes``), so
a new endpoint is fuzzed without a change here. Each gets mutated valid bodies, random JSON,
damaged bytes, odd path parameters, query strings and headers, real, revoked, garbage and
bit-flipped tokens, and good and bad certificate environs, mostly one hostile part at a time so
that it gets past the checks the others would trip (``fuzz_support.fuzz_requests``);
``fuzz_support.check_response`` states the invariants. Endpoints that take a token get twice
the examples.
"""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

import fuzz_routes
import fuzz_support
from fuzz_support import FUZZ, FUZZ_TOKENS, FuzzRequest

ENDPOINTS = fuzz_routes.collected_endpoints()
# A failing example may hold a 100 kB body; hypothesis warns about printing it, and the failure
# matters more than the warning.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[endpoint.id for endpoint in ENDPOINTS])
def test_endpoint_keeps_the_invariants_under_fuzzed_requests(fuzz_context, endpoint):
    ctx = fuzz_context
    templates = fuzz_support.body_templates(endpoint.method, endpoint.template, ctx)

    @(FUZZ_TOKENS if "/tokens" in endpoint.template else FUZZ)
    @given(request=fuzz_support.fuzz_requests(endpoint, ctx, templates))
    def run(request: FuzzRequest):
        fuzz_support.EXAMPLES[endpoint.id] += 1
        fuzz_support.exercise(ctx, request, endpoint.id)

    run()


def test_the_fuzzed_endpoints_are_those_of_the_deployed_apps(deployment):
    deployed = fuzz_routes.deployed_endpoints({"main": deployment.main.app,
                                               "admin": deployment.admin.app})
    assert tuple(deployed) == ENDPOINTS
    # Every method the routers serve, and every mount of both apps.
    assert {endpoint.method for endpoint in deployed} == {"GET", "HEAD", "POST", "PUT",
                                                          "PATCH", "DELETE"}
    assert {endpoint.template.split("/")[1] for endpoint in deployed} == {
        "", "v2.0", "v3", "healthcheck", "account", "metrics"}


@pytest.mark.parametrize("app", fuzz_routes.APPS)
def test_unknown_paths_and_methods_keep_the_invariants(fuzz_context, app):
    ctx = fuzz_context
    known_paths = sorted({endpoint.template for endpoint in ENDPOINTS})
    segment = st.one_of(st.sampled_from(["v3", "v2.0", "auth", "tokens", "users", "..", "."]),
                        fuzz_support.odd_text.filter(bool).map(
                            lambda text: fuzz_support.quote(text[:2000])))
    paths = st.one_of(
        st.lists(segment, min_size=1, max_size=5).map(lambda parts: "/" + "/".join(parts)),
        st.tuples(st.sampled_from(known_paths), segment).map(lambda pair: "/".join(pair)),
        st.sampled_from(known_paths).map(lambda path: path.replace("{", "").replace("}", "")),
    )
    methods = st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
                               "TRACE", "CONNECT", "PROPFIND", "get", "FOO"])

    @FUZZ
    @given(path=paths, method=methods, body=st.sampled_from([b"", b"{}", b"\xff"]))
    def run(path, method, body):
        target = f"{app} any method, unknown or odd path"
        fuzz_support.EXAMPLES[target] += 1
        request = FuzzRequest(app=app, method=method, url=path,
                              headers={"X-Auth-Token": ctx.tokens["admin-project"]},
                              environ={}, body=body)
        # webtest's lint refuses methods outside HTTP/1.1; the apps must not.
        fuzz_support.exercise(ctx, request, target, lint=False)

    run()
