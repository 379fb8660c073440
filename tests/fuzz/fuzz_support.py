"""What the fuzz tests share: the hypothesis settings, the fuzz deployment's known data, the
strategies that build hostile requests, and the invariants every response must keep.

Invariants (``check_response``): never a 5xx; no traceback, password, password hash, key or
(in an error) token in the body; every error is Keystone's ``{"error": {"code", "title",
"message"}}`` with ``code`` equal to the HTTP status (the OAuth 2.0 token endpoint's own are
RFC 6749's ``{"error", "error_description"}``, as Keystone's); a rejected request leaves every
table of the database exactly as it was.
"""
from __future__ import annotations

import base64
import collections
import copy
import dataclasses
import json
import os
import urllib.parse

import webtest
from hypothesis import HealthCheck, Phase, settings, strategies as st
from sqlalchemy import select

from keystone_lite.db import models

import aws_clients
from builders import (ADMIN_PASSWORD, ADMIN_TOKEN, add_user, cert_environ, issue,
                      password_auth, post_token, subject_headers, token_auth)

# -- run size and reporting ---------------------------------------------------------------------

# CI default (the whole of tests/fuzz takes about 2 minutes); KEYSTONE_LITE_FUZZ_EXAMPLES=1000
# for a longer local run. Whatever takes or checks a token gets twice as many.
EXAMPLES_PER_ENDPOINT = int(os.environ.get("KEYSTONE_LITE_FUZZ_EXAMPLES", "100"))
# Shrinking a failure can take minutes; CI reports the failing example as found, and
# KEYSTONE_LITE_FUZZ_SHRINK=1 shrinks it locally.
PHASES = tuple(Phase) if os.environ.get("KEYSTONE_LITE_FUZZ_SHRINK") else (
    Phase.explicit, Phase.reuse, Phase.generate)
# Reproducible in CI: the same examples every run (only the ids and tokens the service makes
# up differ), and no example database in the work tree.
FUZZ = settings(max_examples=EXAMPLES_PER_ENDPOINT, deadline=None, derandomize=True,
                database=None, print_blob=False, phases=PHASES,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much, HealthCheck.large_base_example])
FUZZ_TOKENS = settings(FUZZ, max_examples=2 * EXAMPLES_PER_ENDPOINT)

# Examples run per fuzz target ("admin POST /v3/users", "tokens[uuid] mutated real token", ...)
# and the responses they got by status class ((target, "2xx") -> n), which shows how deep the
# fuzzers got; tests/fuzz/conftest.py prints both at the end of the run.
EXAMPLES: collections.Counter = collections.Counter()
RESPONSES: collections.Counter = collections.Counter()

STATUSES = {200, 201, 204, 300, 400, 401, 403, 404, 405, 409, 413}
VICTIM_PASSWORD = "victim-Pa55word-7e1f"
TEMPLATE_PASSWORD = "template-Pa55word-c4a9"
# The victim's EC2 credential (its secret is shown to admins: not a secret of the fuzzers).
VICTIM_EC2 = {"access": "victim-access", "secret": "victim-secret"}

# -- the data of a fuzz deployment ------------------------------------------------------------


@dataclasses.dataclass
class FuzzContext:
    """A deployment with known entities and tokens, and what must never leak from it."""

    deployment: object
    ids: dict[str, list[str]]  # path parameter name -> real ids to read
    victims: dict[str, list[str]]  # path parameter name -> real ids that may be changed
    tokens: dict[str, str]  # name -> token that validates
    revoked: str
    credential: dict  # the victim's application credential: id, secret, access rule id
    secrets: list[bytes]  # never in any response body
    token_secrets: list[bytes]  # never in an error body
    database: dict = dataclasses.field(default_factory=dict)  # snapshot after the last request

    def app(self, name: str) -> webtest.TestApp:
        return getattr(self.deployment, name)

    def entity_ids(self) -> list[str]:
        return [value for name, values in self.ids.items() if name != "token_id"
                for value in values]


def _admin(app, method: str, path: str, body=None):
    return app.request(path, method=method, headers={"X-Auth-Token": ADMIN_TOKEN},
                       body=json.dumps(body).encode() if body is not None else b"",
                       content_type="application/json")


