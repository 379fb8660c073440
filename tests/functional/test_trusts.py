"""Trusts (issue 12 item 2): ``/v3/OS-TRUST/trusts`` and trust-scoped tokens, checked against
Keystone 30's recorded answers (``../shared/keystone-golden-next/trust-*.json``) and its rules.
What kills a trust's tokens, for both providers: the lifecycle tests at the end."""
from __future__ import annotations

import concurrent.futures
import datetime
import json
import os

import pytest
import webob

from builders import (ADMIN_TOKEN, GOLDEN_NEXT, add_user, admin_headers, assert_keystone_error,
                      golden, password_auth, post_token, project_id, subject_headers, token_auth)

ADMIN = admin_headers()
TRUSTOR_PASSWORD = "trustor-secret"
TRUSTEE_PASSWORD = "trustee-secret"
TRUSTS = "/v3/OS-TRUST/trusts"


# -- builders --------------------------------------------------------------------------------------

class World:
    """trustor (member, so reader too, on ``trust-proj``), trustee and bystander, all with
    passwords and certificates; ``tokens`` holds each one's token (the trustor's on
    trust-proj)."""

    def __init__(self, deployment):
        self.deployment = deployment
        self.app = deployment.main
        add_user(deployment, "trustor", "trust-proj", "member", password=TRUSTOR_PASSWORD)
        add_user(deployment, "trustee", password=TRUSTEE_PASSWORD)
        add_user(deployment, "bystander", "trust-proj", "member", password="bystander-secret")
        self.project = project_id(deployment, "trust-proj")
        self.ids = {name: user_id(deployment, name) for name in
                    ("trustor", "trustee", "bystander")}
        self.roles = {role["name"]: role["id"] for role in deployment.admin.get(
            "/v3/roles", headers=ADMIN).json["roles"]}
        self.trustor_token = login(self.app, "trustor", TRUSTOR_PASSWORD, "trust-proj")

    def trust(self, status: int = 201, token: str | None = None, **fields):
        """POST a trust of the trustor's to the trustee on trust-proj delegating member,
        changed by ``fields``; the response."""
        body = {"trustor_user_id": self.ids["trustor"], "trustee_user_id": self.ids["trustee"],
                "project_id": self.project, "impersonation": False,
                "roles": [{"name": "member"}], **fields}
        return self.app.post_json(TRUSTS, {"trust": body},
                                  headers={"X-Auth-Token": token or self.trustor_token},
                                  status=status)

    def trust_id(self, **fields) -> str:
        return self.trust(**fields).json["trust"]["id"]

    def trust_token(self, trust_id: str, user: str = "trustee", status: int = 201,
                    password: str = TRUSTEE_PASSWORD):
        body = password_auth(user, password)
        body["auth"]["scope"] = {"OS-TRUST:trust": {"id": trust_id}}
        return post_token(self.app, body, status=status)


def user_id(deployment, name: str) -> str:
    (user,) = deployment.admin.get(f"/v3/users?name={name}", headers=ADMIN).json["users"]
    return user["id"]


def login(app, user: str, password: str, project: str | None = None) -> str:
    return post_token(app, password_auth(user, password, project)).headers["X-Subject-Token"]


def validate(app, token: str, status: int = 200):
    return app.get("/v3/auth/tokens", headers=subject_headers(token), status=status)


def in_a_day() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + \
        datetime.timedelta(days=1)


def shape_differences(golden_value, ours, where: str = "$") -> list[str]:
    """Where ``ours`` lacks a key of Keystone's or holds another JSON type. A null on either
    side matches any value (a list's items are compared with Keystone's first, whose nullable
    attributes may be set where ours are not; role descriptions are "" here where Keystone has
    null); what ``options`` holds is data (keystone_lite's roles have no ``immutable``)."""
    if golden_value is None or ours is None:
        return []
    if type(golden_value) is not type(ours) and not (
            isinstance(golden_value, (int, float)) and isinstance(ours, (int, float))):
        return [f"{where}: Keystone has {type(golden_value).__name__}, we have "
                f"{type(ours).__name__}"]
    problems = []
    if isinstance(golden_value, dict):
        for key, value in golden_value.items():
            if key not in ours:
                problems.append(f"{where}.{key}: missing")
            elif key != "options":
                problems += shape_differences(value, ours[key], f"{where}.{key}")
    elif isinstance(golden_value, list) and golden_value:
        problems += [f"{where}: empty"] if not ours else []
        for index, item in enumerate(ours):
            problems += shape_differences(golden_value[0], item, f"{where}[{index}]")
    return problems


