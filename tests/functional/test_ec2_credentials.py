"""EC2 credentials (``/v3/users/{id}/credentials/OS-EC2``) and the calls services make with
AWS-signed requests (``/v3/ec2tokens``, ``/v3/s3tokens``), as Keystone 30 serves them.

The signed requests are botocore's, signed exactly as an AWS client signs them (EC2 Query API
with Signature Version 2 and 4, header and query forms; S3 with the REST signature and Version
4). What reaches keystone_lite is what a service forwards: ec2-api the request's parts,
Swift's s3api the base64 of the string to sign, each with its service token.
"""
from __future__ import annotations

import base64
import hashlib
import json

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from sqlalchemy import select

from aws_clients import EC2_URL, forwarded, signed_ec2_request, signed_s3_request
from builders import (add_user, admin_headers, assert_keystone_error, grant_role, in_store,
                      issue, post_token, project_id)
from keystone_lite.db import models
from keystone_lite.identity import credentials as credential_store
from keystone_lite.token.payload import now_us

ADMIN = admin_headers()
MINUTE_US = 60_000_000


def user_id(deployment, name: str) -> str:
    (user,) = deployment.admin.get(f"/v3/users?name={name}", headers=ADMIN).json["users"]
    return user["id"]


@pytest.fixture
def alice(deployment):
    """A member of ``demo``: (user id, her project token)."""
    add_user(deployment, "alice", "demo", "member")
    return user_id(deployment, "alice"), {"X-Auth-Token": issue(deployment.main, "alice", "demo")}


@pytest.fixture
def service(deployment):
    """The headers of a service's token (ec2-api's, Swift's): the ``service`` role on demo."""
    add_user(deployment, "swift", "demo", "service")
    return {"X-Auth-Token": issue(deployment.main, "swift", "demo")}


def create(app, user: str, headers, tenant_id, status: int = 201):
    return app.post_json(f"/v3/users/{user}/credentials/OS-EC2", {"tenant_id": tenant_id},
                         headers=headers, status=status)


@pytest.fixture
def ec2(deployment, alice):
    """Alice's EC2 credential on demo: {"access", "secret", ...}."""
    alice_id, headers = alice
    return create(deployment.main, alice_id, headers,
                  project_id(deployment, "demo")).json["credential"]


def ec2tokens(app, credentials: dict, headers, status: int = 200, key: str = "credentials"):
    return app.post_json("/v3/ec2tokens", {key: credentials}, headers=headers, status=status)


def s3tokens(app, credentials: dict, headers, status: int = 200):
    return app.post_json("/v3/s3tokens", {"credentials": credentials}, headers=headers,
                         status=status)


# -- the OS-EC2 API ------------------------------------------------------------------------------

@pytest.mark.parametrize("app_name", ["main", "admin"])
def test_create_list_show_delete_in_keystones_shapes(deployment, alice, app_name):
    alice_id, headers = alice
    app = getattr(deployment, app_name)
    demo = project_id(deployment, "demo")
    created = create(app, alice_id, headers, demo).json
    body = created["credential"]
    assert set(created) == {"credential"}
    assert set(body) == {"user_id", "tenant_id", "access", "secret", "trust_id", "links"}
    assert (body["user_id"], body["tenant_id"], body["trust_id"]) == (alice_id, demo, None)
    assert all(len(body[key]) == 32 and int(body[key], 16) >= 0 for key in ("access", "secret"))
    assert body["access"] != body["secret"]
    path = f"/v3/users/{alice_id}/credentials/OS-EC2"
    assert body["links"] == {"self": f"http://localhost{path}/{body['access']}"}

    assert app.get(f"{path}/{body['access']}", headers=headers).json == created
    listed = app.get(path, headers=headers).json
    assert listed == {"credentials": [body], "links": {
        "self": f"http://localhost{path}", "previous": None, "next": None}}

    app.delete(f"{path}/{body['access']}", headers=headers, status=204)
    missing = app.get(f"{path}/{body['access']}", headers=headers, status=404)
    assert assert_keystone_error(missing, 404)["message"] == \
        f"Could not find credential: {credential_store.ec2_id(body['access'])}."
    app.delete(f"{path}/{body['access']}", headers=headers, status=404)
    assert app.get(path, headers=headers).json["credentials"] == []


