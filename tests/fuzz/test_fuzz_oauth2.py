"""The OAuth 2.0 token endpoint under hostile forms and ``Authorization`` headers (hypothesis).

The generic endpoint fuzzer sends JSON bodies, which this form endpoint refuses at once; here
the form fields and Basic credentials are drawn around the victim's real application
credential (right and wrong ids and secrets, odd text, repeated and missing fields), with and
without a certificate, so that the requests get as far as the token issue.
"""
from __future__ import annotations

import base64
import urllib.parse

import pytest
from hypothesis import given, strategies as st

import fuzz_support
from fuzz_support import FUZZ, FuzzRequest

FIELDS = ["grant_type", "client_id", "client_secret", "scope", "code"]


def field_values(ctx) -> st.SearchStrategy[str]:
    credential = ctx.credential
    return st.one_of(
        st.sampled_from(["client_credentials", "password", "", credential["id"],
                         credential["secret"], credential["secret"] + "x", "f" * 32]),
        fuzz_support.odd_text.map(lambda text: text[:300]))


def forms(ctx) -> st.SearchStrategy[bytes]:
    pairs = st.lists(st.tuples(st.sampled_from(FIELDS), field_values(ctx)), max_size=5)
    encoded = pairs.map(lambda items: urllib.parse.urlencode(
        [(key, value.encode("utf-8", "surrogatepass")) for key, value in items]).encode())
    grant = st.just(b"grant_type=client_credentials")
    return st.one_of(grant, grant, encoded, st.binary(max_size=64))


def authorizations(ctx) -> st.SearchStrategy[dict]:
    credential = ctx.credential
    pair = st.tuples(st.sampled_from([credential["id"], "", "f" * 32]),
                     st.sampled_from([credential["secret"], "", "wrong"]))
    basic = pair.map(lambda ids: "Basic " + base64.b64encode(
        ":".join(ids).encode()).decode())
    odd = fuzz_support.header_text.map(lambda text: "Basic " + text)
    right = "Basic " + base64.b64encode(
        f"{credential['id']}:{credential['secret']}".encode()).decode()
    return st.one_of(st.just({}), st.just({"Authorization": right}),
                     basic.map(lambda value: {"Authorization": value}),
                     odd.map(lambda value: {"Authorization": value}),
                     fuzz_support.header_text.map(lambda value: {"Authorization": value}))


@pytest.mark.parametrize("app", ["main", "admin"])
def test_oauth2_token_endpoint_keeps_the_invariants(fuzz_context, app):
    ctx = fuzz_context
    target = f"{app} POST /v3/OS-OAUTH2/token (forms)"
    form = "application/x-www-form-urlencoded"
    content_types = st.sampled_from([form, form, f"{form}; charset=latin-1",
                                     "application/json", "text/plain"])

    @FUZZ
    @given(body=forms(ctx), authorization=authorizations(ctx), content_type=content_types,
           environ=st.one_of(st.just({}), st.just({}), fuzz_support.environs(ctx)))
    def run(body, authorization, content_type, environ):
        fuzz_support.EXAMPLES[target] += 1
        request = FuzzRequest(app=app, method="POST", url="/v3/OS-OAUTH2/token",
                              headers={"Content-Type": content_type, **authorization},
                              environ=environ, body=body)
        fuzz_support.exercise(ctx, request, target)

    run()