def assert_shaped_like(response, name: str) -> None:
    """Keystone's status, and every key of its body with its JSON type."""
    status, body, _headers = golden(name)
    assert response.status_int == status, response.body
    if body is not None:
        assert shape_differences(body, response.json) == []


@pytest.fixture
def world(deployment) -> World:
    return World(deployment)


# -- the API against Keystone's answers ------------------------------------------------------------

def test_trust_calls_and_trust_tokens_answer_as_keystone(world):
    app = world.app
    created = world.trust(impersonation=True, remaining_uses=3)
    assert_shaped_like(created, "trust-create-impersonation.json")
    trust = created.json["trust"]
    assert set(trust) == set(golden("trust-create-impersonation.json")[1]["trust"])
    assert (trust["impersonation"], trust["remaining_uses"], trust["expires_at"],
            trust["redelegation_count"], trust["deleted_at"]) == (True, 3, None, 0, None)
    assert [role["name"] for role in trust["roles"]] == ["member"]
    assert trust["links"]["self"] == f"http://localhost{TRUSTS}/{trust['id']}"
    assert trust["roles_links"]["self"] == f"http://localhost{TRUSTS}/{trust['id']}/roles"
    expires = in_a_day()
    other = world.trust(expires_at=expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        roles=[{"name": "reader"}])
    assert_shaped_like(other, "trust-create-no-impersonation.json")
    assert other.json["trust"]["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%S.000000Z")

    headers = {"X-Auth-Token": world.trustor_token}
    shown = app.get(f"{TRUSTS}/{trust['id']}", headers=headers)
    assert_shaped_like(shown, "trust-show.json")
    assert shown.json["trust"] == trust
    listed = app.get(f"{TRUSTS}?trustor_user_id={world.ids['trustor']}", headers=headers)
    assert_shaped_like(listed, "trust-list-by-trustor.json")
    assert {entry["id"] for entry in listed.json["trusts"]} == {trust["id"],
                                                               other.json["trust"]["id"]}
    assert "roles" not in listed.json["trusts"][0]
    everything = app.get(TRUSTS, headers=ADMIN)
    assert_shaped_like(everything, "trust-list.json")
    assert len(everything.json["trusts"]) == 2
    roles = app.get(f"{TRUSTS}/{trust['id']}/roles", headers=headers)
    assert_shaped_like(roles, "trust-roles.json")
    assert roles.json["roles"] == trust["roles"]

    token = world.trust_token(trust["id"])
    assert_shaped_like(token, "trust-token-impersonation.json")
    body = token.json["token"]
    assert body["user"]["id"] == world.ids["trustor"]  # impersonation
    assert body["OS-TRUST:trust"] == {"id": trust["id"], "impersonation": True,
                                      "trustor_user": {"id": world.ids["trustor"]},
                                      "trustee_user": {"id": world.ids["trustee"]}}
    assert body["project"]["id"] == world.project
    assert [role["name"] for role in body["roles"]] == ["member", "reader"]  # with implied
    assert "is_domain" not in body
    subject = token.headers["X-Subject-Token"]
    validated = validate(app, subject)
    assert_shaped_like(validated, "trust-validate-token.json")
    assert validated.json["token"] == body
    after_use = app.get(f"{TRUSTS}/{trust['id']}", headers=headers)
    assert_shaped_like(after_use, "trust-show-after-use.json")
    assert after_use.json["trust"]["remaining_uses"] == 2

    plain = world.trust_token(other.json["trust"]["id"])
    assert_shaped_like(plain, "trust-token-no-impersonation.json")
    assert plain.json["token"]["user"]["id"] == world.ids["trustee"]
    assert [role["name"] for role in plain.json["token"]["roles"]] == ["reader"]

    deleted = app.delete(f"{TRUSTS}/{trust['id']}", headers=headers)
    assert_shaped_like(deleted, "trust-delete.json")
    assert_shaped_like(validate(app, subject, status=404),
                       "trust-validate-token-after-delete.json")
    gone = app.get(f"{TRUSTS}/{trust['id']}", headers=headers, status=404)
    assert assert_keystone_error(gone, 404)["message"] == f"Could not find trust: {trust['id']}."