def test_an_ec2_credential_is_a_credential_of_type_ec2_keyed_by_its_access(deployment, alice,
                                                                           ec2):
    """Stored through the credentials API's store (encrypted), with Keystone's blob."""
    alice_id, headers = alice
    shown = deployment.main.get(f"/v3/credentials/{credential_store.ec2_id(ec2['access'])}",
                                headers=headers).json["credential"]
    assert (shown["type"], shown["user_id"], shown["project_id"]) == (
        "ec2", alice_id, project_id(deployment, "demo"))
    assert json.loads(shown["blob"]) == {"access": ec2["access"], "secret": ec2["secret"],
                                         "trust_id": None, "app_cred_id": None,
                                         "access_token_id": None}
    # One made with the credentials API is listed and shown as an EC2 credential too.
    made = deployment.main.post_json("/v3/credentials", {"credential": {
        "user_id": alice_id, "project_id": project_id(deployment, "demo"), "type": "ec2",
        "blob": json.dumps({"access": "AKIA-made", "secret": "made-secret"})}},
        headers=headers, status=201)
    assert made.json["credential"]["id"] == credential_store.ec2_id("AKIA-made")
    path = f"/v3/users/{alice_id}/credentials/OS-EC2"
    assert deployment.main.get(f"{path}/AKIA-made", headers=headers).json["credential"][
        "secret"] == "made-secret"
    assert {c["access"] for c in deployment.main.get(path, headers=headers).json[
        "credentials"]} == {ec2["access"], "AKIA-made"}


def test_other_credentials_are_not_ec2_credentials(deployment, alice):
    alice_id, headers = alice
    deployment.main.post_json("/v3/credentials", {"credential": {
        "user_id": alice_id, "type": "cert", "blob": "a certificate"}}, headers=headers)
    assert deployment.main.get(f"/v3/users/{alice_id}/credentials/OS-EC2",
                               headers=headers).json["credentials"] == []


@pytest.mark.parametrize("body, status, message", [
    ({}, 400, "Expecting to find tenant_id in request body."),
    ({"tenant_id": 7}, 400, "Invalid type for request body.tenant_id."),
    ({"tenant_id": "f" * 32}, 404, f"Could not find project: {'f' * 32}."),
])
def test_create_needs_an_existing_project(deployment, alice, body, status, message):
    alice_id, headers = alice
    error = deployment.main.post_json(f"/v3/users/{alice_id}/credentials/OS-EC2", body,
                                      headers=headers, status=status)
    assert assert_keystone_error(error, status)["message"] == message


def test_unknown_users_are_404_for_admins(deployment):
    path = f"/v3/users/{'e' * 32}/credentials/OS-EC2"
    for response in (deployment.admin.get(path, headers=ADMIN, status=404),
                     create(deployment.admin, "e" * 32, ADMIN, project_id(deployment, "admin"),
                            status=404),
                     deployment.admin.get(f"{path}/AKIA", headers=ADMIN, status=404)):
        assert assert_keystone_error(response, 404)["message"] == \
            f"Could not find user: {'e' * 32}."


@pytest.mark.parametrize("enforce_scope", [False, True], ids=["scope-off", "scope-on"])
@pytest.mark.parametrize("app_name", ["main", "admin"])
def test_users_manage_their_own_ec2_credentials_and_only_theirs(make_deployment, app_name,
                                                                enforce_scope):
    deployment = make_deployment({"oslo_policy": {"enforce_scope": str(enforce_scope).lower()}})
    for name in ("alice", "bob"):
        add_user(deployment, name, "demo", "member")
    alice_id, bob_id = user_id(deployment, "alice"), user_id(deployment, "bob")
    alice = {"X-Auth-Token": issue(deployment.main, "alice", "demo")}
    bob = {"X-Auth-Token": issue(deployment.main, "bob", "demo")}
    demo = project_id(deployment, "demo")
    app = getattr(deployment, app_name)
    theirs = create(app, bob_id, bob, demo).json["credential"]["access"]
    bobs = f"/v3/users/{bob_id}/credentials/OS-EC2"

    create(app, bob_id, alice, demo, status=403)
    app.get(bobs, headers=alice, status=403)
    app.get(f"{bobs}/{theirs}", headers=alice, status=403)
    app.delete(f"{bobs}/{theirs}", headers=alice, status=403)
    app.get(f"{bobs}/AKIA-none", headers=alice, status=403)  # nor learns what exists
    # Under her own path, Bob's access key is no credential of hers.
    app.get(f"/v3/users/{alice_id}/credentials/OS-EC2/{theirs}", headers=alice, status=404)
    app.delete(f"/v3/users/{alice_id}/credentials/OS-EC2/{theirs}", headers=alice, status=404)
    assert app.get(f"{bobs}/{theirs}", headers=bob).json["credential"]["user_id"] == bob_id

    # The cloud admin manages anyone's.
    made = create(app, bob_id, ADMIN, demo).json["credential"]["access"]
    assert {c["access"] for c in app.get(bobs, headers=ADMIN).json["credentials"]} == \
        {theirs, made}
    app.delete(f"{bobs}/{made}", headers=ADMIN, status=204)


