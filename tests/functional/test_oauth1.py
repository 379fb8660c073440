"""Keystone's OAuth1 extension (OS-OAUTH1): consumers, the delegation flow driven by a real
OAuth1 client (oauthlib's, signing real requests against the apps), the ``oauth1`` auth method
and the life of its tokens, for both token providers.

Alice (member of ``demo``, also ``observer`` there) delegates ``member`` on ``demo`` to a
consumer; the consumer's tokens carry ``member`` and what it implies (``reader``), never
``observer``, and die with the delegation.
"""
from __future__ import annotations

import logging
from urllib.parse import parse_qsl

import pytest
from oauthlib.oauth1 import Client
from sqlalchemy import select

from builders import (ADMIN_TOKEN, add_user, admin_headers, assert_keystone_error, grant_role,
                      in_store, issue, project_id, subject_headers, token_auth)
from keystone_lite.db import models
from keystone_lite.identity import store

ADMIN = admin_headers()
BASE = "http://localhost/v3"  # what WebTest's requests are addressed to
OAUTH1_AUTH = {"auth": {"identity": {"methods": ["oauth1"], "oauth1": {}}}}


@pytest.fixture(params=["fernet", "uuid"])
def keystone(request, make_deployment):
    deployment = make_deployment({"token": {"provider": request.param}})
    add_user(deployment, "alice", "demo", "member")
    add_user(deployment, "bob", "demo", "member")
    role = deployment.admin.post_json("/v3/roles", {"role": {"name": "observer"}},
                                      headers=ADMIN).json["role"]
    grant_role(deployment, "alice", "project", project_id(deployment, "demo"), "observer")
    deployment.observer_id = role["id"]
    return deployment


# -- a consumer, as a real OAuth1 client would behave -------------------------------------------

def create_consumer(deployment, description: str | None = "a cron job") -> dict:
    return deployment.admin.post_json("/v3/OS-OAUTH1/consumers",
                                      {"consumer": {"description": description}},
                                      headers=ADMIN, status=201).json["consumer"]


def signed_headers(path: str, consumer: dict, **client_args) -> dict:
    """The ``Authorization: OAuth ...`` header of a POST to ``path``, signed by oauthlib."""
    client = Client(consumer["id"], client_secret=consumer["secret"], **client_args)
    _uri, headers, _body = client.sign(f"{BASE}{path}", http_method="POST")
    return {str(name): str(value) for name, value in headers.items()}


def form(response) -> dict:
    assert response.content_type == "application/x-www-form-urlencoded"
    return dict(parse_qsl(response.text))


def request_token(app, consumer: dict, project: str, status: int = 201):
    headers = {**signed_headers("/OS-OAUTH1/request_token", consumer, callback_uri="oob"),
               "Requested-Project-Id": project}
    return app.post("/v3/OS-OAUTH1/request_token", headers=headers, status=status)


def authorize(app, request_token_id: str, token: str, roles: list[dict], status: int = 200):
    return app.put_json(f"/v3/OS-OAUTH1/authorize/{request_token_id}", {"roles": roles},
                        headers={"X-Auth-Token": token}, status=status)


def access_token(app, consumer: dict, request: dict, verifier: str, status: int = 201):
    headers = signed_headers("/OS-OAUTH1/access_token", consumer,
                             resource_owner_key=request["oauth_token"],
                             resource_owner_secret=request["oauth_token_secret"],
                             verifier=verifier)
    return app.post("/v3/OS-OAUTH1/access_token", headers=headers, status=status)


def oauth1_token(app, consumer: dict, access: dict, status: int = 201, body=OAUTH1_AUTH):
    headers = signed_headers("/auth/tokens", consumer, resource_owner_key=access["oauth_token"],
                             resource_owner_secret=access["oauth_token_secret"])
    return app.post_json("/v3/auth/tokens", body, headers=headers, status=status)


def delegate(deployment, roles=({"name": "member"},), user: str = "alice"):
    """The whole flow on the main app: (consumer, access token form)."""
    app = deployment.main
    consumer = create_consumer(deployment)
    request = form(request_token(app, consumer, project_id(deployment, "demo")))
    verifier = authorize(app, request["oauth_token"], issue(app, user, "demo"),
                         list(roles)).json["token"]["oauth_verifier"]
    return consumer, form(access_token(app, consumer, request, verifier))


