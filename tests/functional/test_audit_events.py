"""Audit events (issue 15 item 5): each authentication, token issue and revocation and admin
change writes exactly its CADF event, as Keystone's notifications name them, to the ``[audit]
file`` (a real file, read back line by line); validation writes none; no event holds a token,
password or key."""
from __future__ import annotations

import json
import logging
import os
import re

import pytest

from builders import (ADMIN_PASSWORD, ADMIN_TOKEN, add_user, admin_headers, admin_token_of,
                      cert_environ, client_certificate, external_auth, issue, password_auth,
                      project_id, subject_headers, token_auth)

ADMIN = admin_headers()
PASSWORD = "audit-pass-7Qx9"  # alice's; never in the audit file
WRONG_PASSWORD = "not-her-pass-Zk42"
CADF = "http://schemas.dmtf.org/cloud/audit/1.0/event"


class Audited:
    """A deployment writing its audit events to ``audit.jsonl``; ``new()`` returns the events
    written since the last call."""

    def __init__(self, deployment):
        self.deployment = deployment
        self.main, self.admin = deployment.main, deployment.admin
        self.path = os.path.join(deployment.directory, "audit.jsonl")
        add_user(deployment, "alice", "demo", "member", password=PASSWORD)
        self.alice = self.id_of("users", "alice")
        self.demo = project_id(deployment, "demo")
        self.member = self.id_of("roles", "member")
        self.read = 0
        self.new()

    def id_of(self, collection: str, name: str) -> str:
        (found,) = self.admin.get(f"/v3/{collection}?name={name}", headers=ADMIN).json[collection]
        return found["id"]

    def lines(self) -> list[str]:
        if not os.path.exists(self.path):
            return []
        with open(self.path, encoding="utf-8") as handle:
            return handle.read().splitlines()

    def new(self) -> list[dict]:
        lines = self.lines()
        events, self.read = [json.loads(line) for line in lines[self.read:]], len(lines)
        return events

    def login(self, body=None, status: int = 201, **kwargs):
        return self.main.post_json("/v3/auth/tokens",
                                   body or password_auth("alice", PASSWORD, "demo"),
                                   status=status, **kwargs)


@pytest.fixture
def audited(make_deployment) -> Audited:
    return Audited(make_deployment({"audit": {"file": "audit.jsonl"},
                                    "security_compliance": {"lockout_failure_attempts": "2"}}))


def summary(events: list[dict]) -> list[tuple]:
    return [(event["event_type"], event["payload"]["outcome"]) for event in events]


def assert_cadf(event: dict, event_type: str, action: str, outcome: str) -> dict:
    """The oslo.messaging message of a Keystone CADF notification; returns its payload."""
    assert event["event_type"] == event_type
    assert event["priority"] == "INFO" and event["publisher_id"].startswith("identity.")
    payload = event["payload"]
    assert payload["typeURI"] == CADF and payload["eventType"] == "activity"
    assert (payload["action"], payload["outcome"]) == (action, outcome)
    assert payload["observer"]["typeURI"] == "service/security"
    assert payload["initiator"]["typeURI"] == "service/security/account/user"
    assert payload["initiator"]["request_id"].startswith("req-")
    assert {"typeURI", "id"} <= set(payload["target"])
    assert payload["eventTime"].endswith("+0000") and payload["id"]
    return payload


# -- authentication and tokens -------------------------------------------------------------------

def test_password_login_writes_authenticate_success_then_token_created(audited):
    response = audited.login(extra_environ={"REMOTE_ADDR": "192.0.2.7"},
                             headers={"User-Agent": "audit-test/1.0"})
    authenticate, created = audited.new()
    payload = assert_cadf(authenticate, "identity.authenticate", "authenticate", "success")
    initiator = payload["initiator"]
    assert (initiator["id"], initiator["name"], initiator["project_id"]) == (
        audited.alice, "alice", audited.demo)
    assert initiator["host"] == {"address": "192.0.2.7", "agent": "audit-test/1.0"}
    assert initiator["request_id"] == response.headers["X-Openstack-Request-Id"]
    assert payload["target"] == {"typeURI": "service/security/account/user", "id": audited.alice}
    assert payload["methods"] == ["password"]
    token = assert_cadf(created, "identity.token.created", "created.token", "success")["target"]
    body = response.json["token"]
    assert token["id"] == body["audit_ids"][0]  # named by its audit id, never by the token
    assert (token["user_id"], token["project_id"], token["methods"]) == (
        audited.alice, audited.demo, ["password"])