def test_every_trust_recording_is_checked():
    """So that a recording added to the shared folder gets its test here."""
    recorded = {name for name in os.listdir(GOLDEN_NEXT) if name.startswith("trust-")} \
        if os.path.isdir(GOLDEN_NEXT) else set()
    with open(__file__, encoding="utf-8") as handle:
        source = handle.read()
    assert {name for name in recorded if f'"{name}"' not in source} == set()


@pytest.mark.parametrize("app_name", ["main", "admin"])
def test_both_apps_serve_trusts_and_neither_updates_them(world, app_name):
    app = getattr(world.deployment, app_name)
    trust_id = world.trust_id()
    headers = {"X-Auth-Token": world.trustor_token}
    assert app.get(f"{TRUSTS}/{trust_id}", headers=headers).json["trust"]["id"] == trust_id
    refused = app.patch_json(f"{TRUSTS}/{trust_id}", {"trust": {"impersonation": True}},
                             headers=headers, status=405)
    assert_keystone_error(refused, 405)
    assert "PATCH" not in refused.headers["Allow"]


def test_trust_roles_are_listed_and_checked_one_by_one(world):
    app = world.app
    trust_id = world.trust_id(roles=[{"id": world.roles["member"]}, {"name": "reader"}])
    headers = {"X-Auth-Token": world.trustor_token}
    listed = app.get(f"{TRUSTS}/{trust_id}/roles", headers=headers).json
    assert sorted(role["name"] for role in listed["roles"]) == ["member", "reader"]
    assert listed["links"]["self"].endswith(f"{TRUSTS}/{trust_id}/roles")
    member = world.roles["member"]
    role = app.get(f"{TRUSTS}/{trust_id}/roles/{member}", headers=headers).json["role"]
    assert (role["id"], role["name"]) == (member, "member")
    assert role["links"]["self"].endswith(f"/v3/roles/{member}")
    assert app.head(f"{TRUSTS}/{trust_id}/roles/{member}", headers=headers,
                    status=200).body == b""
    admin_role = world.roles["admin"]
    missing = app.get(f"{TRUSTS}/{trust_id}/roles/{admin_role}", headers=headers, status=404)
    assert assert_keystone_error(missing, 404)["message"] == \
        f"Could not find role: {admin_role}."
    app.head(f"{TRUSTS}/{trust_id}/roles/{admin_role}", headers=headers, status=404)


# -- creating --------------------------------------------------------------------------------------

def test_a_trust_delegates_only_roles_the_trustor_holds_on_the_project(world):
    # reader is implied by the trustor's member: it may be delegated on its own.
    assert world.trust(roles=[{"name": "reader"}]).json["trust"]["roles"][0]["name"] == "reader"
    for reference, shown in (({"name": "admin"}, world.roles["admin"]),
                             ({"id": world.roles["admin"]}, world.roles["admin"]),
                             ({"name": "no-such-role"}, "no-such-role"),
                             ({"id": "no-such-id"}, "no-such-id")):
        refused = world.trust(roles=[{"name": "member"}, reference], status=404)
        assert assert_keystone_error(refused, 404)["message"] == f"Could not find role: {shown}."
    # On a project where the trustor holds nothing.
    admin_project = project_id(world.deployment, "admin")
    world.trust(project_id=admin_project, status=404)
    world.trust(project_id="no-such-project", status=404)


def test_only_the_trustor_creates_its_trust(world):
    bystander = login(world.app, "bystander", "bystander-secret", "trust-proj")
    refused = world.trust(token=bystander, status=403)
    assert_keystone_error(refused, 403)
    # Not even the administrator, for someone else.
    world.app.post_json(TRUSTS, {"trust": {
        "trustor_user_id": world.ids["trustor"], "trustee_user_id": world.ids["trustee"],
        "project_id": world.project, "impersonation": False, "roles": [{"name": "member"}]}},
        headers=ADMIN, status=403)
    world.app.post_json(TRUSTS, {"trust": {}}, status=401)