def validate(deployment, token: str, status: int = 200):
    return deployment.admin.get("/v3/auth/tokens", headers=subject_headers(token),
                                status=status)


def user_id(deployment, name: str) -> str:
    return in_store(deployment, lambda session: store.find_user(
        session, name=name, domain_id="default").id)


# -- consumers ------------------------------------------------------------------------------------

def test_a_consumer_secret_is_shown_once_and_never_again(deployment):
    created = create_consumer(deployment)
    assert set(created) == {"id", "description", "secret", "links"}
    assert created["description"] == "a cron job" and len(created["secret"]) == 32
    url = f"/v3/OS-OAUTH1/consumers/{created['id']}"
    assert created["links"] == {"self": f"http://localhost{url}"}
    shown = deployment.admin.get(url, headers=ADMIN).json["consumer"]
    assert shown == {key: created[key] for key in ("id", "description", "links")}
    listed = deployment.admin.get("/v3/OS-OAUTH1/consumers", headers=ADMIN).json
    assert shown in listed["consumers"]
    assert created["secret"] not in deployment.admin.get("/v3/OS-OAUTH1/consumers",
                                                          headers=ADMIN).text
    assert listed["links"]["self"] == "http://localhost/v3/OS-OAUTH1/consumers"


def test_a_consumer_keeps_extra_attributes_but_not_a_secret_it_was_sent(deployment):
    created = deployment.admin.post_json("/v3/OS-OAUTH1/consumers", {"consumer": {
        "secret": "chosen-by-client", "owner": "ops"}}, headers=ADMIN, status=201).json
    consumer = created["consumer"]
    assert consumer["secret"] != "chosen-by-client" and consumer["description"] is None
    shown = deployment.admin.get(f"/v3/OS-OAUTH1/consumers/{consumer['id']}",
                                 headers=ADMIN).json["consumer"]
    assert shown["owner"] == "ops" and "secret" not in shown


def test_a_consumer_description_changes_but_its_secret_cannot(deployment):
    consumer = create_consumer(deployment)
    url = f"/v3/OS-OAUTH1/consumers/{consumer['id']}"
    updated = deployment.admin.patch_json(url, {"consumer": {"description": "new"}},
                                          headers=ADMIN).json["consumer"]
    assert updated["description"] == "new" and "secret" not in updated
    error = assert_keystone_error(deployment.admin.patch_json(
        url, {"consumer": {"secret": "x"}}, headers=ADMIN, status=400), 400)
    assert "x" not in error["message"].split()
    assert_keystone_error(deployment.admin.patch_json(url, {"consumer": {"description": 5}},
                                                      headers=ADMIN, status=400), 400)
    assert deployment.admin.get(url, headers=ADMIN).json["consumer"]["description"] == "new"


def test_a_deleted_consumer_is_gone(deployment):
    consumer = create_consumer(deployment)
    url = f"/v3/OS-OAUTH1/consumers/{consumer['id']}"
    deployment.admin.delete(url, headers=ADMIN, status=204)
    assert_keystone_error(deployment.admin.get(url, headers=ADMIN, status=404), 404)
    assert_keystone_error(deployment.admin.delete(url, headers=ADMIN, status=404), 404)


def test_consumers_are_administered_on_admin_by_admins_only(deployment):
    add_user(deployment, "carol", "demo", "member")
    carol = issue(deployment.main, "carol", "demo")
    deployment.admin.get("/v3/OS-OAUTH1/consumers", headers={"X-Auth-Token": carol},
                         status=403)
    deployment.admin.post_json("/v3/OS-OAUTH1/consumers", {"consumer": {}},
                               headers={"X-Auth-Token": carol}, status=403)
    deployment.admin.get("/v3/OS-OAUTH1/consumers", status=401)
    deployment.main.get("/v3/OS-OAUTH1/consumers", headers=ADMIN, status=404)


# -- the flow -------------------------------------------------------------------------------------

