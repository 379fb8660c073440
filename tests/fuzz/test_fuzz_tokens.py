"""Random, mutated and forged tokens in every place a token is accepted, for both providers.

A real token with one small change (a flipped bit, a character inserted, dropped, swapped or
re-cased, a cut, a suffix) must fail wherever it is presented: as the subject of v3
GET/HEAD/DELETE (404, also with ``allow_expired``), as the caller's ``X-Auth-Token`` (401), as
the parent of a rescope (401) and in the v2.0 URL (404); and presenting it must not revoke the
real token. Payloads forged with the deployment's own Fernet key, and corrupted rows of the uuid
provider, may decode to nonsense: still never a 5xx. Every response also keeps the invariants
of ``fuzz_support.check_response``.
"""
from __future__ import annotations

import base64
import os

import msgpack
import pytest
from cryptography.fernet import Fernet
from hypothesis import given, strategies as st
from sqlalchemy import update

from keystone_lite.db import models
from keystone_lite.token import payload as token_payload

import fuzz_support
from builders import ADMIN_TOKEN, issue
from fuzz_support import FUZZ_TOKENS, FuzzRequest, exercise, header_value, quote

PROVIDERS = ["fernet", "uuid"]
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@pytest.fixture(params=PROVIDERS)
def provider_context(request, make_deployment):
    deployment = make_deployment({"token": {"provider": request.param}})
    return request.param, fuzz_support.build_context(deployment)


def attempts(token: str, original: str | None) -> list[tuple[FuzzRequest, set[int]]]:
    """Every way to present ``token`` (a copy of ``original``, if given), with the statuses
    that mean "refused"."""
    admin = {"X-Auth-Token": ADMIN_TOKEN}
    as_header = header_value(token)
    body = fuzz_support.serialise({"auth": {"identity": {"methods": ["token"],
                                                         "token": {"id": token}}}}, False)
    tries = [
        # A NUL or a lone surrogate in the JSON is refused before the token is looked at.
        (FuzzRequest("main", "POST", "/v3/auth/tokens", {}, {}, body), {400, 401}),
        # A path that is not UTF-8 is refused before routing; an empty id leaves
        # "/v2.0/tokens", where only POST is served.
        (FuzzRequest("admin", "GET", f"/v2.0/tokens/{quote(token)}", admin, {}, b""),
         {400, 404, 405}),
    ]
    if original is not None and fuzz_support.normalised(as_header) == original:
        return tries  # the change does not survive the trip through a header
    for method in ("GET", "HEAD", "DELETE"):
        tries.append((FuzzRequest("admin", method, "/v3/auth/tokens",
                                  {**admin, "X-Subject-Token": as_header}, {}, b""), {404}))
    tries += [
        (FuzzRequest("admin", "GET", "/v3/auth/tokens?allow_expired=1",
                     {**admin, "X-Subject-Token": as_header}, {}, b""), {404}),
        (FuzzRequest("main", "GET", "/v3/auth/catalog", {"X-Auth-Token": as_header}, {}, b""),
         {401}),
    ]
    return tries


def assert_refused_everywhere(ctx, token: str, target: str, original: str | None = None
                              ) -> None:
    for request, refused in attempts(token, original):
        response = exercise(ctx, request, target)
        assert response.status_int in refused, f"{response.status} for {request.describe()}"


def assert_still_valid(ctx, token: str) -> None:
    ctx.app("admin").get("/v3/auth/tokens", headers={"X-Auth-Token": ADMIN_TOKEN,
                                                     "X-Subject-Token": token}, status=200)


def mutated_real_tokens(ctx):
    return st.sampled_from(sorted(ctx.tokens.items())).flatmap(
        lambda item: st.tuples(st.just(item[1]), fuzz_support.token_mutations(item[1])))


def test_a_mutated_real_token_is_refused_everywhere(provider_context):
    provider, ctx = provider_context

    @FUZZ_TOKENS
    @given(pair=mutated_real_tokens(ctx))
    def run(pair):
        original, mutated = pair
        target = f"tokens[{provider}] mutated real token"
        fuzz_support.EXAMPLES[target] += 1
        assert_refused_everywhere(ctx, mutated, target, original)
        assert_still_valid(ctx, original)  # presenting the copy (even to DELETE) left it alone

    run()


random_tokens = st.one_of(
    fuzz_support.header_text,
    st.binary(min_size=16, max_size=16).map(bytes.hex),  # a uuid token's shape
    st.binary(min_size=60, max_size=200).map(  # a Fernet token's shape, version byte first
        lambda raw: base64.urlsafe_b64encode(b"\x80" + raw).rstrip(b"=").decode()),
    st.binary(max_size=64).map(lambda raw: base64.urlsafe_b64encode(raw).decode()),
    fuzz_support.odd_text.map(lambda text: text[:2000]),
)