def test_certificate_login_writes_authenticate_success_then_token_created(audited):
    issue(audited.main, "alice", "demo")
    events = audited.new()
    assert summary(events) == [("identity.authenticate", "success"),
                               ("identity.token.created", "success")]
    assert events[0]["payload"]["methods"] == ["external"]


def _bad_password(world):
    world.login(password_auth("alice", WRONG_PASSWORD), status=401)


def _no_such_user(world):
    world.login(password_auth("nobody", WRONG_PASSWORD), status=401)


def _user_disabled(world):
    world.admin.patch_json(f"/v3/users/{world.alice}", {"user": {"enabled": False}},
                           headers=ADMIN)
    world.new()
    world.login(status=401)


def _locked_out(world):
    for _ in range(2):  # [security_compliance] lockout_failure_attempts = 2
        world.login(password_auth("alice", WRONG_PASSWORD), status=401)
    world.new()
    world.login(status=401)  # the right password, too late


def _no_certificate(world):
    world.login(external_auth("demo"), status=401)


def _certificate_refused(world):
    # mod_ssl's second UID: which one names the user is ambiguous ([cert_auth]
    # repeated_user_attribute = refuse).
    world.main.get("/v3", extra_environ={**cert_environ("alice"),
                                         "SSL_CLIENT_S_DN_UID_1": "bob"}, status=401)


def _revoked_certificate(world):
    certificate = client_certificate("alice")
    world.admin.post_json("/v3/certificate_revocations", {"certificate_revocation": {
        "thumbprint": certificate.thumbprint}}, headers={"X-Auth-Token": ADMIN_TOKEN})
    world.new()
    world.login(external_auth("demo"), extra_environ=certificate.environ, status=401)


def _no_role_on_scope(world):
    world.admin.post_json("/v3/projects", {"project": {"name": "elsewhere"}}, headers=ADMIN)
    world.new()
    world.login(password_auth("alice", PASSWORD, "elsewhere"), status=401)


def _no_such_scope(world):
    world.login(password_auth("alice", PASSWORD, "no-such-project"), status=401)


def _invalid_token(world):
    world.login(token_auth("gAAAAA-not-a-token", "demo"), status=401)


def _identity_mismatch(world):
    add_user(world.deployment, "bob", "demo")
    world.new()
    world.login(password_auth("alice", PASSWORD, "demo"), extra_environ=cert_environ("bob"),
                status=401)


def _bad_credential(world):
    world.login({"auth": {"identity": {"methods": ["application_credential"],
                                       "application_credential": {
                                           "id": "0" * 32, "secret": WRONG_PASSWORD}}}},
                status=401)