def test_the_delegation_flow_gives_the_consumer_a_token_with_only_the_delegated_roles(keystone):
    app = keystone.main
    consumer = create_consumer(keystone)
    demo = project_id(keystone, "demo")
    request = form(request_token(app, consumer, demo))
    assert set(request) == {"oauth_token", "oauth_token_secret", "oauth_expires_at"}
    alice = issue(app, "alice", "demo")
    verifier = authorize(app, request["oauth_token"], alice,
                         [{"name": "member"}]).json["token"]["oauth_verifier"]
    assert len(verifier) == 8
    access = form(access_token(app, consumer, request, verifier))
    assert set(access) == {"oauth_token", "oauth_token_secret", "oauth_expires_at"}

    response = oauth1_token(app, consumer, access)
    body = response.json["token"]
    assert body["methods"] == ["oauth1"]
    assert body["user"]["name"] == "alice" and body["project"]["id"] == demo
    assert sorted(role["name"] for role in body["roles"]) == ["member", "reader"]
    assert body["OS-OAUTH1"] == {"access_token_id": access["oauth_token"],
                                 "consumer_id": consumer["id"]}
    token = response.headers["X-Subject-Token"]
    assert len(token) < 255  # Keystone's limit, which some services' columns assume
    validated = validate(keystone, token).json["token"]
    assert validated["OS-OAUTH1"] == body["OS-OAUTH1"] and validated["roles"] == body["roles"]
    assert validated["expires_at"] == body["expires_at"]
    # The token acts with the delegated roles only.
    assert keystone.main.get("/v3/auth/projects", headers={"X-Auth-Token": token}).json[
        "projects"][0]["id"] == demo


def test_the_flow_works_on_the_admin_app_too(keystone):
    consumer = create_consumer(keystone)
    app = keystone.admin
    request = form(request_token(app, consumer, project_id(keystone, "demo")))
    verifier = authorize(app, request["oauth_token"], issue(keystone.main, "alice", "demo"),
                         [{"id": keystone.observer_id}]).json["token"]["oauth_verifier"]
    access = form(access_token(app, consumer, request, verifier))
    body = oauth1_token(app, consumer, access).json["token"]
    assert [role["name"] for role in body["roles"]] == ["observer"]


def test_a_request_token_needs_a_signed_request_naming_an_existing_project(keystone):
    app, consumer = keystone.main, create_consumer(keystone)
    demo = project_id(keystone, "demo")
    error = assert_keystone_error(app.post("/v3/OS-OAUTH1/request_token",
                                           headers={"Requested-Project-Id": demo},
                                           status=400), 400)
    assert "Authorization" in error["message"]
    headers = signed_headers("/OS-OAUTH1/request_token", consumer, callback_uri="oob")
    assert_keystone_error(app.post("/v3/OS-OAUTH1/request_token", headers=headers,
                                   status=400), 400)  # no Requested-Project-Id
    wrong_secret = {**consumer, "secret": "0" * 32}
    assert_keystone_error(request_token(app, wrong_secret, demo, status=401), 401)
    unknown = {"id": "f" * 32, "secret": consumer["secret"]}
    assert_keystone_error(request_token(app, unknown, demo, status=401), 401)
    assert_keystone_error(request_token(app, consumer, "f" * 32, status=404), 404)
    # Signed for another URL: the signature covers the path.
    moved = {**signed_headers("/OS-OAUTH1/access_token", consumer, callback_uri="oob"),
             "Requested-Project-Id": demo}
    assert_keystone_error(app.post("/v3/OS-OAUTH1/request_token", headers=moved,
                                   status=401), 401)
    no_callback = {**signed_headers("/OS-OAUTH1/request_token", consumer),
                   "Requested-Project-Id": demo}
    error = assert_keystone_error(app.post("/v3/OS-OAUTH1/request_token", headers=no_callback,
                                           status=400), 400)
    assert "callback" in error["message"]
    plaintext = signed_headers("/OS-OAUTH1/request_token", consumer, callback_uri="oob",
                               signature_method="PLAINTEXT")
    assert_keystone_error(app.post("/v3/OS-OAUTH1/request_token", headers={
        **plaintext, "Requested-Project-Id": demo}, status=400), 400)
    app.get("/v3/OS-OAUTH1/request_token", status=405)