def build_context(deployment) -> FuzzContext:
    """Create the entities and tokens the fuzzers aim at (a few hundred milliseconds)."""
    admin = deployment.admin
    add_user(deployment, "victim", project="victim-project", role="member",
             password=VICTIM_PASSWORD)
    created = {}
    for plural, key, body in [
            ("roles", "role", {"name": "victim-role"}),
            ("domains", "domain", {"name": "victim-domain"}),
            ("regions", "region", {"id": "victim-region"}),
            ("services", "service", {"type": "victim", "name": "victim"})]:
        created[key] = _admin(admin, "POST", f"/v3/{plural}", {key: body}).json[key]["id"]
    created["endpoint"] = _admin(admin, "POST", "/v3/endpoints", {"endpoint": {
        "service_id": created["service"], "interface": "public", "url": "http://victim/",
        "region_id": "victim-region"}}).json["endpoint"]["id"]

    def listed(plural):
        return {entity.get("name", entity["id"]): entity["id"]
                for entity in _admin(admin, "GET", f"/v3/{plural}").json[plural]}

    users, projects, roles = listed("users"), listed("projects"), listed("roles")
    # A domain-specific role, and a rule the implied-role routes find.
    created["domain_role"] = _admin(admin, "POST", "/v3/roles", {"role": {
        "name": "victim-role", "domain_id": "default"}}).json["role"]["id"]
    _admin(admin, "PUT", f"/v3/roles/{created['role']}/implies/{roles['reader']}")
    _admin(admin, "PUT", f"/v3/projects/{projects['victim-project']}/tags/victim-tag")
    _admin(admin, "PUT", f"/v3/domains/default/users/{users['victim']}/roles/"
           f"{roles['member']}")
    # A group holding the victim and a role, so that group paths reach real rows.
    group = _admin(admin, "POST", "/v3/groups", {"group": {"name": "victim-group"}}
                   ).json["group"]["id"]
    _admin(admin, "PUT", f"/v3/groups/{group}/users/{users['victim']}")
    _admin(admin, "PUT", f"/v3/projects/{projects['victim-project']}/groups/{group}/roles/"
           f"{roles['member']}")
    # A credential of the victim's (its blob is shown to admins: not a secret of the fuzzers).
    stored_credential = _admin(admin, "POST", "/v3/credentials", {"credential": {
        "user_id": users["victim"], "project_id": projects["victim-project"], "type": "ec2",
        "blob": json.dumps(VICTIM_EC2)}}).json["credential"]["id"]
    endpoints = [endpoint["id"] for endpoint in
                 _admin(admin, "GET", "/v3/endpoints").json["endpoints"]]
    services = list(listed("services").values())
    regions = [region["id"] for region in _admin(admin, "GET", "/v3/regions").json["regions"]]
    domains = list(listed("domains").values())

    main = deployment.main
    tokens = {
        "admin-project": post_token(main, password_auth("admin", ADMIN_PASSWORD, "admin")
                                    ).headers["X-Subject-Token"],
        "admin-system": post_token(main, {"auth": {
            "identity": password_auth("admin", ADMIN_PASSWORD)["auth"]["identity"],
            "scope": {"system": {"all": True}}}}).headers["X-Subject-Token"],
        "victim-project": issue(main, "victim", "victim-project"),
        "victim-unscoped": post_token(main, {"auth": {"identity": {"methods": ["external"]},
                                                      "scope": "unscoped"}},
                                      user="victim").headers["X-Subject-Token"],
        "victim-domain": post_token(main, {"auth": {"identity": {"methods": ["external"]},
                                                    "scope": {"domain": {"id": "default"}}}},
                                    user="victim").headers["X-Subject-Token"],
    }
    tokens["victim-rescoped"] = post_token(main, token_auth(
        tokens["victim-unscoped"], "victim-project")).headers["X-Subject-Token"]
    # The victim's application credential, and another one limited by an access rule (whose
    # tokens validate only for validators that enforce the rules).
    made, limited = (main.post_json(
        f"/v3/users/{users['victim']}/application_credentials", {"application_credential": body},
        headers={"X-Auth-Token": tokens["victim-project"]}).json["application_credential"]
        for body in ({"name": "victim-credential"}, {"name": "victim-limited", "access_rules": [
            {"service": "identity", "method": "GET", "path": "/v3/users/*"}]}))
    credential = {"id": made["id"], "secret": made["secret"],
                  "rule_id": limited["access_rules"][0]["id"]}
    tokens["victim-credential"] = post_token(main, {"auth": {"identity": {
        "methods": ["application_credential"], "application_credential": {
            "id": credential["id"], "secret": credential["secret"]}}}}).headers[
        "X-Subject-Token"]
    revoked = issue(main, "victim", "victim-project")
    admin.delete("/v3/auth/tokens", headers=subject_headers(revoked), status=204)
    oauth1 = _oauth1_delegation(deployment, projects["victim-project"], users["victim"],
                                roles["member"])

    secrets = [ADMIN_PASSWORD, VICTIM_PASSWORD, TEMPLATE_PASSWORD, ADMIN_TOKEN, "$argon2",
               *oauth1["secrets"], credential["secret"], limited["secret"]]
    for key_dir in (os.path.join(deployment.data_dir, repository)
                    for repository in ("fernet-keys", "credential-keys")):
        for name in (os.listdir(key_dir) if os.path.isdir(key_dir) else ()):
            with open(os.path.join(key_dir, name), encoding="ascii") as handle:
                key = handle.read().strip()
            secrets += [key, base64.urlsafe_b64decode(key).hex()]
    return FuzzContext(
        deployment=deployment,
        ids={"user_id": list(users.values()), "project_id": list(projects.values()),
             "role_id": list(roles.values()), "domain_id": domains,
             "prior_role_id": [*roles.values(), created["domain_role"]],
             "implied_role_id": [*roles.values(), created["domain_role"]],
             "target_id": list(projects.values()) + domains,
             "service_id": services, "endpoint_id": endpoints, "region_id": regions,
             "token_id": list(tokens.values()), "group_id": [group],
             "actor_id": list(users.values()) + [group], "tag": ["victim-tag", "no-such-tag"],
             "credential_id": [stored_credential, credential["id"], limited["id"]],
             "rule_id": [credential["rule_id"]], "access": [VICTIM_EC2["access"]],
             **oauth1["ids"]},
        victims={"user_id": [users["victim"]], "project_id": [projects["victim-project"]],
                 "role_id": [created["role"], roles["member"]],
                 "prior_role_id": [created["role"], created["domain_role"]],
                 "implied_role_id": [roles["reader"], created["domain_role"], roles["admin"]],
                 "domain_id": [created["domain"]],
                 "target_id": [projects["victim-project"], created["domain"]],
                 "service_id": [created["service"]],
                 "endpoint_id": [created["endpoint"]], "region_id": ["victim-region"],
                 "group_id": [group], "actor_id": [users["victim"], group],
                 "token_id": [tokens["victim-project"], tokens["victim-rescoped"]],
                 "tag": ["victim-tag", "fuzz-tag"],
                 "credential_id": [stored_credential, credential["id"], limited["id"]],
                 "rule_id": [credential["rule_id"]], "access": [VICTIM_EC2["access"]],
                 **oauth1["ids"]},
        tokens=tokens, revoked=revoked, credential=credential,
        secrets=[secret.encode() for secret in secrets],
        token_secrets=[token.encode() for token in [*tokens.values(), revoked]])