@pytest.mark.parametrize("refusal, reason", [
    (_bad_password, "bad_password"), (_no_such_user, "no_such_user"),
    (_user_disabled, "user_disabled"), (_locked_out, "locked_out"),
    (_no_certificate, "no_certificate"), (_certificate_refused, "certificate_refused"),
    (_revoked_certificate, "revoked_certificate"), (_no_role_on_scope, "no_role_on_scope"),
    (_no_such_scope, "no_such_scope"), (_invalid_token, "invalid_token"),
    (_identity_mismatch, "identity_mismatch"), (_bad_credential, "bad_credential"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_refused_authentication_writes_one_failure_with_its_reason(audited, refusal, reason):
    refusal(audited)
    (event,) = audited.new()
    payload = assert_cadf(event, "identity.authenticate", "authenticate", "failure")
    assert payload["reason"] == {"reasonType": reason, "reasonCode": "401"}


def test_failure_names_the_claimed_user_but_not_the_password(audited):
    _bad_password(audited)
    (event,) = audited.new()
    assert event["payload"]["initiator"]["name"] == "alice"
    assert WRONG_PASSWORD not in json.dumps(event)


def test_a_claimed_name_cannot_forge_a_line(audited):
    forged = 'mallory\n{"event_type": "identity.authenticate", "payload": {"outcome": "success"}}'
    audited.login(password_auth(forged, WRONG_PASSWORD), status=401)
    (line,) = audited.lines()[audited.read:]
    event = json.loads(line)
    assert event["payload"]["initiator"]["name"] == forged
    assert event["payload"]["reason"]["reasonType"] == "no_such_user"


@pytest.mark.parametrize("version", ["v3", "v2.0"])
def test_revoking_a_token_writes_token_deleted_by_the_caller(audited, version):
    response = audited.login()
    audited.new()
    token = response.headers["X-Subject-Token"]
    if version == "v3":
        audited.admin.delete("/v3/auth/tokens", headers=subject_headers(token, token),
                             status=204)
    else:
        audited.admin.delete(f"/v2.0/tokens/{token}", headers=ADMIN, status=204)
    (event,) = audited.new()
    payload = assert_cadf(event, "identity.token.deleted", "deleted.token", "success")
    assert payload["target"]["id"] == response.json["token"]["audit_ids"][0]
    assert payload["initiator"]["id"] == (audited.alice if version == "v3" else "admin_token")


def test_validation_writes_no_event(audited):
    token = audited.login().headers["X-Subject-Token"]
    audited.new()
    audited.admin.get("/v3/auth/tokens", headers=subject_headers(token), status=200)
    audited.admin.head("/v3/auth/tokens", headers=subject_headers(token), status=200)
    audited.admin.get(f"/v2.0/tokens/{token}", headers=ADMIN, status=200)
    audited.admin.get("/v3/auth/tokens", headers=subject_headers("gAAAA-bad"), status=404)
    assert audited.new() == []


# -- admin changes: every declared resource through the one generic hook, and the rest --------

def _create(world, collection: str, key: str, **fields) -> str:
    return world.admin.post_json(f"/v3/{collection}", {key: fields}, headers=ADMIN,
                                 status=201).json[key]["id"]


def _crud_cases():
    """(id, collection, key, create fields, update fields) of declared resources."""
    return [
        ("user", "users", "user", {"name": "carol", "password": "carol-pass-3Vb"},
         {"description": "changed"}),
        ("project", "projects", "project", {"name": "audit-proj"}, {"description": "x"}),
        ("role", "roles", "role", {"name": "auditor"}, {"name": "auditor2"}),
        ("group", "groups", "group", {"name": "ops"}, {"description": "x"}),
        ("region", "regions", "region", {"description": "r"}, {"description": "x"}),
        ("service", "services", "service", {"type": "compute", "name": "nova"},
         {"name": "nova2"}),
        ("policy", "policies", "policy", {"blob": "{}", "type": "application/json"},
         {"blob": "{\"a\": 1}"}),
    ]


@pytest.mark.parametrize("kind, collection, key, fields, changes", _crud_cases(),
                         ids=[case[0] for case in _crud_cases()])
def test_create_update_delete_write_one_event_each(audited, kind, collection, key, fields,
                                                   changes):
    entity = _create(audited, collection, key, **fields)
    audited.admin.patch_json(f"/v3/{collection}/{entity}", {key: changes}, headers=ADMIN)
    audited.admin.delete(f"/v3/{collection}/{entity}", headers=ADMIN, status=204)
    events = audited.new()
    assert [event["event_type"] for event in events] == [
        f"identity.{kind}.created", f"identity.{kind}.updated", f"identity.{kind}.deleted"]
    for event, operation in zip(events, ("created", "updated", "deleted")):
        payload = assert_cadf(event, f"identity.{kind}.{operation}", f"{operation}.{kind}",
                              "success")
        assert payload["target"]["id"] == payload["resource_info"] == entity
        assert payload["initiator"]["id"] == "admin_token"


def test_domain_lifecycle_writes_domain_events(audited):
    domain = _create(audited, "domains", "domain", name="audit-domain")
    audited.admin.patch_json(f"/v3/domains/{domain}", {"domain": {"enabled": False}},
                             headers=ADMIN)
    audited.admin.delete(f"/v3/domains/{domain}", headers=ADMIN, status=204)
    events = audited.new()
    assert [event["event_type"] for event in events] == [
        "identity.domain.created", "identity.domain.updated", "identity.domain.deleted"]
    assert events[0]["payload"]["target"] == {"typeURI": "data/security/domain", "id": domain}


def test_endpoint_create_and_delete_write_endpoint_events(audited):
    service = _create(audited, "services", "service", type="compute")
    endpoint = _create(audited, "endpoints", "endpoint", service_id=service, interface="public",
                       url="https://compute.example.com/")
    audited.admin.delete(f"/v3/endpoints/{endpoint}", headers=ADMIN, status=204)
    assert [event["event_type"] for event in audited.new()] == [
        "identity.service.created", "identity.endpoint.created", "identity.endpoint.deleted"]


def test_a_failed_change_writes_nothing(audited):
    audited.admin.post_json("/v3/users", {"user": {"name": "alice"}}, headers=ADMIN, status=409)
    audited.admin.delete("/v3/users/no-such-user", headers=ADMIN, status=404)
    audited.admin.post_json("/v3/users", {"user": {"name": "x"}}, status=401)
    assert audited.new() == []


@pytest.mark.parametrize("actor", ["users", "groups"])
def test_role_assignment_grant_and_revoke_write_keystones_events(audited, actor):
    who = audited.alice if actor == "users" else _create(audited, "groups", "group", name="g")
    audited.new()
    url = f"/v3/projects/{audited.demo}/{actor}/{who}/roles/{audited.member}"
    if actor == "users":  # alice has member on demo already: take it away first
        audited.admin.delete(url, headers=ADMIN, status=204)
        audited.new()
    audited.admin.put(url, headers=ADMIN, status=204)
    audited.admin.delete(url, headers=ADMIN, status=204)
    created, deleted = audited.new()
    for event, operation in ((created, "created"), (deleted, "deleted")):
        payload = assert_cadf(event, f"identity.role_assignment.{operation}",
                              f"{operation}.role_assignment", "success")
        assert (payload["role"], payload[actor[:-1]], payload["project"],
                payload["inherited_to_projects"]) == (audited.member, who, audited.demo, False)


def test_group_membership_writes_group_updated_with_the_actor(audited):
    group = _create(audited, "groups", "group", name="ops")
    audited.new()
    audited.admin.put(f"/v3/groups/{group}/users/{audited.alice}", headers=ADMIN, status=204)
    audited.admin.delete(f"/v3/groups/{group}/users/{audited.alice}", headers=ADMIN,
                         status=204)
    added, removed = audited.new()
    for event, operation in ((added, "added"), (removed, "removed")):
        payload = assert_cadf(event, "identity.group.updated", "updated.group", "success")
        assert (payload["target"]["id"], payload["actor_id"], payload["actor_type"],
                payload["actor_operation"]) == (group, audited.alice, "user", operation)


def test_application_credential_create_and_delete_write_events(audited):
    token = audited.login().headers["X-Subject-Token"]
    audited.new()
    base = f"/v3/users/{audited.alice}/application_credentials"
    created = audited.main.post_json(base, {"application_credential": {"name": "cron"}},
                                     headers={"X-Auth-Token": token}).json
    credential = created["application_credential"]
    audited.main.delete(f"{base}/{credential['id']}", headers={"X-Auth-Token": token},
                        status=204)
    events = audited.new()
    assert [event["event_type"] for event in events] == [
        "identity.application_credential.created", "identity.application_credential.deleted"]
    assert events[0]["payload"]["initiator"]["id"] == audited.alice
    assert credential["secret"] not in audited.lines()[-2] + audited.lines()[-1]


def test_trust_create_and_delete_write_keystones_trust_events(audited):
    add_user(audited.deployment, "trustee")
    trustee = audited.id_of("users", "trustee")
    token = audited.login().headers["X-Subject-Token"]
    audited.new()
    trust = audited.main.post_json("/v3/OS-TRUST/trusts", {"trust": {
        "trustor_user_id": audited.alice, "trustee_user_id": trustee,
        "project_id": audited.demo, "impersonation": False, "roles": [{"name": "member"}]}},
        headers={"X-Auth-Token": token}).json["trust"]
    audited.main.delete(f"/v3/OS-TRUST/trusts/{trust['id']}",
                        headers={"X-Auth-Token": token}, status=204)
    events = audited.new()
    assert [event["event_type"] for event in events] == [
        "identity.OS-TRUST:trust.created", "identity.OS-TRUST:trust.deleted"]
    assert events[0]["payload"]["target"] == {"typeURI": "data/security/trust",
                                              "id": trust["id"]}


def test_password_change_writes_user_updated(audited):
    audited.main.post_json(f"/v3/users/{audited.alice}/password", {"user": {
        "original_password": PASSWORD, "password": "new-pass-8Hs2"}}, status=204)
    (event,) = audited.new()
    assert_cadf(event, "identity.user.updated", "updated.user", "success")


def test_certificate_revocation_writes_its_created_event(audited):
    audited.admin.post_json("/v3/certificate_revocations", {"certificate_revocation": {
        "thumbprint": "ab" * 32}}, headers=ADMIN)
    assert [event["event_type"] for event in audited.new()] == [
        "identity.certificate_revocation.created"]


# -- secrets -------------------------------------------------------------------------------------

def test_no_token_password_or_key_reaches_the_audit_file(audited):
    secrets = [PASSWORD, WRONG_PASSWORD, ADMIN_TOKEN, ADMIN_PASSWORD, "carol-pass-3Vb"]
    _bad_password(audited)
    token = audited.login().headers["X-Subject-Token"]
    admin_token = admin_token_of(audited.main)
    secrets += [token, admin_token]
    audited.admin.post_json("/v3/users", {"user": {"name": "carol", "password": "carol-pass-3Vb"}},
                            headers={"X-Auth-Token": admin_token})
    credential = audited.main.post_json(
        f"/v3/users/{audited.alice}/application_credentials",
        {"application_credential": {"name": "cron"}},
        headers={"X-Auth-Token": token}).json["application_credential"]
    secrets.append(credential["secret"])
    app_token = audited.login({"auth": {"identity": {
        "methods": ["application_credential"], "application_credential": {
            "id": credential["id"], "secret": credential["secret"]}}}}).headers["X-Subject-Token"]
    secrets.append(app_token)
    blob = json.dumps({"access": "audit-access", "secret": "ec2-secret-Rt5"})
    secrets.append("ec2-secret-Rt5")
    audited.admin.post_json("/v3/credentials", {"credential": {
        "user_id": audited.alice, "project_id": audited.demo, "type": "ec2", "blob": blob}},
        headers=ADMIN)
    audited.admin.delete("/v3/auth/tokens", headers=subject_headers(token), status=204)
    audited.main.post_json(f"/v3/users/{audited.alice}/password", {"user": {
        "original_password": PASSWORD, "password": "new-pass-8Hs2"}}, status=204)
    secrets.append("new-pass-8Hs2")
    assert [event["event_type"] for event in audited.new()] == [
        "identity.authenticate", "identity.authenticate", "identity.token.created",
        "identity.authenticate", "identity.token.created", "identity.user.created",
        "identity.application_credential.created", "identity.authenticate",
        "identity.token.created", "identity.credential.created", "identity.token.deleted",
        "identity.user.updated"]
    with open(audited.path, encoding="utf-8") as handle:
        text = handle.read()
    for secret in secrets:
        assert secret not in text
    for key_file in _key_files(audited.deployment.data_dir):
        with open(key_file, encoding="utf-8") as handle:
            assert handle.read().strip() not in text


def _key_files(data_dir: str) -> list[str]:
    return [os.path.join(root, name) for directory in ("fernet-keys", "credential-keys")
            for root, _dirs, names in os.walk(os.path.join(data_dir, directory))
            for name in names]


# -- destinations --------------------------------------------------------------------------------

def test_the_file_is_private_to_the_service(audited):
    assert os.stat(audited.path).st_mode & 0o777 == 0o600


def test_log_destination_writes_each_event_to_the_keystone_lite_audit_logger(make_deployment,
                                                                           caplog):
    deployment = make_deployment({"audit": {"destination": "log"}})
    caplog.set_level(logging.INFO, logger="keystone_lite.audit")
    deployment.main.post_json("/v3/auth/tokens", password_auth("admin", WRONG_PASSWORD),
                              status=401)
    (record,) = [record for record in caplog.records if record.name == "keystone_lite.audit"]
    event = json.loads(record.getMessage())
    assert event["payload"]["reason"]["reasonType"] == "bad_password"
    assert not os.path.exists(os.path.join(deployment.data_dir, "audit.log"))


def test_none_destination_writes_nothing(make_deployment, caplog):
    deployment = make_deployment({"audit": {"destination": "none"}})
    caplog.set_level(logging.INFO, logger="keystone_lite.audit")
    deployment.main.post_json("/v3/auth/tokens", password_auth("admin", ADMIN_PASSWORD),
                              status=201)
    assert [record for record in caplog.records if record.name == "keystone_lite.audit"] == []
    assert not os.path.exists(os.path.join(deployment.data_dir, "audit.log"))



def test_revoking_all_tokens_on_the_account_page_is_one_user_update_by_that_user(audited):
    page = audited.main.get("/account", headers={"Accept": "text/html"},
                            extra_environ=cert_environ("alice"))
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    audited.new()
    audited.main.post("/account/revoke", {"csrf_token": form_token},
                      headers={"Origin": "http://localhost"},
                      extra_environ=cert_environ("alice"), status=303)
    (event,) = audited.new()
    payload = assert_cadf(event, "identity.user.updated", "updated.user", "success")
    assert payload["target"]["id"] == audited.alice and payload["tokens_revoked"] is True
    assert payload["initiator"]["id"] == audited.alice