def test_system_readers_read_and_project_admins_administer_only_without_scope(make_deployment):
    """Keystone's rules: a system reader reads anyone's; ``admin`` on a project is the cloud
    admin with enforce_scope off only."""
    for enforce_scope in (False, True):
        deployment = make_deployment({"oslo_policy": {"enforce_scope": str(enforce_scope).lower()}})
        add_user(deployment, "alice", "demo", "member")
        add_user(deployment, "auditor")
        add_user(deployment, "boss", "demo", "admin")
        grant_role(deployment, "auditor", "system", "all", "reader")
        alice_id = user_id(deployment, "alice")
        demo = project_id(deployment, "demo")
        access = create(deployment.admin, alice_id, ADMIN, demo).json["credential"]["access"]
        path = f"/v3/users/{alice_id}/credentials/OS-EC2"
        auditor = {"X-Auth-Token": post_token(deployment.main, {"auth": {
            "identity": {"methods": ["external"]}, "scope": {"system": {"all": True}}}},
            user="auditor").headers["X-Subject-Token"]}
        assert deployment.main.get(f"{path}/{access}", headers=auditor).json["credential"][
            "access"] == access
        deployment.main.get(path, headers=auditor)
        deployment.main.delete(f"{path}/{access}", headers=auditor, status=403)
        boss = {"X-Auth-Token": issue(deployment.main, "boss", "demo")}
        deployment.main.get(path, headers=boss, status=403 if enforce_scope else 200)


# -- ec2tokens -----------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["v2", "v4", "v4-query"])
@pytest.mark.parametrize("app_name", ["main", "admin"])
def test_ec2tokens_gives_a_project_token_for_a_botocore_signed_request(
        deployment, alice, ec2, service, how, app_name):
    alice_id, _ = alice
    app = getattr(deployment, app_name)
    response = ec2tokens(app, forwarded(signed_ec2_request(ec2, how), ec2["access"]), service)
    token = response.json["token"]
    assert token["methods"] == ["ec2credential"]
    assert token["user"]["id"] == alice_id
    assert token["project"]["id"] == project_id(deployment, "demo")
    assert {role["name"] for role in token["roles"]} >= {"member"}
    assert token["catalog"]
    # A real token: another service validates it as any other.
    validated = deployment.main.get("/v3/auth/tokens", headers={
        **service, "X-Subject-Token": response.headers["X-Subject-Token"]}).json["token"]
    assert (validated["methods"], validated["project"]) == (token["methods"], token["project"])


def test_ec2tokens_with_the_uuid_provider(make_deployment):
    deployment = make_deployment({"token": {"provider": "uuid"}})
    add_user(deployment, "alice", "demo", "member")
    alice = {"X-Auth-Token": issue(deployment.main, "alice", "demo")}
    credential = create(deployment.main, user_id(deployment, "alice"), alice,
                        project_id(deployment, "demo")).json["credential"]
    token = ec2tokens(deployment.main, forwarded(signed_ec2_request(credential, "v2"),
                                                 credential["access"]), ADMIN)
    validated = deployment.admin.get("/v3/auth/tokens", headers={
        **ADMIN, "X-Subject-Token": token.headers["X-Subject-Token"]}).json["token"]
    assert validated["methods"] == ["ec2credential"]