def _oauth1_delegation(deployment, project: str, user: str, role: str) -> dict:
    """An OAuth1 consumer with a pending request token and the victim's access token (member on
    the victim project), so that the OS-OAUTH1 paths reach real rows: {"ids", "secrets"}."""
    consumer = _admin(deployment.admin, "POST", "/v3/OS-OAUTH1/consumers",
                      {"consumer": {"description": "victim"}}).json["consumer"]
    rows = {"request_token_id": models.OAuth1RequestToken(
                id=models_id(), secret=models_id(), consumer_id=consumer["id"],
                project_id=project),
            "access_token_id": models.OAuth1AccessToken(
                id=models_id(), secret=models_id(), consumer_id=consumer["id"],
                authorizing_user_id=user, project_id=project, role_ids=json.dumps([role]))}
    ids = {"consumer_id": [consumer["id"]], **{name: [row.id] for name, row in rows.items()}}
    secrets = [consumer["secret"], *(row.secret for row in rows.values())]
    with deployment.services().transaction() as session:
        session.add_all(rows.values())
    return {"ids": ids, "secrets": secrets}


def models_id() -> str:
    return os.urandom(16).hex()


def snapshot(deployment) -> dict:
    """Every row of every table, in primary-key order."""
    with deployment.services().engine.connect() as connection:
        return {table.name: connection.execute(
                    select(table).order_by(*table.primary_key.columns)).all()
                for table in models.every_table()}


# -- text, values and documents -----------------------------------------------------------------

ODD_CHARACTERS = [
    "\x00", "\x7f", "\u202e", "\u200f", "\u200b", "\u200d", "\u2028", "\ufeff", "\ud800",
    "\udfff", "\U0001f600", "\uffff", "\ufffe", "\u0301", "\U000e0041", "\\", '"', "'", "%",
    "%00", "/", "..", "\n", "\r", "\t", " ", "<script>", "${jndi:x}", "%s%n", "é", "İ", "ß",
    "ﬀ", "Ⅻ", "١", "null", "true", "[]", "{}", "admin", "default", "*", "?", "#", "&",
]
# Around the 255-character column limit, and over the 114688-byte body limit.
HUGE_LENGTHS = [255, 256, 4097, 70_000, 120_000]

small_text = st.text(st.characters(exclude_categories=()), max_size=12)  # surrogates too
odd_text = st.one_of(
    small_text,
    st.lists(st.sampled_from(ODD_CHARACTERS), min_size=1, max_size=6).map("".join),
    st.tuples(st.sampled_from(["admin", "default", "member", "victim", "RegionOne", ""]),
              st.sampled_from(ODD_CHARACTERS), small_text).map("".join),
    st.tuples(st.sampled_from(["x", "é", "\u202e", "\x00", "\U0001f600"]),
              st.sampled_from(HUGE_LENGTHS)).map(lambda pair: pair[0] * pair[1]),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(),
    st.sampled_from([2 ** 63, -2 ** 63 - 1, 2 ** 64, 10 ** 300, -0.0, 1e308]),
    st.floats(), odd_text)
odd_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                     st.dictionaries(small_text, inner, max_size=3)),
    max_leaves=6)

# Keys the parsers look for: inserting them with odd values reaches deeper code.
KNOWN_KEYS = [
    "auth", "identity", "methods", "password", "user", "id", "name", "domain", "scope",
    "project", "system", "all", "unscoped", "token", "external", "passwordCredentials",
    "username", "userId", "tenantName", "tenantId", "enabled", "description", "domain_id",
    "default_project_id", "is_domain", "parent_id", "type", "service_id", "interface", "url",
    "region_id", "region", "parent_region_id", "role", "roles", "users", "catalog", "group",
    "application_credential", "secret", "access_rules", "unrestricted", "expires_at",
    "service", "method", "path",
]


@dataclasses.dataclass(frozen=True)
class Deep:
    """``inner`` nested ``depth`` levels deep; serialised as text (json.dumps would recurse)."""

    depth: int
    inner: object


def serialise(document, ensure_ascii: bool) -> bytes:
    """JSON bytes of ``document``; lone surrogates become invalid UTF-8 unless escaped."""
    deep: list[Deep] = []

    def placeholder(value):
        if isinstance(value, Deep):
            deep.append(value)
            return f"@@deep{len(deep) - 1}@@"
        raise TypeError(type(value))

    text = json.dumps(document, ensure_ascii=ensure_ascii, default=placeholder)
    for index, value in enumerate(deep):
        inner = serialise(value.inner, ensure_ascii).decode("utf-8", "surrogatepass")
        text = text.replace(f'"@@deep{index}@@"', "[" * value.depth + inner + "]" * value.depth)
    return text.encode("utf-8", "surrogatepass")


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