def test_a_random_token_is_refused_everywhere(provider_context):
    provider, ctx = provider_context

    @FUZZ_TOKENS
    @given(token=random_tokens)
    def run(token):
        target = f"tokens[{provider}] random token"
        fuzz_support.EXAMPLES[target] += 1
        assert_refused_everywhere(ctx, token, target)

    run()


# -- payloads the fuzzer writes itself --------------------------------------------------------

msgpack_values = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 63, 2 ** 64 - 1), st.floats(),
    st.binary(max_size=40), st.text(max_size=40), st.lists(st.binary(max_size=20), max_size=3),
    st.sampled_from([0, -1, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, [], {}, [b""]]))


def extremes(value) -> list:
    """Values of the same kind as ``value`` at and beyond what the payload may hold."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [-1, 0, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, -2 ** 63, value + 1]
    if isinstance(value, bytes):
        return [b"", b"\x00" * 16, b"x" * 33, b"x" * 100, value[:-1]]
    if isinstance(value, str):
        return ["", "\x00", "x" * 65, "\ud800".encode("utf-8", "surrogatepass").decode(
            "utf-8", "replace"), value.upper()]
    if isinstance(value, list):
        return [[], [b""], [b"x" * 49], [1], value * 3]
    return [b"x" * 16, 0, "default", True]


@st.composite
def payload_bytes(draw, real: list):
    """A real payload with one field pushed to an extreme, or with fields changed, added or
    dropped, or bytes that are no payload at all."""
    fields = list(real)
    if draw(st.booleans()):
        index = draw(st.integers(0, len(fields) - 1))
        fields[index] = draw(st.sampled_from(extremes(fields[index])))
        return msgpack.packb(fields)
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(fields)))
        action = draw(st.sampled_from(["replace", "replace", "insert", "drop"]))
        if action == "insert" or index == len(fields):
            fields.insert(index, draw(msgpack_values))
        elif action == "drop":
            del fields[index]
        else:
            fields[index] = draw(msgpack_values)
    return draw(st.one_of(st.just(msgpack.packb(fields)), st.just(msgpack.packb(fields)),
                          st.binary(max_size=120)))


def test_a_token_forged_with_the_real_key_never_breaks_validation(make_deployment):
    ctx = fuzz_support.build_context(make_deployment())
    key_dir = os.path.join(ctx.deployment.data_dir, "fernet-keys")
    with open(os.path.join(key_dir, max(os.listdir(key_dir), key=int)), "rb") as handle:
        primary = Fernet(handle.read().strip())
    token = ctx.tokens["victim-project"]
    real = msgpack.unpackb(primary.decrypt(token + "=" * (-len(token) % 4)))

    @FUZZ_TOKENS
    @given(data=payload_bytes(real))
    def run(data):
        target = "tokens[fernet] forged payload, real key"
        fuzz_support.EXAMPLES[target] += 1
        forged = primary.encrypt(data).rstrip(b"=").decode()
        request = FuzzRequest("admin", "GET", "/v3/auth/tokens",
                              {"X-Auth-Token": ADMIN_TOKEN, "X-Subject-Token": forged}, {}, b"")
        response = exercise(ctx, request, target)
        assert response.status_int in (200, 404)
        if response.status_int == 200:  # only a payload this version reads can validate
            token_payload.decode(data)

    run()


def test_a_corrupted_uuid_token_row_never_breaks_validation(make_deployment):
    ctx = fuzz_support.build_context(make_deployment({"token": {"provider": "uuid"}}))
    services = ctx.deployment.services()
    with services.transaction() as session:
        real = msgpack.unpackb(session.get(models.Token, ctx.tokens["victim-project"]).payload)

    @FUZZ_TOKENS
    @given(data=payload_bytes(real))
    def run(data):
        target = "tokens[uuid] corrupted stored payload"
        fuzz_support.EXAMPLES[target] += 1
        # A token never validated before: no cached answer stands in for its row.
        token = issue(ctx.deployment.main, "victim", "victim-project")
        with services.transaction() as session:
            session.execute(update(models.Token).where(models.Token.id == token).values(
                payload=data))
        ctx.database = {}  # the fuzzer, not a request, changed it
        request = FuzzRequest("admin", "GET", "/v3/auth/tokens",
                              {"X-Auth-Token": ADMIN_TOKEN, "X-Subject-Token": token}, {}, b"")
        response = exercise(ctx, request, target)
        assert response.status_int in (200, 404)
        if response.status_int == 200:
            token_payload.decode(data)

    run()