@pytest.mark.parametrize("fields, status, message", [
    ({"roles": []}, 403, "At least one role should be specified"),
    ({"trustee_user_id": "nobody"}, 404, "Could not find user: nobody."),
    ({"expires_at": "bad.123Z"}, 400, "Timestamp not in expected format"),
    ({"expires_at": "2000-01-01T00:00:00Z"}, 400, "The 'expires_at' must not be before now"),
    ({"expires_at": "9999-12-31T23:00:00-05:00"}, 400, "Timestamp not in expected format"),
    ({"remaining_uses": 0}, 400, "remaining_uses"),
    ({"remaining_uses": 2**31}, 400, "remaining_uses"),  # past the column's INTEGER
    ({"impersonation": "yes"}, 400, "impersonation"),
    ({"roles": [{"id": "x", "name": "member"}]}, 400, "roles"),
    ({"roles": [{"nick": "member"}]}, 400, "roles"),
    ({"allow_redelegation": True, "remaining_uses": 2}, 400,
     "remaining_uses must not be set if redelegation is allowed"),
    ({"allow_redelegation": True, "redelegation_count": 4}, 403,
     "Requested redelegation depth of 4 is greater than allowed 3."),
], ids=lambda value: str(value)[:40])
def test_refused_trusts_answer_as_keystone(world, fields, status, message):
    error = assert_keystone_error(world.trust(status=status, **fields), status)
    assert message in error["message"]


@pytest.mark.parametrize("missing", ["trustor_user_id", "trustee_user_id", "impersonation"])
def test_a_trust_without_a_required_attribute_is_refused(world, missing):
    """400; 403 without a trustor: the policy rule, checked first as in Keystone, names the
    trustor."""
    body = {"trustor_user_id": world.ids["trustor"], "trustee_user_id": world.ids["trustee"],
            "impersonation": False}
    del body[missing]
    status = 403 if missing == "trustor_user_id" else 400
    refused = world.app.post_json(TRUSTS, {"trust": body},
                                  headers={"X-Auth-Token": world.trustor_token}, status=status)
    error = assert_keystone_error(refused, status)
    assert status == 403 or missing in error["message"]


def test_a_trust_may_name_no_project_and_then_no_role_and_scopes_no_token(world):
    trust = world.trust(project_id=None, roles=[]).json["trust"]
    assert (trust["project_id"], trust["roles"]) == (None, [])
    world.trust(project_id=None, status=404)  # member is held on no project
    assert_keystone_error(world.trust_token(trust["id"], status=403), 403)