def _retyped(value):
    """The same content as another JSON type."""
    if isinstance(value, str):
        return [[value], {"id": value}, len(value), value.encode("utf-8", "surrogatepass").hex()]
    if isinstance(value, dict):
        return [list(value.values()), repr(value)[:100], None, [value]]
    if isinstance(value, list):
        return [dict(enumerate(value)), value[0] if value else None, str(value)]
    if isinstance(value, bool):
        return [str(value).lower(), int(value), None]
    if isinstance(value, (int, float)):
        return [str(value), bool(value), [value]]
    return [{}, [], "", 0, False]


@st.composite
def mutated(draw, template):
    """``template`` after a few structural mutations (none at all, sometimes)."""
    document = copy.deepcopy(template)
    for _ in range(draw(st.integers(0, 4))):
        path = draw(st.sampled_from(list(_paths(document))))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        value = parent[path[-1]] if path else document
        operation = draw(st.sampled_from(
            ["drop", "replace", "retype", "insert", "wrap", "nest", "rename", "huge"]))
        if operation == "insert" and isinstance(value, dict):
            key = draw(st.one_of(st.sampled_from(KNOWN_KEYS), small_text))
            value[key] = draw(odd_values)
            continue
        if operation in ("drop", "rename"):
            if not path:
                continue
            del parent[path[-1]]
            if operation == "rename" and isinstance(parent, dict):
                twist = draw(st.sampled_from(["upper", "space", "zero-width", "nul", "rtl"]))
                key = str(path[-1])
                parent[{"upper": key.upper(), "space": f" {key}", "zero-width": key + "\u200b",
                        "nul": key + "\x00", "rtl": "\u202e" + key}[twist]] = value
            continue
        if operation == "replace":
            new = draw(odd_values)
        elif operation == "retype":
            new = draw(st.sampled_from(_retyped(value)))
        elif operation == "wrap":
            new = draw(st.sampled_from([[value], {"value": value}, [value, value]]))
        elif operation == "nest":
            new = Deep(draw(st.sampled_from([2, 50, 900, 5000, 100_000])), value)
        else:  # huge
            new = draw(st.sampled_from(["A", "é", "\U0001f600"])) * draw(
                st.sampled_from(HUGE_LENGTHS))
        if path:
            parent[path[-1]] = new
        else:
            document = new
    return document


@st.composite
def raw_mutated(draw, data: bytes):
    """Byte-level damage to a serialised body: cut, flipped, invalid UTF-8, BOM, ..."""
    position = draw(st.integers(0, len(data)))
    operation = draw(st.sampled_from(
        ["truncate", "flip", "insert-invalid", "bom", "trailing", "overlong", "duplicate-key",
         "long-number", "whitespace"]))
    if operation == "truncate":
        return data[:position]
    if operation == "flip" and data:
        index = min(position, len(data) - 1)
        return data[:index] + bytes([data[index] ^ (1 << draw(st.integers(0, 7)))]) + \
            data[index + 1:]
    if operation == "insert-invalid":
        junk = draw(st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                                     b"\x80", b"\xe2\x82"]))
        return data[:position] + junk + data[position:]
    if operation == "bom":
        return b"\xef\xbb\xbf" + data
    if operation == "trailing":
        return data + draw(st.sampled_from([b"{}", b"\x00", b" garbage", b"]", b"\n\n"]))
    if operation == "overlong":
        return data.replace(b'"', b"\xc0\xa2", 1)
    if operation == "duplicate-key":
        return data.replace(b"{", b'{"auth": 1, ', 1)
    if operation == "long-number":
        return b'{"auth": ' + b"9" * 5000 + b"}"
    return b" \t\r\n" * draw(st.integers(1, 30))


def bodies(templates: list) -> st.SearchStrategy[bytes]:
    """Request bodies: mutated valid documents, random JSON, damaged bytes, extremes."""
    template = st.sampled_from(templates)
    documents = st.one_of(template.flatmap(mutated), template.flatmap(mutated),
                          template.flatmap(mutated), odd_values)
    return st.one_of(
        st.builds(serialise, documents, st.booleans()),
        st.builds(serialise, template, st.booleans()).flatmap(raw_mutated),
        st.binary(max_size=64),
        st.sampled_from([b"", b"{}", b"[]", b"null", b'"x"', b"1e999", b"NaN",
                         b'{"a": NaN}', b"[" * 100_000, b'{"a":' * 20_000]),
    )


# -- request parts ------------------------------------------------------------------------------

def latin1(text: str) -> str:
    """What a WSGI server hands over for a header or path sent as UTF-8 bytes."""
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


def header_value(text: str) -> str:
    """``text`` as a WSGI header value (latin-1 text; a server never passes CR or LF on)."""
    return latin1(text).replace("\r", "").replace("\n", "")


header_text = st.one_of(
    odd_text.map(lambda text: text[:2000]),  # servers refuse headers over 8 kB
    st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=40),
    st.sampled_from(["A" * 8000, "gAAAAA" + "A" * 300, "0" * 32, "f" * 32, " ", "null",
                     'OAuth oauth_consumer_key="' + "0" * 32 + '", oauth_token="' + "f" * 32
                     + '", oauth_signature="x", oauth_signature_method="HMAC-SHA1", '
                     'oauth_nonce="1", oauth_timestamp="1700000000", oauth_verifier="abcdEFGH"',
                     "OAuth ", 'OAuth realm="x"', "Basic YWRtaW46eA=="]),
).map(header_value)

QUERY_NAMES = [
    "nocatalog", "allow_expired", "belongsTo", "name", "enabled", "domain_id", "user.id",
    "scope.project.id", "scope.domain.id", "scope.system", "role.id", "include_names",
    "effective", "group.id", "scope.OS-INHERIT:inherited_to", "type", "service_id",
    "interface", "region_id", "parent_region_id", "default_project_id",
]


