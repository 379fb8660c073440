"""Delegated token × sensitive call: what Keystone 30 refuses to a token earned with a delegation
(keystone/api/_shared/delegation.py and its callers), and what it still lets a user's own token
do. keystone_lite's one rule is keystone_lite.token.delegation.

Columns (kinds of token, all of alice's, all on her project ``demo``): P her certificate login
(primary: the control), AR a restricted and AU an unrestricted application credential's, TR
scoped to a trust bob gave her, O1 an OAuth1 consumer's (her access token), O2 OAuth 2.0 mutual
TLS (presented over her certificate), EC made by ``/v3/ec2tokens`` from her EC2 credential.

Cells: ``Y`` the call's success status; ``-`` 403 with Keystone's words for the row's refusal;
``t``/``o`` 403 as Keystone refuses a trust-scoped/OAuth-scoped token to make another token;
``r`` 403 for a restricted application credential (Keystone's
_check_unrestricted_application_credential); ``0`` 200 and an empty list (Keystone filters the
credentials a delegated token may not touch out of the list); ``c`` 403 as the identity API
refuses any call of a token made from an EC2 signature (keystone_lite's own, stricter rule).
"""
from __future__ import annotations

import json

import pytest
from oauthlib.oauth1 import Client

import aws_clients
from builders import (add_user, admin_headers, assert_keystone_error, client_certificate,
                      in_store, issue, post_token, project_id)
from keystone_lite.db import models
from keystone_lite.identity import store
from keystone_lite.token import delegation, trust_scope

ADMIN = admin_headers()
KINDS = "P AR AU TR O1 O2 EC".split()
TRUSTS = "/v3/OS-TRUST/trusts"
APP_CREDS = "/v3/users/{alice}/application_credentials"
RULES = "/v3/users/{alice}/access_rules"
EC2 = "/v3/users/{alice}/credentials/OS-EC2"
ACCESS_TOKENS = "/v3/users/{alice}/OS-OAUTH1/access_tokens"
A_TRUST = {"trust": {"trustor_user_id": "{alice}", "trustee_user_id": "{bob}",
                     "project_id": "{demo}", "impersonation": False,
                     "roles": [{"name": "member"}]}}

# Each cell's expected message, by its letter; "-" is the row's own.
MESSAGES = {
    "t": trust_scope.REUSE_REFUSED,
    "o": "You are not authorized to perform the requested action: Using OAuth-scoped token to "
         "create another token. Create a new OAuth-scoped token instead.",
    "r": "You are not authorized to perform the requested action: Using method "
         "'application_credential' is not allowed for managing additional application "
         "credentials.",
    "c": "A token made from an EC2 or S3 signature is not accepted by the identity API.",
}