@pytest.mark.parametrize("key", ["credentials", "credential", "ec2Credentials"])
def test_ec2tokens_takes_the_body_under_each_of_keystones_names(deployment, ec2, service, key):
    ec2tokens(deployment.main, forwarded(signed_ec2_request(ec2, "v4"), ec2["access"]), service,
              key=key)


def test_a_signature_of_a_port_less_host_is_accepted_as_keystone_does(deployment, ec2, service):
    signed = forwarded(signed_ec2_request(ec2, "v2", url="http://ec2.example.com/"),
                       ec2["access"])
    ec2tokens(deployment.main, {**signed, "host": "ec2.example.com:8788"}, service)


def _tampered(request: dict, change: str) -> dict:
    if change == "param":
        return {**request, "params": {**request["params"], "Action": "TerminateInstances"}}
    if change == "host":
        return {**request, "host": "evil.example.com"}
    if change == "verb":
        return {**request, "verb": "PUT"}
    if change == "body":
        return {**request, "body_hash": hashlib.sha256(b"Action=Terminate").hexdigest()}
    if change == "header":
        return {**request, "headers": {**request["headers"], "Host": "evil.example.com"}}
    return {**request, "signature": request["signature"][:-2] + "AA"}


@pytest.mark.parametrize("how, change", [
    ("v2", "param"), ("v2", "host"), ("v2", "verb"), ("v2", "signature"),
    ("v4", "param"), ("v4", "header"), ("v4", "body"), ("v4", "verb"), ("v4", "signature"),
    ("v4-query", "param"), ("v4-query", "header"), ("v4-query", "signature"),
])
def test_a_tampered_request_is_refused(deployment, ec2, service, how, change):
    signed = forwarded(signed_ec2_request(ec2, how), ec2["access"])
    if how == "v4" and change == "param":  # a POST's parameters are in its (hashed) body
        change = "body"
    error = ec2tokens(deployment.main, _tampered(signed, change), service, status=401)
    assert assert_keystone_error(error, 401)["message"] == "Invalid EC2 signature."


def test_a_signature_made_with_another_secret_is_refused(deployment, ec2, service):
    other = {**ec2, "secret": "f" * 32}
    error = ec2tokens(deployment.main, forwarded(signed_ec2_request(other, "v4"), ec2["access"]),
                      service, status=401)
    assert assert_keystone_error(error, 401)["message"] == "Invalid EC2 signature."


@pytest.mark.parametrize("change, message", [
    ({"access": "AKIA-unknown"}, "EC2 access key not found."),
    ({"access": None}, "EC2 Signature not supplied."),
    ({"signature": None}, "EC2 signature not supplied."),
    ({"params": {"SignatureVersion": "1", "Action": "x"}}, "Signature version 1 is not "
                                                           "accepted; sign requests with "
                                                           "version 2 or 4."),
    ({"params": {"SignatureVersion": "2", "SignatureMethod": "HmacMD5"}},
     "SignatureMethod must be HmacSHA256 or HmacSHA1."),
    ({"params": {}, "headers": {}}, "Unexpected signature format."),
    ({"headers": {"Host": "ec2.example.com:8788"}}, "Unexpected signature format."),
])
def test_what_cannot_be_checked_is_refused(deployment, ec2, service, change, message):
    signed = forwarded(signed_ec2_request(ec2, "v4"), ec2["access"])
    body = {key: value for key, value in {**signed, **change}.items() if value is not None}
    error = ec2tokens(deployment.main, body, service, status=401)
    assert assert_keystone_error(error, 401)["message"] == message


def test_a_v4_signature_must_sign_the_host_and_every_header_it_names(deployment, ec2, service):
    signed = forwarded(signed_ec2_request(ec2, "v4"), ec2["access"])
    without_host = {key: value for key, value in signed["headers"].items() if key != "Host"}
    for body in ({**signed, "headers": without_host}, {**signed, "body_hash": None}):
        error = ec2tokens(deployment.main, {k: v for k, v in body.items() if v is not None},
                          service, status=401)
        assert "must sign the host header" in assert_keystone_error(error, 401)["message"]