def test_a_user_authorizes_only_roles_they_hold_with_a_token_of_their_own(keystone):
    app, consumer = keystone.main, create_consumer(keystone)
    request = form(request_token(app, consumer, project_id(keystone, "demo")))
    bob = issue(app, "bob", "demo")
    error = assert_keystone_error(authorize(app, request["oauth_token"], bob,
                                            [{"id": keystone.observer_id}], 401), 401)
    assert error["message"] == "authorizing user does not have role required"
    assert_keystone_error(authorize(app, request["oauth_token"], bob, [{"name": "admin"}],
                                    401), 401)
    assert_keystone_error(authorize(app, request["oauth_token"], bob, [{"name": "nope"}],
                                    404), 404)
    assert_keystone_error(authorize(app, request["oauth_token"], bob, [{"id": "x", "name": "y"}],
                                    400), 400)
    assert_keystone_error(authorize(app, "f" * 32, bob, [{"name": "member"}], 404), 404)
    app.put_json(f"/v3/OS-OAUTH1/authorize/{request['oauth_token']}",
                 {"roles": [{"name": "member"}]}, status=401)
    # member implies reader: holding member is holding reader.
    authorize(app, request["oauth_token"], bob, [{"name": "reader"}])


def test_an_access_token_needs_the_verifier_and_is_given_once(keystone):
    app, consumer = keystone.main, create_consumer(keystone)
    request = form(request_token(app, consumer, project_id(keystone, "demo")))
    error = assert_keystone_error(access_token(app, consumer, request, "abcdEFGH", 401), 401)
    assert "verifier" in error["message"]  # not authorized yet: no verifier matches
    verifier = authorize(app, request["oauth_token"], issue(app, "alice", "demo"),
                         [{"name": "member"}]).json["token"]["oauth_verifier"]
    other = create_consumer(keystone)
    assert_keystone_error(access_token(app, other, {**request, "oauth_token_secret": "0" * 32},
                                       verifier, 401), 401)
    assert_keystone_error(access_token(app, {**consumer, "secret": "0" * 32}, request,
                                       verifier, 401), 401)
    assert_keystone_error(access_token(app, consumer, request, "bad", 400), 400)
    access_token(app, consumer, request, verifier)
    assert_keystone_error(access_token(app, consumer, request, verifier, 401), 401)


def test_an_oauth1_token_needs_the_access_token_secret_and_stays_on_its_project(keystone):
    consumer, access = delegate(keystone)
    app = keystone.main
    assert_keystone_error(oauth1_token(app, consumer, {**access, "oauth_token_secret": "0" * 32},
                                       status=401), 401)
    other = create_consumer(keystone)
    assert_keystone_error(oauth1_token(app, other, access, status=401), 401)
    app.post_json("/v3/auth/tokens", OAUTH1_AUTH, status=400)  # no Authorization header
    add_user(keystone, "dave", "elsewhere", "member")
    elsewhere = {"project": {"id": project_id(keystone, "elsewhere")}}
    assert_keystone_error(oauth1_token(app, consumer, access, status=403, body={"auth": {
        **OAUTH1_AUTH["auth"], "scope": elsewhere}}), 403)
    combined = {"auth": {"identity": {"methods": ["oauth1", "password"], "oauth1": {}}}}
    assert_keystone_error(oauth1_token(app, consumer, access, status=400, body=combined), 400)


def test_an_oauth1_token_cannot_make_tokens_or_delegate(keystone):
    consumer, access = delegate(keystone)
    app = keystone.main
    token = oauth1_token(app, consumer, access).headers["X-Subject-Token"]
    assert_keystone_error(app.post_json("/v3/auth/tokens", token_auth(token, "demo"),
                                        status=403), 403)
    request = form(request_token(app, create_consumer(keystone), project_id(keystone, "demo")))
    assert_keystone_error(authorize(app, request["oauth_token"], token, [{"name": "member"}],
                                    403), 403)
    alice = user_id(keystone, "alice")
    app.get(f"/v3/users/{alice}/OS-OAUTH1/access_tokens", headers={"X-Auth-Token": token},
            status=403)


# -- a user's access tokens -------------------------------------------------------------------

