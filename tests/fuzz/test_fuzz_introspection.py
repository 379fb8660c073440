"""RFC 7662 introspection (``POST /v3/OS-OAUTH2/introspect``) under hostile forms (hypothesis).

The generic endpoint fuzzer sends JSON bodies, which this form endpoint refuses at once; here
the ``token`` field holds live, revoked, mutated and odd tokens, beside repeated, missing and
unknown fields, sent by admin callers (so that requests get past the policy check) and others.
Besides the invariants of every endpoint: a 200 is ``{"active": false}`` or an active answer
for a token that is exactly one of the live ones.
"""
from __future__ import annotations

import urllib.parse

from hypothesis import given, strategies as st

import fuzz_support
from fuzz_support import FUZZ, FuzzRequest

PATH = "/v3/OS-OAUTH2/introspect"
FORM = "application/x-www-form-urlencoded"


def forms(ctx) -> st.SearchStrategy[tuple[bytes, list]]:
    """(body, the token values it holds)."""
    token = fuzz_support.subject_tokens(ctx).map(lambda value: value or "")
    field = st.sampled_from(["token", "token", "token_type_hint", "client_id"])
    pairs = st.lists(st.tuples(field, st.one_of(token, fuzz_support.odd_text.map(
        lambda text: text[:300]))), max_size=4)
    encoded = pairs.map(lambda items: (urllib.parse.urlencode(
        [(key, value.encode("utf-8", "surrogatepass")) for key, value in items]).encode(),
        [value for key, value in items if key == "token"]))
    single = token.map(lambda value: (urllib.parse.urlencode({"token": value}).encode(),
                                      [value]))
    return st.one_of(single, single, encoded,
                     st.binary(max_size=64).map(lambda body: (body, None)))


def test_introspection_keeps_the_invariants(fuzz_context):
    ctx = fuzz_context
    target = "admin POST /v3/OS-OAUTH2/introspect (forms)"
    live = set(ctx.tokens.values())
    content_types = st.sampled_from([FORM, FORM, f"{FORM}; charset=latin-1",
                                     "application/json", "text/plain"])

    @FUZZ
    @given(form=forms(ctx), caller=fuzz_support.caller_tokens(ctx),
           content_type=content_types,
           environ=st.one_of(st.just({}), st.just({}), fuzz_support.environs(ctx)))
    def run(form, caller, content_type, environ):
        body, tokens = form
        fuzz_support.EXAMPLES[target] += 1
        headers = {"Content-Type": content_type}
        if caller is not None:
            headers["X-Auth-Token"] = caller
        request = FuzzRequest(app="admin", method="POST", url=PATH, headers=headers,
                              environ=environ, body=body)
        response = fuzz_support.exercise(ctx, request, target)
        if response.status_int == 200:
            answer = response.json
            assert answer == {"active": False} or (
                answer["active"] is True and tokens and tokens[-1].strip() in live), (
                request.describe(), answer)

    run()