@pytest.mark.parametrize("body", [
    {}, {"credentials": "x"}, {"credentials": {"access": 7}},
    {"credentials": {"access": "a", "signature": "s", "params": []}},
    {"credentials": {"access": "a", "signature": "s", "headers": {"Host": ["x"]}}},
    {"credentials": {"access": "a", "signature": "s", "verb": 1}},
])
def test_malformed_bodies_are_400(deployment, service, body):
    for path in ("/v3/ec2tokens", "/v3/s3tokens"):
        assert_keystone_error(deployment.main.post_json(path, body, headers=service,
                                                        status=400), 400)
    assert_keystone_error(deployment.main.post("/v3/ec2tokens", headers=service, status=400),
                          400)


def test_get_is_405(deployment, service):
    for path in ("/v3/ec2tokens", "/v3/s3tokens"):
        assert_keystone_error(deployment.main.get(path, headers=service, status=405), 405)


# -- who may call ec2tokens and s3tokens ---------------------------------------------------------

@pytest.mark.parametrize("enforce_scope", [False, True], ids=["scope-off", "scope-on"])
def test_only_services_and_admins_may_exchange_signatures(make_deployment, enforce_scope):
    """As Keystone 30 since CVE-2025-65073: a pre-signed URL in the wrong hands must not be
    exchangeable for a token of its owner."""
    deployment = make_deployment({"oslo_policy": {"enforce_scope": str(enforce_scope).lower()}})
    add_user(deployment, "alice", "demo", "member")
    add_user(deployment, "swift", "demo", "service")
    alice = {"X-Auth-Token": issue(deployment.main, "alice", "demo")}
    credential = create(deployment.main, user_id(deployment, "alice"), alice,
                        project_id(deployment, "demo")).json["credential"]
    for headers, status in (({}, 401), ({"X-Auth-Token": "not-a-token"}, 401), (alice, 403)):
        ec2tokens(deployment.main, forwarded(signed_ec2_request(credential, "v4"),
                                             credential["access"]), headers, status=status)
        s3tokens(deployment.main, signed_s3_request(credential, "v4"), headers, status=status)
    for headers in ({"X-Auth-Token": issue(deployment.main, "swift", "demo")}, ADMIN):
        ec2tokens(deployment.main, forwarded(signed_ec2_request(credential, "v4"),
                                             credential["access"]), headers)
        s3tokens(deployment.main, signed_s3_request(credential, "v2"), headers)


# -- signed times --------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["v2", "v4", "v4-query"])
@pytest.mark.parametrize("server_clock, accepted", [
    (-14, True), (14, True), (16, False), (-16, False)])
def test_a_signature_is_accepted_for_auth_ttl_minutes_around_its_signed_time(
        deployment, ec2, service, how, server_clock, accepted):
    """``[credential] auth_ttl`` (15 minutes): older is Keystone's "expired"; as far ahead of
    this server's clock is refused too (a signature made for later)."""
    signed = forwarded(signed_ec2_request(ec2, how), ec2["access"])
    deployment.services().tokens.clock = lambda: now_us() + server_clock * MINUTE_US
    response = ec2tokens(deployment.main, signed, service, status=200 if accepted else 401)
    if not accepted:
        assert assert_keystone_error(response, 401)["message"] in (
            "Credential is expired.",
            "Credential timestamp is invalid: it is ahead of the server's clock.")


def test_a_presigned_request_is_accepted_for_its_x_amz_expires_at_most(deployment, ec2,
                                                                        service):
    signed = forwarded(signed_ec2_request(ec2, "v4-query", expires=120), ec2["access"])
    deployment.services().tokens.clock = lambda: now_us() + 3 * MINUTE_US
    error = ec2tokens(deployment.main, signed, service, status=401)
    assert assert_keystone_error(error, 401)["message"] == "Credential is expired."
    deployment.services().tokens.clock = lambda: now_us() + MINUTE_US
    ec2tokens(deployment.main, signed, service)


def test_auth_ttl_is_configurable(make_deployment):
    deployment = make_deployment({"credential": {"auth_ttl": "60"}})
    add_user(deployment, "alice", "demo", "member")
    alice = {"X-Auth-Token": issue(deployment.main, "alice", "demo")}
    credential = create(deployment.main, user_id(deployment, "alice"), alice,
                        project_id(deployment, "demo")).json["credential"]
    signed = forwarded(signed_ec2_request(credential, "v4"), credential["access"])
    deployment.services().tokens.clock = lambda: now_us() + 59 * MINUTE_US
    ec2tokens(deployment.main, signed, ADMIN)