def test_expires_at_is_read_as_utc_unless_it_names_its_offset(world):
    expires = in_a_day()
    naive = world.trust(expires_at=expires.strftime("%Y-%m-%dT%H:%M:%S")).json["trust"]
    assert naive["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    offset = expires.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
    aware = world.trust(expires_at=offset.isoformat()).json["trust"]
    assert aware["expires_at"] == naive["expires_at"]


# -- reading, listing, deleting: who may -----------------------------------------------------------

def test_trustor_and_trustee_see_the_trust_others_do_not(world):
    app = world.app
    trust_id = world.trust_id()
    trustee = login(app, "trustee", TRUSTEE_PASSWORD)
    bystander = login(app, "bystander", "bystander-secret", "trust-proj")
    for token in (world.trustor_token, trustee):
        for path in ("", "/roles", f"/roles/{world.roles['member']}"):
            app.get(f"{TRUSTS}/{trust_id}{path}", headers={"X-Auth-Token": token})
    for path in ("", "/roles", f"/roles/{world.roles['member']}"):
        assert_keystone_error(app.get(f"{TRUSTS}/{trust_id}{path}",
                                      headers={"X-Auth-Token": bystander}, status=403), 403)
    # Not the admin_token either: it is no user (Keystone refuses is_admin there too).
    app.get(f"{TRUSTS}/{trust_id}", headers=ADMIN, status=403)
    # A missing trust is 404 whoever asks (Keystone's lp#1840288).
    for token in (bystander, world.trustor_token):
        app.get(f"{TRUSTS}/nope", headers={"X-Auth-Token": token}, status=404)
        app.delete(f"{TRUSTS}/nope", headers={"X-Auth-Token": token}, status=404)
        app.get(f"{TRUSTS}/nope/roles", headers={"X-Auth-Token": token}, status=404)


def test_lists_are_the_trustors_the_trustees_or_an_administrators(world):
    app = world.app
    trust_id = world.trust_id()
    trustee = login(app, "trustee", TRUSTEE_PASSWORD)
    ids = world.ids

    def listed(token, query="", status=200):
        response = app.get(f"{TRUSTS}{query}", headers={"X-Auth-Token": token}, status=status)
        return [trust["id"] for trust in response.json["trusts"]] if status == 200 else None

    assert listed(world.trustor_token, f"?trustor_user_id={ids['trustor']}") == [trust_id]
    assert listed(trustee, f"?trustee_user_id={ids['trustee']}") == [trust_id]
    assert listed(trustee, f"?trustee_user_id={ids['trustee']}&trustor_user_id="
                           f"{ids['bystander']}", status=403) is None
    assert listed(world.trustor_token, f"?trustor_user_id={ids['bystander']}", 403) is None
    assert listed(world.trustor_token, f"?trustee_user_id={ids['trustee']}", 403) is None
    assert listed(world.trustor_token, "", 403) is None
    assert listed(ADMIN_TOKEN, "") == [trust_id]
    admin = login(app, "admin", "admin-secret", "admin")
    assert listed(admin, f"?trustee_user_id={ids['bystander']}", 403) is None
    assert listed(admin, "") == [trust_id]


def test_only_the_trustor_deletes_and_deleting_takes_the_roles_along(world):
    app = world.app
    trust_id = world.trust_id()
    trustee = login(app, "trustee", TRUSTEE_PASSWORD)
    app.delete(f"{TRUSTS}/{trust_id}", headers={"X-Auth-Token": trustee}, status=403)
    app.delete(f"{TRUSTS}/{trust_id}", headers={"X-Auth-Token": world.trustor_token},
               status=204)
    app.delete(f"{TRUSTS}/{trust_id}", headers={"X-Auth-Token": world.trustor_token},
               status=404)
    app.get(f"{TRUSTS}/{trust_id}/roles", headers={"X-Auth-Token": world.trustor_token},
            status=404)


# -- trust-scoped tokens ---------------------------------------------------------------------------

def test_the_token_is_the_trustees_and_shows_the_trustor_only_when_impersonating(world):
    app = world.app
    for impersonation, shown in ((True, "trustor"), (False, "trustee")):
        token = world.trust_token(world.trust_id(impersonation=impersonation))
        body = token.json["token"]
        assert (body["user"]["id"], body["user"]["name"]) == (world.ids[shown], shown)
        assert body["OS-TRUST:trust"]["impersonation"] is impersonation
        # Whatever it shows, the token is the trustee's: the trustee may check it...
        trustee = login(app, "trustee", TRUSTEE_PASSWORD)
        app.head("/v3/auth/tokens", headers=subject_headers(token.headers["X-Subject-Token"],
                                                            trustee), status=200)
        # ...and the trustee's unscoped token does not become the trustor's.
        assert validate(app, trustee).json["token"]["user"]["id"] == world.ids["trustee"]


def test_a_trust_token_carries_the_trust_roles_not_the_trustees(world):
    add_user(world.deployment, "trustee2", "trust-proj", "reader", password="t2-secret")
    trust_id = world.trust(trustee_user_id=user_id(world.deployment, "trustee2")).json[
        "trust"]["id"]
    roles = world.trust_token(trust_id, "trustee2", password="t2-secret").json["token"]["roles"]
    assert [role["name"] for role in roles] == ["member", "reader"]
    assert set(roles[0]) == {"id", "name", "domain_id", "description", "options"}


def test_only_the_trustee_gets_a_token_with_the_trust(world):
    trust_id = world.trust_id()
    refused = world.trust_token(trust_id, "bystander", status=403,
                                password="bystander-secret")
    assert assert_keystone_error(refused, 403)["message"] == "User is not a trustee."
    world.trust_token(trust_id, "trustor", status=403, password=TRUSTOR_PASSWORD)
    missing = world.trust_token("no-such-trust", status=401)
    assert assert_keystone_error(missing, 401)["message"] == "Could not find trust: no-such-trust."
    post_token(world.app, {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "trustee", "domain": {"id": "default"}, "password": TRUSTEE_PASSWORD}}},
        "scope": {"OS-TRUST:trust": {}}}}, status=400)


def test_the_trustee_may_use_its_certificate_or_a_token_of_its_own(world):
    trust_id = world.trust_id()
    scope = {"OS-TRUST:trust": {"id": trust_id}}
    by_certificate = post_token(world.app, {"auth": {
        "identity": {"methods": ["external"]}, "scope": scope}}, user="trustee").json["token"]
    assert by_certificate["methods"] == ["external"]
    assert by_certificate["OS-TRUST:trust"]["id"] == trust_id
    trustee = post_token(world.app, password_auth("trustee", TRUSTEE_PASSWORD))
    by_token = post_token(world.app, {"auth": {**token_auth(
        trustee.headers["X-Subject-Token"])["auth"], "scope": scope}}).json["token"]
    assert by_token["methods"] == ["token", "password"]
    assert by_token["expires_at"] == trustee.json["token"]["expires_at"]
    assert by_token["audit_ids"][1] == trustee.json["token"]["audit_ids"][0]