def quote(text: str) -> str:
    return urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")


def query_strings(known_ids: list[str]) -> st.SearchStrategy[str]:
    name = st.one_of(st.sampled_from(QUERY_NAMES), small_text)
    value = st.one_of(st.sampled_from(["", "1", "0", "true", "false", "yes", "no", "maybe"]),
                      st.sampled_from(known_ids), odd_text.map(lambda text: text[:2000]))
    pairs = st.lists(st.tuples(name, value, st.booleans()), max_size=4).map(
        lambda items: "&".join(quote(k) if bare and not v else f"{quote(k)}={quote(v)}"
                               for k, v, bare in items))
    raw = st.sampled_from(["%ff", "nocatalog=%ff", "a=%", "a=%zz", "&&&", "=", ";", "+",
                           "name=%00", "enabled=%C0%80", "%e2%80%ae=1", "a" * 9000])
    return st.one_of(st.just(""), pairs, pairs, raw)


def path_segments(known: list[str]) -> st.SearchStrategy[str]:
    """A path parameter, already percent-encoded for the URL."""
    real = st.sampled_from(known).map(quote) if known else st.nothing()
    return st.one_of(
        real, real, real,
        # Web servers refuse request lines over 8 kB (Apache: 414).
        odd_text.filter(bool).map(lambda text: quote(text[:2000])),
        st.binary(min_size=1, max_size=8).map(lambda raw: urllib.parse.quote(raw, safe="")),
        st.sampled_from([".", "..", "%2F", "%00", "x" * 300, "default", "all", " "]),
    )


# -- one fuzzed request ---------------------------------------------------------------------------

@dataclasses.dataclass
class FuzzRequest:
    app: str
    method: str
    url: str
    headers: dict[str, str]
    environ: dict[str, str]
    body: bytes

    def describe(self) -> str:
        body = self.body[:300] + (b"..." if len(self.body) > 300 else b"")
        return (f"{self.app} {self.method} {self.url[:300]!r}\n  headers {self.headers!r}\n"
                f"  environ {self.environ!r}\n  body ({len(self.body)} bytes) {body!r}")

    def send(self, ctx: FuzzContext, lint: bool = True):
        path, _, query = self.url.partition("?")
        request = webtest.TestRequest.blank("/", method=self.method, environ={
            **self.environ, "REMOTE_ADDR": "127.0.0.1"})
        # What a server puts in the environ (webob's own unquoting is quadratic on long paths).
        request.environ["PATH_INFO"] = urllib.parse.unquote_to_bytes(path).decode("latin-1")
        request.environ["QUERY_STRING"] = query
        for name, value in self.headers.items():
            request.headers[name] = value
        if self.body:
            request.body = self.body
        app = ctx.app(self.app) if lint else webtest.TestApp(ctx.app(self.app).app, lint=False)
        return app.do_request(request, status="*", expect_errors=True)


def caller_tokens(ctx: FuzzContext) -> st.SearchStrategy[str | None]:
    """X-Auth-Token: mostly an admin (so that admin endpoints get past the policy check)."""
    admin = st.sampled_from([ADMIN_TOKEN, ctx.tokens["admin-project"],
                             ctx.tokens["admin-system"]])
    return st.one_of(admin, admin, admin, st.none(), st.sampled_from(list(ctx.tokens.values())),
                     st.just(ctx.revoked), header_text,
                     st.sampled_from(list(ctx.tokens.values())).flatmap(token_mutations).map(
                         header_value))


def subject_tokens(ctx: FuzzContext) -> st.SearchStrategy[str | None]:
    live = st.sampled_from(list(ctx.tokens.values()))
    return st.one_of(live, live, st.none(), st.just(ctx.revoked), header_text,
                     live.flatmap(token_mutations).map(header_value))


def environs(ctx: FuzzContext) -> st.SearchStrategy[dict]:
    """What the web server says about the client: nothing, a good certificate, a bad one."""
    verified = st.sampled_from(["admin", "victim", "nobody"]).map(cert_environ)
    odd_user = odd_text.map(lambda name: {**cert_environ("victim"),
                                          "REMOTE_USER": latin1(name[:2000])})
    unverified = st.tuples(verified, st.sampled_from(["NONE", "GENEROUS", "FAILED:expired",
                                                      ""])).map(
        lambda pair: {**pair[0], "SSL_CLIENT_VERIFY": pair[1]})
    other_domain = verified.map(lambda environ: {**environ, "REMOTE_DOMAIN": "victim-domain"})
    return st.one_of(st.just({}), st.just({}), verified, odd_user, unverified, other_domain)


SPOOFED_HEADERS = ["Remote-User", "X-Remote-User", "X-SSL-Client-S-DN-UID",
                   "SSL_CLIENT_S_DN_UID", "X-SSL-Client-Verify", "Remote-Domain",
                   # OAuth1's signed header, and the project a consumer asks a delegation on.
                   "Authorization", "Requested-Project-Id"]


CONTENT_TYPES = ["application/json", "application/json; charset=latin-1", "text/plain",
                 "multipart/form-data; boundary=x", "application/x-www-form-urlencoded",
                 "\xff/\xfe"]
EXTRA_HEADERS = st.dictionaries(
    st.sampled_from(SPOOFED_HEADERS + ["Accept", "X-Forwarded-For", "Host"]),
    st.one_of(st.sampled_from(["admin", "SUCCESS", "text/html", "*/*"]), header_text),
    max_size=3)