@pytest.mark.parametrize("params, message", [
    ({"Timestamp": "yesterday"}, "Credential timestamp is invalid."),
    ({"Timestamp": "2011-10-03T15:19:30Z"}, "Credential is expired."),
    ({"Expires": "2011-10-03T15:19:30Z"}, "Credential is expired."),
])
def test_a_v2_signed_time_must_be_valid_and_recent(deployment, ec2, service, params, message):
    """Keystone checks a signed time when the request has one; a v2 request may instead say
    until when it is valid (``Expires``). Both are signed: the signature here is right."""
    request = botocore.awsrequest.AWSRequest(method="POST", url=EC2_URL, data={
        "Action": "DescribeInstances", **params})
    signer = botocore.auth.SigV2Auth(botocore.credentials.Credentials(ec2["access"],
                                                                      ec2["secret"]))
    original = signer.calc_signature

    def calc_signature(request, signed):  # botocore always adds a Timestamp of now
        signed.pop("Timestamp")
        signed.update(params)
        return original(request, signed)
    signer.calc_signature = calc_signature
    signer.add_auth(request)
    error = ec2tokens(deployment.main, forwarded(request.prepare(), ec2["access"]), service,
                      status=401)
    assert assert_keystone_error(error, 401)["message"] == message


# -- s3tokens ------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["v2", "v4"])
@pytest.mark.parametrize("app_name", ["main", "admin"])
def test_s3tokens_gives_a_project_token_for_a_botocore_signed_request(
        deployment, alice, ec2, service, how, app_name):
    app = getattr(deployment, app_name)
    response = s3tokens(app, signed_s3_request(ec2, how), service)
    token = response.json["token"]
    assert (token["methods"], token["user"]["id"], token["project"]["id"]) == (
        ["ec2credential"], alice[0], project_id(deployment, "demo"))
    assert "X-Subject-Token" not in response.headers  # as Keystone: s3token reads the body


@pytest.mark.parametrize("how", ["v2", "v4"])
def test_s3tokens_refuses_a_tampered_string_to_sign_or_signature(deployment, ec2, service, how):
    signed = signed_s3_request(ec2, how)
    string_to_sign = base64.urlsafe_b64decode(signed["token"])
    tampered = string_to_sign[:-1] + (b"0" if string_to_sign[-1:] != b"0" else b"1")
    for body in ({**signed, "token": base64.urlsafe_b64encode(tampered).decode()},
                 {**signed, "signature": signed["signature"][:-2] + "AA"},
                 {**signed, "access": "AKIA-unknown"}, {**signed, "token": "%%%"}):
        assert_keystone_error(s3tokens(deployment.main, body, service, status=401), 401)


@pytest.mark.parametrize("string_to_sign", [
    "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/ec2/aws4_request\nabc",
    "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request",
    "AWS4-HMAC-SHA256\n20130525T000000Z\n20130524/us-east-1/s3/aws4_request\nabc",
    "AWS4-HMAC-SHA1\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\nabc",
])
def test_s3tokens_refuses_a_malformed_v4_string_to_sign(deployment, ec2, service,
                                                        string_to_sign):
    error = s3tokens(deployment.main, {"access": ec2["access"], "signature": "0" * 64,
                                       "token": base64.urlsafe_b64encode(
                                           string_to_sign.encode()).decode()},
                     service, status=401)
    assert assert_keystone_error(error, 401)["message"] == "Invalid EC2 signature."


# -- what the token is, and what ends it ---------------------------------------------------------

def ec2_token(deployment, ec2, service) -> str:
    return ec2tokens(deployment.main, forwarded(signed_ec2_request(ec2, "v4"), ec2["access"]),
                     service).headers["X-Subject-Token"]