def test_a_user_lists_shows_and_deletes_their_own_access_tokens(keystone):
    consumer, access = delegate(keystone)
    app, alice = keystone.main, issue(keystone.main, "alice", "demo")
    mine = {"X-Auth-Token": alice}
    alice_id, demo = user_id(keystone, "alice"), project_id(keystone, "demo")
    url = f"/v3/users/{alice_id}/OS-OAUTH1/access_tokens"
    listed = app.get(url, headers=mine).json
    assert [token["id"] for token in listed["access_tokens"]] == [access["oauth_token"]]
    shown = app.get(f"{url}/{access['oauth_token']}", headers=mine).json["access_token"]
    assert shown == listed["access_tokens"][0]
    assert {key: shown[key] for key in ("consumer_id", "authorizing_user_id", "project_id")} \
        == {"consumer_id": consumer["id"], "authorizing_user_id": alice_id, "project_id": demo}
    assert shown["expires_at"] == access["oauth_expires_at"]
    assert shown["links"]["roles"] == f"http://localhost{url}/{shown['id']}/roles"
    assert access["oauth_token_secret"] not in app.get(url, headers=mine).text
    roles = app.get(f"{url}/{shown['id']}/roles", headers=mine).json["roles"]
    assert [role["name"] for role in roles] == ["member"] and "description" not in roles[0]
    role = app.get(f"{url}/{shown['id']}/roles/{roles[0]['id']}", headers=mine).json["role"]
    assert role == roles[0]
    app.get(f"{url}/{shown['id']}/roles/{keystone.observer_id}", headers=mine, status=404)

    bob_id = user_id(keystone, "bob")
    bob = {"X-Auth-Token": issue(app, "bob", "demo")}
    app.get(url, headers=bob, status=403)
    app.get(f"/v3/users/{bob_id}/OS-OAUTH1/access_tokens/{shown['id']}", headers=bob,
            status=404)  # another user's, named under bob's own path
    keystone.admin.get(url, headers=ADMIN)  # an administrator may
    app.delete(f"{url}/{shown['id']}", headers=mine, status=204)
    assert app.get(url, headers=mine).json["access_tokens"] == []
    app.delete(f"{url}/{shown['id']}", headers=mine, status=404)


# -- life cycle: what kills an oauth1 token -----------------------------------------------------

def test_deleting_the_access_token_kills_its_tokens(keystone):
    consumer, access = delegate(keystone)
    token = oauth1_token(keystone.main, consumer, access).headers["X-Subject-Token"]
    validate(keystone, token)
    alice_id = user_id(keystone, "alice")
    keystone.main.delete(f"/v3/users/{alice_id}/OS-OAUTH1/access_tokens/{access['oauth_token']}",
                         headers={"X-Auth-Token": issue(keystone.main, "alice", "demo")},
                         status=204)
    assert_keystone_error(validate(keystone, token, 404), 404)
    keystone.main.get("/v3/auth/projects", headers={"X-Auth-Token": token}, status=401)
    assert_keystone_error(oauth1_token(keystone.main, consumer, access, status=401), 401)


def test_deleting_the_consumer_kills_its_tokens_and_delegations(keystone):
    consumer, access = delegate(keystone)
    token = oauth1_token(keystone.main, consumer, access).headers["X-Subject-Token"]
    pending = form(request_token(keystone.main, consumer, project_id(keystone, "demo")))
    keystone.admin.delete(f"/v3/OS-OAUTH1/consumers/{consumer['id']}", headers=ADMIN,
                          status=204)
    assert_keystone_error(validate(keystone, token, 404), 404)
    assert in_store(keystone, lambda session: (
        session.scalars(select(models.OAuth1AccessToken)).all(),
        session.get(models.OAuth1RequestToken, pending["oauth_token"]))) == ([], None)


def test_losing_a_delegated_role_kills_the_token_and_an_undelegated_one_does_not(keystone):
    consumer, access = delegate(keystone)
    token = oauth1_token(keystone.main, consumer, access).headers["X-Subject-Token"]
    demo, alice_id = project_id(keystone, "demo"), user_id(keystone, "alice")
    grants = f"/v3/projects/{demo}/users/{alice_id}/roles"
    keystone.admin.delete(f"{grants}/{keystone.observer_id}", headers=ADMIN, status=204)
    assert [role["name"] for role in validate(keystone, token).json["token"]["roles"]] == [
        "member", "reader"]
    member = in_store(keystone, lambda session: store.find_role(session, name="member").id)
    keystone.admin.delete(f"{grants}/{member}", headers=ADMIN, status=204)
    assert_keystone_error(validate(keystone, token, 404), 404)
    # Given back, the role makes the delegation good again: the access token still stands.
    keystone.admin.put(f"{grants}/{member}", headers=ADMIN, status=204)
    oauth1_token(keystone.main, consumer, access)