ASPECTS = ("path", "query", "caller", "subject", "headers", "environ", "body")


def fuzz_requests(endpoint, ctx: FuzzContext, templates: list) -> st.SearchStrategy:
    """FuzzRequests for ``endpoint``.

    Most requests are hostile in one aspect (path, query, caller token, subject token, other
    headers, certificate environ or body) and ordinary in the others, so that the hostile part
    reaches the code behind the checks it would otherwise trip first; a few are hostile in
    every aspect. The strategies are built once here: building is the slow part of drawing.
    """
    hostile, ordinary = {}, {}
    segments = []
    for name in endpoint.params:
        # An unknown parameter gets every id but the tokens (which may be echoed as a path is).
        known = (ctx.victims if endpoint.method not in ("GET", "HEAD") else ctx.ids).get(
            name, ctx.entity_ids())
        segments.append((name, path_segments(known), st.sampled_from(known).map(quote)))
    hostile["path"] = st.tuples(*[strategy for _, strategy, _ in segments])
    ordinary["path"] = st.tuples(*[strategy for _, _, strategy in segments])
    hostile["query"], ordinary["query"] = query_strings(ctx.entity_ids()), st.just("")
    hostile["caller"] = caller_tokens(ctx)
    ordinary["caller"] = st.sampled_from([ADMIN_TOKEN, ctx.tokens["admin-project"]])
    live = st.sampled_from(list(ctx.tokens.values()))
    hostile["subject"], ordinary["subject"] = subject_tokens(ctx), live
    hostile["headers"] = st.tuples(st.sampled_from(CONTENT_TYPES), EXTRA_HEADERS)
    ordinary["headers"] = st.just(("application/json", {}))
    hostile["environ"] = environs(ctx)
    ordinary["environ"] = st.sampled_from([{}, cert_environ("victim")])
    hostile["body"] = bodies(templates)
    if endpoint.method in ("POST", "PUT", "PATCH"):
        ordinary["body"] = st.builds(serialise, st.sampled_from(templates), st.just(True))
    else:
        ordinary["body"] = st.just(b"")
        hostile["body"] = st.one_of(st.just(b""), hostile["body"])
    variants = [st.fixed_dictionaries({aspect: (hostile if aspect == chosen else ordinary)[aspect]
                                       for aspect in ASPECTS}) for chosen in ASPECTS]
    variants.append(st.fixed_dictionaries(hostile))

    def build(drawn) -> FuzzRequest:
        url = endpoint.template
        for (name, _, _), segment in zip(segments, drawn["path"]):
            url = url.replace(f"{{{name}}}", segment, 1)
        headers = {name: drawn[key] for name, key in (("X-Auth-Token", "caller"),
                                                      ("X-Subject-Token", "subject"))
                   if drawn[key] is not None}
        headers["Content-Type"], extra = drawn["headers"]
        headers.update(extra)
        return FuzzRequest(app=endpoint.app, method=endpoint.method,
                           url=url + (f"?{drawn['query']}" if drawn["query"] else ""),
                           headers=headers, environ=drawn["environ"], body=drawn["body"])

    return st.one_of(variants).map(build)


# -- valid bodies to start mutating from -------------------------------------------------------