def test_an_ec2_token_is_no_credential_of_the_identity_api(deployment, alice, ec2, service):
    """It is for the other services (Keystone's fix of bug 2153453): it neither makes
    credentials nor turns into another token, so a leaked signature yields that token only."""
    alice_id, _ = alice
    token = ec2_token(deployment, ec2, service)
    headers = {"X-Auth-Token": token}
    demo = project_id(deployment, "demo")
    for response in (
            create(deployment.main, alice_id, headers, demo, status=403),
            deployment.main.get(f"/v3/users/{alice_id}/credentials/OS-EC2", headers=headers,
                                status=403),
            deployment.main.post_json("/v3/credentials", {"credential": {
                "user_id": alice_id, "type": "cert", "blob": "x"}}, headers=headers,
                status=403),
            deployment.main.get("/v3/auth/projects", headers=headers, status=403),
            deployment.main.post_json("/v3/auth/tokens", {"auth": {"identity": {
                "methods": ["token"], "token": {"id": token}}, "scope": {
                "project": {"id": demo}}}}, status=403),
            deployment.main.post_json("/v2.0/tokens", {"auth": {"token": {"id": token},
                                                                "tenantId": demo}},
                                      status=403)):
        assert_keystone_error(response, 403)
    # ... while the services it is for validate it.
    deployment.main.get("/v3/auth/tokens", headers={**service, "X-Subject-Token": token})


def test_deleting_the_credential_refuses_the_next_exchange(deployment, alice, ec2, service):
    alice_id, headers = alice
    signed = forwarded(signed_ec2_request(ec2, "v4"), ec2["access"])
    s3 = signed_s3_request(ec2, "v4")
    ec2tokens(deployment.main, signed, service)
    deployment.main.delete(f"/v3/users/{alice_id}/credentials/OS-EC2/{ec2['access']}",
                           headers=headers, status=204)
    error = ec2tokens(deployment.main, signed, service, status=401)
    assert assert_keystone_error(error, 401)["message"] == "EC2 access key not found."
    s3tokens(deployment.main, s3, service, status=401)


def test_losing_the_role_on_the_project_ends_the_exchange_and_the_token(deployment, alice, ec2,
                                                                        service):
    alice_id, _ = alice
    demo = project_id(deployment, "demo")
    token = ec2_token(deployment, ec2, service)
    member = next(role["id"] for role in deployment.admin.get("/v3/roles", headers=ADMIN).json[
        "roles"] if role["name"] == "member")
    deployment.admin.delete(f"/v3/projects/{demo}/users/{alice_id}/roles/{member}",
                            headers=ADMIN, status=204)
    ec2tokens(deployment.main, forwarded(signed_ec2_request(ec2, "v4"), ec2["access"]), service,
              status=401)
    deployment.main.get("/v3/auth/tokens", headers={**service, "X-Subject-Token": token},
                        status=404)


@pytest.mark.parametrize("change", ["user", "project"])
def test_a_disabled_user_or_project_gets_no_token(deployment, alice, ec2, service, change):
    target = f"/v3/users/{alice[0]}" if change == "user" else \
        f"/v3/projects/{project_id(deployment, 'demo')}"
    deployment.admin.patch_json(target, {change: {"enabled": False}}, headers=ADMIN)
    if change == "project":  # the service's own token is on demo too
        service = ADMIN
    ec2tokens(deployment.main, forwarded(signed_ec2_request(ec2, "v2"), ec2["access"]), service,
              status=401)


@pytest.mark.parametrize("binding", ["trust_id", "app_cred_id", "access_token_id"])
def test_a_credential_bound_to_a_delegation_is_refused(deployment, alice, service, binding):
    """keystone_lite cannot issue a token restricted to the delegation yet: nothing, rather
    than a token with all of the user's roles."""
    alice_id, headers = alice
    credential = {"access": f"AKIA-{binding}", "secret": "bound-secret"}
    deployment.admin.post_json("/v3/credentials", {"credential": {
        "user_id": alice_id, "project_id": project_id(deployment, "demo"), "type": "ec2",
        "blob": json.dumps({**credential, binding: "f" * 32})}}, headers=ADMIN, status=201)
    error = ec2tokens(deployment.main, forwarded(signed_ec2_request(credential, "v4"),
                                                 credential["access"]), service, status=401)
    assert "bound to a trust" in assert_keystone_error(error, 401)["message"]
    s3tokens(deployment.main, signed_s3_request(credential, "v2"), service, status=401)


def test_the_secret_is_stored_only_encrypted(deployment, ec2):
    (blob,) = in_store(deployment, lambda session: list(session.scalars(
        select(models.Credential.encrypted_blob))))
    assert ec2["secret"] not in blob and ec2["access"] not in blob