def test_deleting_or_disabling_the_user_kills_the_token(keystone):
    consumer, access = delegate(keystone)
    token = oauth1_token(keystone.main, consumer, access).headers["X-Subject-Token"]
    alice_id = user_id(keystone, "alice")
    keystone.admin.patch_json(f"/v3/users/{alice_id}", {"user": {"enabled": False}},
                              headers=ADMIN)
    assert_keystone_error(validate(keystone, token, 404), 404)
    assert_keystone_error(oauth1_token(keystone.main, consumer, access, status=401), 401)
    keystone.admin.delete(f"/v3/users/{alice_id}", headers=ADMIN, status=204)
    assert in_store(keystone, lambda session: session.scalars(
        select(models.OAuth1AccessToken)).all()) == []


def test_an_oauth1_token_ends_with_its_access_token(make_deployment):
    deployment = make_deployment({"oauth1": {"access_token_duration": "600"}})
    add_user(deployment, "alice", "demo", "member")
    consumer, access = delegate(deployment)
    body = oauth1_token(deployment.main, consumer, access).json["token"]
    assert body["expires_at"] == access["oauth_expires_at"]  # 10 minutes, not the hour

    def expire(session):
        session.get(models.OAuth1AccessToken, access["oauth_token"]).expires_at = 1
    in_store(deployment, expire)
    error = assert_keystone_error(oauth1_token(deployment.main, consumer, access, status=401),
                                  401)
    assert error["message"] == "Access token is expired"


def test_an_expired_request_token_cannot_be_authorized(make_deployment):
    deployment = make_deployment({"oauth1": {"request_token_duration": "1"}})
    add_user(deployment, "alice", "demo", "member")
    consumer = create_consumer(deployment)
    request = form(request_token(deployment.main, consumer, project_id(deployment, "demo")))

    def expire(session):
        session.get(models.OAuth1RequestToken, request["oauth_token"]).expires_at = 1
    in_store(deployment, expire)
    error = assert_keystone_error(authorize(deployment.main, request["oauth_token"], issue(
        deployment.main, "alice", "demo"), [{"name": "member"}], 401), 401)
    assert error["message"] == "Request token is expired"


# -- secrets --------------------------------------------------------------------------------------

def test_no_secret_of_the_flow_is_logged(keystone, caplog):
    caplog.set_level(logging.DEBUG)
    consumer, access = delegate(keystone)
    token = oauth1_token(keystone.main, consumer, access).headers["X-Subject-Token"]
    # Failures log too: a wrong signature, a wrong verifier.
    oauth1_token(keystone.main, consumer, {**access, "oauth_token_secret": "0" * 32},
                 status=401)
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    for secret in (consumer["secret"], access["oauth_token_secret"], token, ADMIN_TOKEN):
        assert secret not in logged


def test_a_request_oauthlib_cannot_parse_is_a_400_not_a_500(keystone):
    consumer, access = delegate(keystone)
    headers = signed_headers("/auth/tokens", consumer, resource_owner_key=access["oauth_token"],
                             resource_owner_secret=access["oauth_token_secret"])
    for query in ("%zz", "a=<b>"):  # not form-encoded: oauthlib raises ValueError
        assert_keystone_error(keystone.main.post_json(f"/v3/auth/tokens?{query}", OAUTH1_AUTH,
                                                      headers=headers, status=400), 400)
        signed = {**signed_headers("/OS-OAUTH1/request_token", consumer, callback_uri="oob"),
                  "Requested-Project-Id": project_id(keystone, "demo")}
        assert_keystone_error(keystone.main.post(f"/v3/OS-OAUTH1/request_token?{query}",
                                                 headers=signed, status=400), 400)
    garbled = {"Authorization": 'OAuth oauth_consumer_key="\xff", oauth_token',
               "Requested-Project-Id": "x"}
    keystone.main.post("/v3/OS-OAUTH1/request_token", headers=garbled, status=400)