def test_a_trust_token_cannot_get_another_token(world):
    token = world.trust_token(world.trust_id()).headers["X-Subject-Token"]
    for scope in (None, {"project": {"id": world.project}},
                  {"OS-TRUST:trust": {"id": world.trust_id()}}):
        body = token_auth(token)
        if scope is not None:
            body["auth"]["scope"] = scope
        refused = post_token(world.app, body, status=403)
        assert "Using trust-scoped token to create another token" in \
            assert_keystone_error(refused, 403)["message"]
    world.app.post_json("/v2.0/tokens", {"auth": {"token": {"id": token}}}, status=403)


def test_a_trust_token_is_not_shown_by_v2(world):
    token = world.trust_token(world.trust_id()).headers["X-Subject-Token"]
    world.deployment.admin.get(f"/v2.0/tokens/{token}", headers=ADMIN, status=404)


def test_a_trust_token_acts_with_the_trust_roles_in_the_project(world):
    """The token is a caller like any other project token: here, to read the project."""
    token = world.trust_token(world.trust_id()).headers["X-Subject-Token"]
    assert world.deployment.admin.get(f"/v3/projects/{world.project}", headers={
        "X-Auth-Token": token}).json["project"]["id"] == world.project
    caller = world.app.get("/v3/auth/catalog", headers={"X-Auth-Token": token})
    assert caller.json["catalog"]


def test_a_token_lives_no_longer_than_its_trust(world):
    expires = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + \
        datetime.timedelta(minutes=5)
    trust_id = world.trust_id(expires_at=expires.strftime("%Y-%m-%dT%H:%M:%SZ"))
    token = world.trust_token(trust_id).json["token"]
    assert token["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def test_an_expired_trust_gives_no_token_and_is_404(world, monkeypatch):
    """Half a minute on: this node's clock (the API's and the token service's) moved ahead."""
    from keystone_lite.identity import trusts
    from keystone_lite.token import payload

    trust_id = world.trust_id(expires_at=(datetime.datetime.now(datetime.timezone.utc)
                                          + datetime.timedelta(seconds=30)).isoformat())
    later = payload.now_us() + 60 * 10**6
    monkeypatch.setattr(trusts, "now_us", lambda: later)
    world.app.get(f"{TRUSTS}/{trust_id}", headers={"X-Auth-Token": world.trustor_token},
                  status=404)
    services = world.deployment.services()
    monkeypatch.setattr(services.tokens, "clock", lambda: later)
    refused = world.trust_token(trust_id, status=401)
    assert assert_keystone_error(refused, 401)["message"] == f"Could not find trust: {trust_id}."


def test_remaining_uses_run_out_and_tokens_already_issued_stay_valid(world):
    app = world.app
    trust_id = world.trust_id(remaining_uses=2)
    issued = [world.trust_token(trust_id).headers["X-Subject-Token"] for _ in range(2)]
    refused = world.trust_token(trust_id, status=401)
    assert assert_keystone_error(refused, 401)["message"] == f"Could not find trust: {trust_id}."
    for token in issued:
        validate(app, token)
    # Used up, it is 404 as in Keystone, and it no longer lists with any use left.
    app.get(f"{TRUSTS}/{trust_id}", headers={"X-Auth-Token": world.trustor_token}, status=404)
    (listed,) = app.get(f"{TRUSTS}?trustor_user_id={world.ids['trustor']}",
                        headers={"X-Auth-Token": world.trustor_token}).json["trusts"]
    assert listed["remaining_uses"] == 0


def test_concurrent_logins_never_take_more_uses_than_a_trust_has(world):
    """Sixteen logins at once on a trust with five uses: five tokens, eleven refusals (401,
    or 403 for a login that lost the last use to another while both were under way)."""
    trust_id = world.trust_id(remaining_uses=5)
    app = world.app.app
    body = password_auth("trustee", TRUSTEE_PASSWORD)
    body["auth"]["scope"] = {"OS-TRUST:trust": {"id": trust_id}}

    def login_once(_):
        request = webob.Request.blank("/v3/auth/tokens", method="POST",
                                      body=json.dumps(body).encode(),
                                      content_type="application/json")
        return request.get_response(app).status_int

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(login_once, range(16)))
    assert statuses.count(201) == 5, statuses
    assert set(statuses) <= {201, 401, 403}, statuses
    (listed,) = world.app.get(f"{TRUSTS}?trustor_user_id={world.ids['trustor']}", headers={
        "X-Auth-Token": world.trustor_token}).json["trusts"]
    assert listed["remaining_uses"] == 0