def body_templates(method: str, template: str, ctx: FuzzContext) -> list:
    """Valid documents for ``method template`` (``[{}]`` for an endpoint not listed here)."""
    victim_project = ctx.victims["project_id"][0]
    password_user = {"name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}
    v3 = [
        password_auth("admin", ADMIN_PASSWORD, "admin"),
        {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "id": ctx.victims["user_id"][0], "password": VICTIM_PASSWORD}}},
            "scope": {"project": {"id": victim_project}}}},
        {"auth": {"identity": {"methods": ["external"], "external": {}},
                  "scope": {"project": {"name": "victim-project",
                                        "domain": {"name": "Default"}}}}},
        {"auth": {"identity": {"methods": []}, "scope": "unscoped"}},
        {"auth": {"identity": {"methods": ["token"], "token": {
            "id": ctx.tokens["victim-unscoped"]}}, "scope": {"domain": {"id": "default"}}}},
        {"auth": {"identity": {"methods": ["password", "external"], "password": {
            "user": password_user}}, "scope": {"system": {"all": True}}}},
        {"auth": {"identity": {"methods": ["token", "password"], "token": {
            "id": ctx.tokens["admin-project"]}, "password": {"user": password_user}},
            "scope": {"unscoped": {}}}},
        {"auth": {"identity": {"methods": ["oauth1"], "oauth1": {}}}},
        {"auth": {"identity": {"methods": ["application_credential"],
                               "application_credential": {
                                   "id": ctx.credential["id"],
                                   "secret": ctx.credential["secret"]}}}},
        {"auth": {"identity": {"methods": ["application_credential"],
                               "application_credential": {
                                   "name": "victim-credential",
                                   "user": {"name": "victim", "domain": {"id": "default"}},
                                   "secret": ctx.credential["secret"]}}}},
    ]
    v2 = [
        {"auth": {"passwordCredentials": {"username": "admin", "password": ADMIN_PASSWORD},
                  "tenantName": "admin"}},
        {"auth": {"passwordCredentials": {"userId": ctx.victims["user_id"][0],
                                          "password": VICTIM_PASSWORD},
                  "tenantId": victim_project}},
        {"auth": {"token": {"id": ctx.tokens["victim-unscoped"]}, "tenantId": victim_project}},
        {"auth": {"tenantName": "victim-project"}},
    ]
    user = {"name": "fuzz-user", "domain_id": "default", "password": TEMPLATE_PASSWORD,
            "enabled": True, "description": "", "default_project_id": victim_project}
    project = {"name": "fuzz-project", "domain_id": "default", "description": "d",
               "enabled": True, "is_domain": False, "parent_id": "default",
               "tags": ["fuzz-tag", "other"]}
    endpoint = {"service_id": ctx.victims["service_id"][0], "interface": "internal",
                "url": "http://fuzz/", "region_id": "victim-region", "enabled": True}
    table = {
        ("POST", "/v3/auth/tokens"): v3,
        ("POST", "/v2.0/tokens"): v2,
        ("POST", "/v3/users"): [{"user": user}, {"user": {"name": "fuzz-cert-user"}}],
        ("PATCH", "/v3/users/{user_id}"): [{"user": user}, {"user": {"enabled": False}},
                                           {"user": {"password": TEMPLATE_PASSWORD}}],
        ("POST", "/v3/projects"): [{"project": project},
                                   {"project": {**project, "parent_id": victim_project}},
                                   {"project": {"name": "fuzz-domain-project",
                                                "domain_id": None, "is_domain": True}}],
        ("PUT", "/v3/projects/{project_id}/tags"): [{"tags": ["fuzz-tag", "other"]}],
        # A wrong original: the victim's password must keep working for the other fuzzers.
        ("POST", "/v3/users/{user_id}/password"): [{"user": {
            "original_password": "not-the-password", "password": TEMPLATE_PASSWORD}}],
        ("PATCH", "/v3/projects/{project_id}"): [{"project": project},
                                                 {"project": {"enabled": False}}],
        ("POST", "/v3/roles"): [{"role": {"name": "fuzz-role", "description": "r"}},
                                {"role": {"name": "fuzz-role", "domain_id": "default"}}],
        ("PATCH", "/v3/roles/{role_id}"): [{"role": {"name": "fuzz-role2"}}],
        ("POST", "/v3/domains"): [{"domain": {"name": "fuzz-domain", "enabled": True,
                                              "description": ""}}],
        ("PATCH", "/v3/domains/{domain_id}"): [{"domain": {"name": "fuzz-domain2",
                                                           "enabled": False}}],
        ("POST", "/v3/services"): [{"service": {"type": "compute", "name": "nova",
                                                "description": "", "enabled": True}}],
        ("PATCH", "/v3/services/{service_id}"): [{"service": {"type": "image",
                                                              "enabled": False}}],
        ("POST", "/v3/endpoints"): [{"endpoint": endpoint}],
        ("PATCH", "/v3/endpoints/{endpoint_id}"): [{"endpoint": endpoint},
                                                   {"endpoint": {"region": None}}],
        ("POST", "/v3/regions"): [{"region": {"id": "fuzz-region", "description": "",
                                              "parent_region_id": "victim-region"}}],
        ("PATCH", "/v3/regions/{region_id}"): [{"region": {"parent_region_id": "RegionOne"}}],
        ("PUT", "/v3/regions/{region_id}"): [{"region": {"description": "",
                                                         "parent_region_id": "victim-region"}}],
        ("POST", "/v3/groups"): [{"group": {"name": "fuzz-group", "domain_id": "default",
                                            "description": "g"}}],
        ("PATCH", "/v3/groups/{group_id}"): [{"group": {"name": "fuzz-group2",
                                                        "description": None}}],
        ("POST", "/v3/OS-OAUTH1/consumers"): [{"consumer": {"description": "fuzz"}}],
        ("PATCH", "/v3/OS-OAUTH1/consumers/{consumer_id}"): [{"consumer": {"description": ""}}],
        ("PUT", "/v3/OS-OAUTH1/authorize/{request_token_id}"): [
            {"roles": [{"name": "member"}]}, {"roles": [{"id": ctx.victims["role_id"][1]}]}],
        ("POST", "/v3/users/{user_id}/application_credentials"): [{"application_credential": {
            "name": "fuzz-credential", "description": "d", "secret": "fuzz-secret",
            "expires_at": "2099-01-01T00:00:00.000000", "roles": [{"name": "member"}],
            "unrestricted": False, "access_rules": [
                {"service": "compute", "method": "GET", "path": "/servers/*"},
                {"id": ctx.credential["rule_id"]}]}}],
        ("POST", "/v3/users/{user_id}/credentials/OS-EC2"): [{"tenant_id": victim_project}],
        # The victim's credential's signatures, as ec2-api and Swift send them.
        ("POST", "/v3/ec2tokens"): [{"credentials": aws_clients.forwarded(
            aws_clients.signed_ec2_request(VICTIM_EC2, how), VICTIM_EC2["access"])}
            for how in ("v2", "v4", "v4-query")],
        ("POST", "/v3/s3tokens"): [{"credentials": aws_clients.signed_s3_request(
            VICTIM_EC2, how)} for how in ("v2", "v4")],
    }
    return table.get((method, template), [{}])


# -- invariants -----------------------------------------------------------------------------------

def exercise(ctx: FuzzContext, request: FuzzRequest, target: str, lint: bool = True):
    """Send ``request``, count its response under ``target``, check every invariant; returns
    the response."""
    before = ctx.database or snapshot(ctx.deployment)
    response = request.send(ctx, lint)
    # Only requests write to the database, so this is also the next request's "before".
    ctx.database = snapshot(ctx.deployment)
    RESPONSES[target, f"{response.status_int // 100}xx"] += 1
    check_response(response, request, ctx, before, ctx.database)
    return response