# (call, method, path, body, success status, the row's refusal, cells for P AR AU TR O1 O2 EC).
CALLS = [
    # keystone/auth/plugins/token.py: no delegated token becomes another, even on its project.
    ("rescope", "POST", "/v3/auth/tokens", {"auth": {"identity": {
        "methods": ["token"], "token": {"id": "{self}"}}}}, 201, delegation.EXCHANGE_REFUSED,
     "Y--to--"),
    # keystone/api/trusts.py _check_delegated_token: a trust-scoped token may (it redelegates).
    ("create_trust", "POST", TRUSTS, A_TRUST, 201, delegation.TRUSTS_REFUSED, "Y--Y--c"),
    ("list_trusts", "GET", TRUSTS + "?trustor_user_id={alice}", None, 200,
     delegation.TRUSTS_REFUSED, "Y--Y--c"),
    ("get_trust", "GET", TRUSTS + "/{fresh_trust}", None, 200, delegation.TRUSTS_REFUSED,
     "Y--Y--c"),
    ("list_roles_for_trust", "GET", TRUSTS + "/{fresh_trust}/roles", None, 200,
     delegation.TRUSTS_REFUSED, "Y--Y--c"),
    ("get_role_for_trust", "GET", TRUSTS + "/{fresh_trust}/roles/{member}", None, 200,
     delegation.TRUSTS_REFUSED, "Y--Y--c"),
    ("delete_trust", "DELETE", TRUSTS + "/{fresh_trust}", None, 204, delegation.TRUSTS_REFUSED,
     "Y--Y--c"),
    # keystone/api/users.py _block_delegated_token_app_creds: an application credential's own
    # token is let through, and then only an unrestricted one creates or deletes.
    ("list_application_credentials", "GET", APP_CREDS, None, 200,
     delegation.APPLICATION_CREDENTIALS_REFUSED, "YYY---c"),
    ("create_application_credential", "POST", APP_CREDS,
     {"application_credential": {"name": "{unique}"}}, 201,
     delegation.APPLICATION_CREDENTIALS_REFUSED, "YrY---c"),
    ("get_application_credential", "GET", APP_CREDS + "/{fresh_app_cred}", None, 200,
     delegation.APPLICATION_CREDENTIALS_REFUSED, "YYY---c"),
    ("delete_application_credential", "DELETE", APP_CREDS + "/{fresh_app_cred}", None, 204,
     delegation.APPLICATION_CREDENTIALS_REFUSED, "YrY---c"),
    ("list_access_rules", "GET", RULES, None, 200, delegation.APPLICATION_CREDENTIALS_REFUSED,
     "YYY---c"),
    ("get_access_rule", "GET", RULES + "/{fresh_access_rule}", None, 200,
     delegation.APPLICATION_CREDENTIALS_REFUSED, "YYY---c"),
    ("delete_access_rule", "DELETE", RULES + "/{fresh_access_rule}", None, 204,
     delegation.APPLICATION_CREDENTIALS_REFUSED, "YYY---c"),
    # keystone/api/credentials.py _require_primary_auth (trust-scoped tokens too).
    ("list_credentials", "GET", "/v3/credentials", None, 200, None, "Y00000c"),
    ("create_credential", "POST", "/v3/credentials", {"credential": {
        "user_id": "{alice}", "type": "cert", "blob": "{unique}"}}, 201,
     delegation.CREDENTIALS_REFUSED, "Y-----c"),
    ("get_credential", "GET", "/v3/credentials/{fresh_credential}", None, 200,
     delegation.CREDENTIALS_REFUSED, "Y-----c"),
    ("update_credential", "PATCH", "/v3/credentials/{fresh_credential}",
     {"credential": {"blob": "changed"}}, 200, delegation.CREDENTIALS_REFUSED, "Y-----c"),
    ("delete_credential", "DELETE", "/v3/credentials/{fresh_credential}", None, 204,
     delegation.CREDENTIALS_REFUSED, "Y-----c"),
    # keystone/api/users.py _require_primary_auth_for_ec2.
    ("ec2_list_credentials", "GET", EC2, None, 200, delegation.CREDENTIALS_REFUSED, "Y-----c"),
    ("ec2_create_credential", "POST", EC2, {"tenant_id": "{demo}"}, 201,
     delegation.CREDENTIALS_REFUSED, "Y-----c"),
    ("ec2_get_credential", "GET", EC2 + "/{fresh_ec2}", None, 200,
     delegation.CREDENTIALS_REFUSED, "Y-----c"),
    ("ec2_delete_credential", "DELETE", EC2 + "/{fresh_ec2}", None, 204,
     delegation.CREDENTIALS_REFUSED, "Y-----c"),
    # keystone/api/os_oauth1.py _check_can_authorize_request_token; keystone/api/users.py
    # _block_delegated_token (list, get, delete; the two role reads are keystone_lite's own).
    ("authorize_request_token", "PUT", "/v3/OS-OAUTH1/authorize/{fresh_request_token}",
     {"roles": [{"name": "member"}]}, 200, delegation.AUTHORIZE_REFUSED, "Y-----c"),
    ("list_access_tokens", "GET", ACCESS_TOKENS, None, 200, delegation.ACCESS_TOKENS_REFUSED,
     "Y-----c"),
    ("get_access_token", "GET", ACCESS_TOKENS + "/{fresh_access_token}", None, 200,
     delegation.ACCESS_TOKENS_REFUSED, "Y-----c"),
    ("delete_access_token", "DELETE", ACCESS_TOKENS + "/{fresh_access_token}", None, 204,
     delegation.ACCESS_TOKENS_REFUSED, "Y-----c"),
    ("list_access_token_roles", "GET", ACCESS_TOKENS + "/{fresh_access_token}/roles", None, 200,
     delegation.ACCESS_TOKENS_REFUSED, "Y-----c"),
    ("get_access_token_role", "GET", ACCESS_TOKENS + "/{fresh_access_token}/roles/{member}",
     None, 200, delegation.ACCESS_TOKENS_REFUSED, "Y-----c"),
]