# -- redelegation ----------------------------------------------------------------------------------

PASSWORDS = {"trustee": TRUSTEE_PASSWORD, "bystander": "bystander-secret"}


def pass_on(world, trust_id: str, holder: str, to: str, status: int = 201, **fields):
    """``holder`` (the trustee of ``trust_id``) passes the trust on to ``to`` with a token of
    the trust: the response."""
    token = world.trust_token(trust_id, holder, password=PASSWORDS[holder])
    body = {"trustor_user_id": world.ids[holder], "trustee_user_id": world.ids[to],
            "project_id": world.project, "impersonation": False,
            "roles": [{"name": "member"}], **fields}
    return world.app.post_json(TRUSTS, {"trust": body}, headers={
        "X-Auth-Token": token.headers["X-Subject-Token"]}, status=status)


def test_a_trust_token_creates_a_trust_only_where_redelegation_allows(world):
    refused = pass_on(world, world.trust_id(), "trustee", "bystander", status=403)
    assert assert_keystone_error(refused, 403)["message"] == \
        "Remaining redelegation depth of 0 out of allowed range of [0..3]."

    parent = world.trust(allow_redelegation=True, redelegation_count=2).json["trust"]
    assert parent["redelegation_count"] == 2
    for fields, message in (
            ({"roles": [{"name": "reader"}, {"name": "admin"}]},
             "Some of requested roles are not in redelegated trust."),
            ({"remaining_uses": 1}, 'Field "remaining_uses" is set to 1'),
            ({"allow_redelegation": True, "redelegation_count": 2},
             'Modifying "redelegation_count" upon redelegation is forbidden.'),
            ({"project_id": project_id(world.deployment, "admin")},
             "project of the trust it comes from")):
        refused = pass_on(world, parent["id"], "trustee", "bystander", status=403, **fields)
        assert message in assert_keystone_error(refused, 403)["message"]

    child = pass_on(world, parent["id"], "trustee", "bystander",
                    allow_redelegation=True).json["trust"]
    assert (child["redelegated_trust_id"], child["redelegation_count"],
            child["trustor_user_id"]) == (parent["id"], 1, world.ids["trustee"])
    # The third user's token: the first trustor's roles, through two trusts.
    third = world.trust_token(child["id"], "bystander", password="bystander-secret")
    assert [role["name"] for role in third.json["token"]["roles"]] == ["member", "reader"]
    # Passed on once more it cannot be passed on again.
    add_user(world.deployment, "fourth")
    world.ids["fourth"] = user_id(world.deployment, "fourth")
    last = pass_on(world, child["id"], "bystander", "fourth",
                   allow_redelegation=True).json["trust"]
    assert last["redelegation_count"] == 0


def test_a_trust_passed_on_ends_no_later_than_the_one_it_comes_from(world):
    soon = in_a_day()
    parent = world.trust_id(allow_redelegation=True, expires_at=soon.isoformat())
    child = pass_on(world, parent, "trustee", "bystander").json["trust"]
    assert child["expires_at"] == soon.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    later = (soon + datetime.timedelta(hours=1)).isoformat()
    refused = pass_on(world, parent, "trustee", "bystander", status=403, expires_at=later)
    assert assert_keystone_error(refused, 403)["message"] == \
        "Requested expiration time is more than redelegated trust can provide."


def test_deleting_a_trust_deletes_the_trusts_passed_on_from_it_and_their_tokens(world):
    app = world.app
    parent = world.trust_id(allow_redelegation=True)
    token = world.trust_token(parent).headers["X-Subject-Token"]
    child = app.post_json(TRUSTS, {"trust": {
        "trustor_user_id": world.ids["trustee"], "trustee_user_id": world.ids["bystander"],
        "project_id": world.project, "impersonation": True, "roles": [{"name": "member"}]}},
        headers={"X-Auth-Token": token}).json["trust"]
    assert child["redelegation_count"] == 0
    child_token = world.trust_token(child["id"], "bystander", password="bystander-secret")
    # Impersonation shows the child's trustor: the parent's trustee.
    assert child_token.json["token"]["user"]["id"] == world.ids["trustee"]

    app.delete(f"{TRUSTS}/{parent}", headers={"X-Auth-Token": world.trustor_token},
               status=204)

    app.get(f"{TRUSTS}/{child['id']}", headers=ADMIN, status=404)
    validate(app, child_token.headers["X-Subject-Token"], status=404)


# -- what kills a trust's tokens (both providers) --------------------------------------------------