OAUTH2_PATH = "/v3/OS-OAUTH2/token"


def check_response(response, request: FuzzRequest, ctx: FuzzContext, before, after) -> None:
    """Assert every invariant of the module docstring for one response."""
    where = f"\nstatus {response.status}\nrequest {request.describe()}\n" \
            f"response {response.body[:500]!r}"
    status = response.status_int
    assert status in STATUSES, "unexpected status" + where
    body = response.body
    assert b"Traceback" not in body and b'File "' not in body, "traceback" + where
    for secret in ctx.secrets:
        assert secret not in body, f"secret {secret[:6]!r}... in the body" + where
    if request.method == "HEAD":
        assert body == b"", "HEAD with a body" + where
    elif status == 204:
        assert body == b"", "204 with a body" + where
    elif status == 201 and body == b"" and request.method == "PUT" and "/tags/" in request.url:
        # Keystone's PUT of one project tag: 201, no body, the tag's URL in Location.
        assert response.headers.get("Location"), "tag created without a Location" + where
    elif request.url.split("?")[0] == "/healthcheck" and response.content_type == "text/plain":
        # oslo.middleware's healthcheck (keystone_lite/health.py): "OK", or the reasons of a
        # 503, as text unless the client asks for JSON.
        assert (status, body) == (200, b"OK") or status == 503, "healthcheck" + where
    elif request.url.split("?")[0] == "/metrics" and status == 200:
        # Prometheus's text format (keystone_lite/metrics_wsgi.py), for admin and service
        # tokens; refusals are JSON, below.
        assert response.content_type == "text/plain", "metrics" + where
        assert body.startswith(b"# HELP keystone_lite_"), "metrics" + where
    elif urllib.parse.urlsplit(request.url).path.startswith("/account") and (
            status < 400 or response.content_type == "text/html"):
        # The account page (keystone_lite/account): its HTML, its downloads, the 303 after its
        # form; an error is a page only for a client asking for HTML (else JSON, below).
        assert response.content_type in ("text/html", "application/yaml", "text/plain") \
            or status == 303, "account page" + where
        assert status < 400 or "text/html" in request.headers.get("Accept", ""), where
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'"), where
    else:
        assert response.content_type == "application/json", "not JSON" + where
        document = json.loads(body)
        if status >= 400 and urllib.parse.urlsplit(request.url).path.endswith(OAUTH2_PATH) \
                and isinstance(document.get("error"), str):
            # The endpoint's own errors; the filters before it (body size, a refused
            # certificate) answer in Keystone's shape, checked below.
            assert set(document) == {"error", "error_description"}, "not OAuth2's" + where
            assert all(isinstance(value, str) and value for value in document.values()), where
        elif status >= 400:
            assert set(document) == {"error"}, "not a Keystone error" + where
            error = document["error"]
            assert set(error) == {"code", "title", "message"}, "not a Keystone error" + where
            assert error["code"] == status, "error code is not the status" + where
            assert isinstance(error["title"], str) and error["title"], where
            assert isinstance(error["message"], str) and error["message"], where
    if status >= 400:
        for token in ctx.token_secrets:  # only ever sent where no error may quote them
            assert token not in body, "a token in an error body" + where
        # Whatever else came as a token, unless the same text was also sent where an error may
        # quote it (a path or query parameter, a body field).
        elsewhere = urllib.parse.unquote_to_bytes(request.url) + request.body
        for name in ("X-Auth-Token", "X-Subject-Token"):
            sent = request.headers.get(name, "").encode("latin-1")
            if len(sent) >= 32 and sent not in elsewhere:
                assert sent not in body, f"the {name} in an error body" + where
        assert "X-Subject-Token" not in response.headers, "subject token on an error" + where
        if status == 401:
            # A wrong password counts toward the lockout (login_failures, written in a
            # transaction of its own by design); nothing else may change.
            before, after = ({name: rows for name, rows in snapshot.items()
                              if name != "login_failures"} for snapshot in (before, after))
        assert before == after, "a rejected request changed the database" + where


def token_mutations(token: str) -> st.SearchStrategy[str]:
    """``token`` with one small change (never only surrounding whitespace)."""
    position = st.integers(0, len(token) - 1)
    byte_strings = st.one_of(
        st.tuples(position, st.integers(0, 7)).map(
            lambda pair: _flip(token, pair[0], pair[1])),
        st.tuples(position, st.sampled_from(ODD_CHARACTERS + list("=.-_+/!~ AZaz09"))).map(
            lambda pair: token[:pair[0]] + pair[1] + token[pair[0]:]),
        position.map(lambda index: token[:index] + token[index + 1:]),
        position.map(lambda index: token[:index]),
        st.sampled_from(["=", "==", "A", ".", "!", "\x00", "%3D", token]).map(
            lambda tail: token + tail),
        position.map(lambda index: token[:index] + token[index].swapcase() + token[index + 1:]),
        position.map(lambda index: token[:index] + token[index + 1:index + 2] + token[index] +
                     token[index + 2:]),
        st.just(token.upper()), st.just(token.lower()), st.just(token[::-1]),
    )
    return byte_strings.filter(lambda mutated: normalised(mutated) != token)


def _flip(token: str, index: int, bit: int) -> str:
    return token[:index] + chr(ord(token[index]) ^ (1 << bit)) + token[index + 1:]


def normalised(token: str) -> str:
    """``token`` without what transport drops: surrounding whitespace (not part of a header
    value) and a trailing slash (not part of a URL path). No mutation normalises to the
    token it came from."""
    return token.strip().rstrip("/").strip()