class World:
    """alice (member of demo) with a token of each kind, bob (member of demo) who trusts her,
    a consumer of hers, and what the calls act on."""

    def __init__(self, deployment):
        self.deployment = deployment
        main = deployment.main
        add_user(deployment, "alice", "demo", "member")
        add_user(deployment, "bob", "demo", "member")
        self.ids = {"alice": self.user_id("alice"), "bob": self.user_id("bob"),
                    "demo": project_id(deployment, "demo"),
                    "member": deployment.admin.get("/v3/roles?name=member", headers=ADMIN)
                    .json["roles"][0]["id"]}
        self.primary = issue(main, "alice", "demo")
        self.certificate = client_certificate("alice")
        self.consumer = deployment.admin.post_json(
            "/v3/OS-OAUTH1/consumers", {"consumer": {}}, headers=ADMIN).json["consumer"]
        self.made_credential()  # so that a list refused to a delegation would show one
        self.tokens = {"P": self.primary, "AR": self.by_credential(False),
                       "AU": self.by_credential(True), "TR": self.trust_scoped(),
                       "O1": self.oauth1(), "O2": self.oauth2(), "EC": self.ec2()}

    def user_id(self, name: str) -> str:
        return self.deployment.admin.get(f"/v3/users?name={name}", headers=ADMIN).json[
            "users"][0]["id"]

    def environ(self, kind: str) -> dict:
        """An OAuth 2.0 mutual-TLS token is bound: it comes over its certificate."""
        return self.certificate.environ if kind == "O2" else {}

    def app_credential(self, **attributes) -> dict:
        attributes.setdefault("name", f"c-{store.new_id()}")
        return self.deployment.main.post_json(
            f"/v3/users/{self.ids['alice']}/application_credentials",
            {"application_credential": attributes}, headers={"X-Auth-Token": self.primary},
            status=201).json["application_credential"]

    def by_credential(self, unrestricted: bool) -> str:
        credential = self.app_credential(unrestricted=unrestricted)
        return self.deployment.main.post_json("/v3/auth/tokens", {"auth": {"identity": {
            "methods": ["application_credential"], "application_credential": {
                "id": credential["id"], "secret": credential["secret"]}}}}).headers[
            "X-Subject-Token"]

    def trust_scoped(self) -> str:
        bob = issue(self.deployment.main, "bob", "demo")
        trust = self.deployment.main.post_json(TRUSTS, {"trust": {
            "trustor_user_id": self.ids["bob"], "trustee_user_id": self.ids["alice"],
            "project_id": self.ids["demo"], "impersonation": False, "allow_redelegation": True,
            "roles": [{"name": "member"}]}}, headers={"X-Auth-Token": bob}).json["trust"]
        return post_token(self.deployment.main, {"auth": {
            "identity": {"methods": ["external"]},
            "scope": {"OS-TRUST:trust": {"id": trust["id"]}}}}, user="alice").headers[
            "X-Subject-Token"]

    def access_token(self) -> dict:
        """alice's delegation of member on demo to the consumer (a row, as the flow that
        test_oauth1 drives to the end would leave it)."""
        def add(session):
            row = models.OAuth1AccessToken(
                id=store.new_id(), secret=store.new_id(), consumer_id=self.consumer["id"],
                project_id=self.ids["demo"], authorizing_user_id=self.ids["alice"],
                role_ids=json.dumps([self.ids["member"]]))
            session.add(row)
            return {"id": row.id, "secret": row.secret}
        return in_store(self.deployment, add)

    def oauth1(self) -> str:
        access = self.access_token()
        client = Client(self.consumer["id"], client_secret=self.consumer["secret"],
                        resource_owner_key=access["id"], resource_owner_secret=access["secret"])
        _uri, headers, _body = client.sign("http://localhost/v3/auth/tokens", http_method="POST")
        return self.deployment.main.post_json(
            "/v3/auth/tokens", {"auth": {"identity": {"methods": ["oauth1"], "oauth1": {}}}},
            headers={str(name): str(value) for name, value in headers.items()}).headers[
            "X-Subject-Token"]

    def oauth2(self) -> str:
        return self.deployment.main.post(
            "/v3/OS-OAUTH2/token", f"grant_type=client_credentials&client_id={self.ids['alice']}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            extra_environ=self.environ("O2")).json["access_token"]

    def ec2_credential(self) -> dict:
        return self.deployment.admin.post_json(
            f"/v3/users/{self.ids['alice']}/credentials/OS-EC2", {"tenant_id": self.ids["demo"]},
            headers=ADMIN, status=201).json["credential"]

    def ec2(self) -> str:
        credential = self.ec2_credential()
        signed = aws_clients.forwarded(aws_clients.signed_ec2_request(credential, "v4"),
                                       credential["access"])
        return self.deployment.main.post_json("/v3/ec2tokens", {"credentials": signed},
                                              headers=ADMIN).headers["X-Subject-Token"]

    def made_credential(self) -> str:
        return self.deployment.admin.post_json("/v3/credentials", {"credential": {
            "user_id": self.ids["alice"], "type": "cert", "blob": "alice's"}},
            headers=ADMIN, status=201).json["credential"]["id"]

    def fresh(self, name: str) -> str:
        """An object of alice's made for one call, which may consume it."""
        if name == "fresh_trust":
            return self.deployment.main.post_json(
                TRUSTS, filled(A_TRUST, self.ids), headers={"X-Auth-Token": self.primary},
                status=201).json["trust"]["id"]
        if name == "fresh_app_cred":
            return self.app_credential()["id"]
        if name == "fresh_access_rule":  # unused: its credential is gone
            credential = self.app_credential(access_rules=[{
                "service": "compute", "method": "GET", "path": f"/{store.new_id()}"}])
            self.deployment.main.delete(
                f"/v3/users/{self.ids['alice']}/application_credentials/{credential['id']}",
                headers={"X-Auth-Token": self.primary}, status=204)
            return credential["access_rules"][0]["id"]
        if name == "fresh_credential":
            return self.made_credential()
        if name == "fresh_ec2":
            return self.ec2_credential()["access"]
        if name == "fresh_access_token":
            return self.access_token()["id"]
        assert name == "fresh_request_token"

        def add(session):
            row = models.OAuth1RequestToken(
                id=store.new_id(), secret=store.new_id(), consumer_id=self.consumer["id"],
                project_id=self.ids["demo"])
            session.add(row)
            return row.id
        return in_store(self.deployment, add)

    def call(self, kind: str, method: str, path: str, body):
        token = self.tokens[kind]
        values = {**self.ids, "self": token, "unique": f"u-{store.new_id()}"}
        for name in ("fresh_trust", "fresh_app_cred", "fresh_access_rule", "fresh_credential",
                     "fresh_ec2", "fresh_access_token", "fresh_request_token"):
            if f"{{{name}}}" in path:
                values[name] = self.fresh(name)
        return self.deployment.main.request(
            path.format(**values), method=method, expect_errors=True,
            headers={"X-Auth-Token": token} if path != "/v3/auth/tokens" else {},
            environ=self.environ(kind),
            content_type="application/json" if body is not None else None,
            body=json.dumps(filled(body, values)).encode() if body is not None else b"")


def filled(template, values: dict):
    """The body template with its ``{names}`` filled in, at any depth."""
    if isinstance(template, dict):
        return {key: filled(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [filled(value, values) for value in template]
    return template.format(**values) if isinstance(template, str) else template


@pytest.mark.parametrize("kind", KINDS)
def test_delegated_tokens_are_refused_what_keystone_refuses_them(make_deployment, kind):
    world = World(make_deployment())
    wrong = []
    for call, method, path, body, ok, refusal, cells in CALLS:
        cell = cells[KINDS.index(kind)]
        response = world.call(kind, method, path, body)
        where = f"{kind} {call} {method} {path}: {response.status_int} {response.body[:200]!r}"
        if cell == "Y":
            if response.status_int != ok:
                wrong.append(f"{where}, expected {ok}")
        elif cell == "0":
            if response.status_int != 200 or response.json["credentials"] != []:
                wrong.append(f"{where}, expected 200 and no credential")
        elif response.status_int != 403 or \
                assert_keystone_error(response, 403)["message"] != MESSAGES.get(cell, refusal):
            wrong.append(f"{where}, expected 403: {MESSAGES.get(cell, refusal)}")
    assert not wrong, f"{len(wrong)} calls answered otherwise:\n" + "\n".join(wrong)


def test_the_matrix_has_a_cell_for_every_kind_and_the_control_is_allowed_everywhere():
    """So that a row cannot lose a column, and the refusals are not the primary token's."""
    for call, *_rest, cells in CALLS:
        assert len(cells) == len(KINDS), call
        assert cells[KINDS.index("P")] == "Y", call