@pytest.fixture(params=["fernet", "uuid"])
def provider_world(request, make_deployment) -> World:
    return World(make_deployment({"token": {"provider": request.param}}))


def assert_dead(world, token: str) -> None:
    """Refused as a subject (404) and as a caller (401), as every dead token is."""
    assert_keystone_error(validate(world.app, token, status=404), 404)
    world.app.head("/v3/auth/tokens", headers=subject_headers(token), status=404)
    world.app.get("/v3/auth/projects", headers={"X-Auth-Token": token}, status=401)


def patch(world, plural: str, entity_id: str, **fields) -> None:
    key = plural[:-1]
    world.deployment.admin.patch_json(f"/v3/{plural}/{entity_id}", {key: fields},
                                      headers=ADMIN)


def member_grant(world) -> str:
    return f"/v3/projects/{world.project}/users/{world.ids['trustor']}/roles/" \
           f"{world.roles['member']}"


KILLERS = {
    "trust deleted": lambda world, trust: world.app.delete(
        f"{TRUSTS}/{trust}", headers={"X-Auth-Token": world.trustor_token}, status=204),
    "trustor loses the role": lambda world, trust: world.deployment.admin.delete(
        member_grant(world), headers=ADMIN, status=204),
    "delegated role deleted": lambda world, trust: world.deployment.admin.delete(
        f"/v3/roles/{world.roles['member']}", headers=ADMIN, status=204),
    "trustor disabled, enabled again": lambda world, trust: (
        patch(world, "users", world.ids["trustor"], enabled=False),
        patch(world, "users", world.ids["trustor"], enabled=True)),
    "trustor's password changed": lambda world, trust: patch(
        world, "users", world.ids["trustor"], password="a-new-one"),
    "trustee disabled": lambda world, trust: patch(
        world, "users", world.ids["trustee"], enabled=False),
    "trustor deleted": lambda world, trust: world.deployment.admin.delete(
        f"/v3/users/{world.ids['trustor']}", headers=ADMIN, status=204),
    "trustee deleted": lambda world, trust: world.deployment.admin.delete(
        f"/v3/users/{world.ids['trustee']}", headers=ADMIN, status=204),
    "project disabled": lambda world, trust: patch(
        world, "projects", world.project, enabled=False),
    "project deleted": lambda world, trust: world.deployment.admin.delete(
        f"/v3/projects/{world.project}", headers=ADMIN, status=204),
}


@pytest.mark.parametrize("killer", KILLERS.values(), ids=KILLERS.keys())
def test_what_the_trust_stands_on_going_kills_its_tokens(provider_world, killer):
    world = provider_world
    trust_id = world.trust_id(impersonation=True)
    token = world.trust_token(trust_id).headers["X-Subject-Token"]
    validate(world.app, token)  # remembered by the caches, which must forget it

    killer(world, trust_id)

    assert_dead(world, token)


def test_changes_the_trust_does_not_stand_on_keep_its_tokens(provider_world):
    world = provider_world
    token = world.trust_token(world.trust_id()).headers["X-Subject-Token"]
    admin = world.deployment.admin
    admin.put(f"/v3/projects/{world.project}/users/{world.ids['trustor']}/roles/"
              f"{world.roles['admin']}", headers=ADMIN, status=204)
    patch(world, "users", world.ids["trustor"], description="renamed")
    patch(world, "users", world.ids["trustee"], enabled=True)
    world.app.delete(f"{TRUSTS}/{world.trust_id()}", headers={
        "X-Auth-Token": world.trustor_token}, status=204)  # another trust
    assert [role["name"] for role in validate(world.app, token).json["token"]["roles"]] == [
        "member", "reader"]


@pytest.mark.parametrize("victim", ["trustor", "trustee", "project"])
def test_deleting_a_user_or_project_deletes_their_trusts(world, victim):
    """As Keystone; with the trusts passed on from them."""
    parent = world.trust_id(allow_redelegation=True)
    child = pass_on(world, parent, "trustee", "bystander").json["trust"]["id"]
    admin = world.deployment.admin
    path = f"/v3/projects/{world.project}" if victim == "project" else \
        f"/v3/users/{world.ids[victim]}"
    admin.delete(path, headers=ADMIN, status=204)
    for trust_id in (parent, child):
        admin.get(f"{TRUSTS}/{trust_id}", headers=ADMIN, status=404)
    assert admin.get(TRUSTS, headers=ADMIN).json["trusts"] == []
