"""No token, password, admin token, Fernet key (token or credential key), password hash or
credential blob ever reaches a log line or the CLI's output, whatever happens.

The test captures everything: the root logger at DEBUG (every library's records), SQLAlchemy's
statement echo switched on (``sqlalchemy.engine`` at INFO, as an operator debugging would), the
last-resort handler's tracebacks, and stdout/stderr of the CLI. It then runs the main flows of
both apps with both token providers — issue by password and by certificate, validate, check,
revoke, rescope, v2.0, admin CRUD with password set and change, credentials (an owner's and
an admin's, with key rotation and migration), OAuth1 delegation, application credentials (made,
used by the application_credential method and the OAuth 2.0 grant, refused, listed), EC2
credentials and their signatures exchanged for tokens, key rotation — plus an error
of every class (400 401 403 404 405 409 413 503) and forced 500s, one of which fails with the
new password hash among its statement's parameters, and scans the lot for every secret used.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import secrets as random_secrets
from urllib.parse import parse_qsl

import pytest
import sqlalchemy
from oauthlib import oauth1
from sqlalchemy import select

import aws_clients
from builders import (ADMIN_PASSWORD, ADMIN_TOKEN, add_user, admin_headers, admin_token_of,
                      cert_environ, external_auth, in_store, password_auth, post_token,
                      project_id, subject_headers, token_auth)
from keystone_lite.db import models
from keystone_lite.identity import store

WINDOW = 24  # a secret also leaks when only part of it is logged


class CaptureAll(logging.Handler):
    """Every record, formatted with its traceback, as the operator's log file would hold it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs():
    root, engine_log = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    levels = root.level, engine_log.level
    capture = CaptureAll()
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    engine_log.setLevel(logging.INFO)  # SQL statement echo
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(levels[0])
        engine_log.setLevel(levels[1])


class Secrets:
    """Every secret the run used; ``add`` returns its argument so calls can wrap values."""

    def __init__(self):
        self.values: set[str] = {ADMIN_TOKEN, ADMIN_PASSWORD}

    def add(self, value: str) -> str:
        self.values.add(value)
        return value

    def password(self, name: str) -> str:
        return self.add(f"{name}-{random_secrets.token_urlsafe(12)}")

    def token(self, response) -> str:
        return self.add(response.headers["X-Subject-Token"])

    def leaked_in(self, text: str) -> list[str]:
        leaks = []
        for secret in self.values:
            parts = [secret] + [secret[start:start + WINDOW]
                                for start in range(0, len(secret) - WINDOW + 1, 8)]
            if any(part in text for part in parts):
                leaks.append(secret)
        return sorted(leaks)


# -- the run -------------------------------------------------------------------------------------

def main_flows(deployment, secrets: Secrets) -> None:
    main, admin = deployment.main, deployment.admin
    alice_pw = secrets.password("alice")
    add_user(deployment, "alice", "demo", "member", password=alice_pw)
    demo = project_id(deployment, "demo")

    # v3: issue by password (scoped, unscoped) and by certificate; validate and check.
    scoped = secrets.token(post_token(main, password_auth("alice", alice_pw, "demo")))
    unscoped = secrets.token(post_token(main, password_auth("alice", alice_pw)))
    by_cert = secrets.token(post_token(main, external_auth("demo"), user="alice"))
    admin_real = secrets.add(admin_token_of(main))
    admin.get("/v3/auth/tokens", headers=subject_headers(scoped))
    admin.head("/v3/auth/tokens", headers=subject_headers(by_cert))
    main.get("/v3/auth/tokens?nocatalog", headers=subject_headers(scoped, caller=admin_real))
    main.get("/v3/auth/tokens", headers=subject_headers(scoped, caller=scoped))  # own token
    main.get("/v3/auth/catalog", headers={"X-Auth-Token": scoped})
    main.get("/v3/auth/projects", headers={"X-Auth-Token": unscoped})

    # Rescope, then revoke (the rescoped token dies with its parent's chain too).
    rescoped = secrets.token(post_token(main, token_auth(unscoped, "demo")))
    admin.delete("/v3/auth/tokens", headers=subject_headers(rescoped), status=204)
    admin.get("/v3/auth/tokens", headers=subject_headers(rescoped), status=404)

    # v2.0: issue by password and by token; validate, check, belongsTo, revoke.
    v2 = main.post_json("/v2.0/tokens", {"auth": {"passwordCredentials": {
        "username": "alice", "password": alice_pw}, "tenantName": "demo"}}).json
    v2_token = secrets.add(v2["access"]["token"]["id"])
    v2_from_token = secrets.add(main.post_json("/v2.0/tokens", {"auth": {
        "token": {"id": scoped}, "tenantId": demo}}).json["access"]["token"]["id"])
    admin.get(f"/v2.0/tokens/{v2_token}", headers=admin_headers())
    admin.head(f"/v2.0/tokens/{v2_from_token}?belongsTo={demo}", headers=admin_headers())
    admin.delete(f"/v2.0/tokens/{v2_token}", headers=admin_headers(), status=204)
    admin.get(f"/v2.0/tokens/{v2_token}", headers=admin_headers(), status=404)
    main.post_json("/v2.0/tokens", {"auth": {}}, extra_environ=cert_environ("alice"))

    # Admin CRUD, with a password set at creation and changed afterwards.
    bob_pw, bob_new_pw = secrets.password("bob"), secrets.password("bob-new")
    bob = admin.post_json("/v3/users", {"user": {"name": "bob", "password": bob_pw}},
                          headers={"X-Auth-Token": admin_real}, status=201).json["user"]["id"]
    admin.patch_json(f"/v3/users/{bob}", {"user": {"password": bob_new_pw}},
                     headers=admin_headers())
    post_token(main, password_auth("bob", bob_pw), status=401)
    bob_token = secrets.token(post_token(main, password_auth("bob", bob_new_pw)))
    # Bob's own password change: a wrong original (401), then the right one (204).
    bob_own_pw = secrets.password("bob-own")
    main.post_json(f"/v3/users/{bob}/password", {"user": {
        "original_password": bob_pw, "password": bob_own_pw}}, status=401)
    main.post_json(f"/v3/users/{bob}/password", {"user": {
        "original_password": bob_new_pw, "password": bob_own_pw}},
        headers={"X-Auth-Token": bob_token}, status=204)
    bob_token = secrets.token(post_token(main, password_auth("bob", bob_own_pw)))
    role = admin.post_json("/v3/roles", {"role": {"name": "auditor"}}, headers=admin_headers(),
                           status=201).json["role"]["id"]
    grant = f"/v3/projects/{demo}/users/{bob}/roles/{role}"
    admin.put(grant, headers=admin_headers(), status=204)
    admin.get(f"/v3/role_assignments?user.id={bob}", headers=admin_headers())
    admin.get("/v3/users", headers=admin_headers())
    admin.delete(grant, headers=admin_headers(), status=204)
    admin.get("/v3/auth/tokens", headers=subject_headers(bob_token))
    secrets.values.update(password_hashes(deployment))
    admin.delete(f"/v3/users/{bob}", headers=admin_headers(), status=204)

    oauth1_flow(deployment, secrets, scoped)

    # Key rotation (the CLI prints key numbers, never keys).
    secrets.values.update(fernet_keys(deployment))
    deployment.cli("fernet_rotate")
    secrets.values.update(fernet_keys(deployment))
    admin.get("/v3/auth/tokens", headers=subject_headers(scoped))

    credential_flows(deployment, secrets, scoped)
    ec2_flows(deployment, secrets, scoped)


def credential_flows(deployment, secrets: Secrets, alice_token: str) -> None:
    """Credentials: an owner's on main and an admin's, shown, listed, updated, refused (400
    and 409 with the blob in the body), rotated and migrated; every blob is a secret."""
    main, admin = deployment.main, deployment.admin
    alice = {"X-Auth-Token": alice_token}
    alice_id, demo = user_id(deployment, "alice"), project_id(deployment, "demo")

    def ec2_blob(name):
        return json.dumps({"access": f"{name}-access",
                           "secret": secrets.add(f"{name}-{random_secrets.token_urlsafe(24)}")})
    own = main.post_json("/v3/credentials", {"credential": {
        "user_id": alice_id, "project_id": demo, "type": "ec2", "blob": ec2_blob("ec2")}},
        headers=alice, status=201).json["credential"]["id"]
    totp = admin.post_json("/v3/credentials", {"credential": {
        "user_id": alice_id, "type": "totp", "blob": secrets.password("totp-seed")}},
        headers=admin_headers(), status=201).json["credential"]["id"]
    main.get(f"/v3/credentials/{own}", headers=alice)
    main.get("/v3/credentials?type=ec2", headers=alice)
    admin.patch_json(f"/v3/credentials/{totp}", {"credential": {
        "blob": secrets.password("totp-seed-new")}}, headers=admin_headers())
    refused = {"user_id": alice_id, "type": "ec2", "blob": ec2_blob("no-project")}
    admin.post_json("/v3/credentials", {"credential": refused}, headers=admin_headers(),
                    status=400)
    admin.post_json("/v3/credentials", {"credential": {**refused, "blob": [ec2_blob("list")]}},
                    headers=admin_headers(), status=400)
    admin.post_json("/v3/credentials", {"credential": {
        **refused, "project_id": demo, "blob": main.get(
            f"/v3/credentials/{own}", headers=alice).json["credential"]["blob"]}},
        headers=admin_headers(), status=409)
    secrets.values.update(fernet_keys(deployment, "credential-keys"))
    deployment.cli("credential_rotate")
    deployment.cli("credential_migrate")
    secrets.values.update(fernet_keys(deployment, "credential-keys"))
    admin.get("/v3/credentials", headers=admin_headers())


def oauth1_flow(deployment, secrets: Secrets, alice_token: str) -> None:
    """OAuth1: a consumer, a request token and an access token (their secrets), a token made
    with the access token; a wrong signature with the consumer's and the access token's."""
    main, admin = deployment.main, deployment.admin
    consumer = admin.post_json("/v3/OS-OAUTH1/consumers", {"consumer": {}},
                               headers=admin_headers()).json["consumer"]
    consumer_secret = secrets.add(consumer["secret"])

    def signed(path, secret=consumer_secret, **client_args):
        _uri, headers, _body = oauth1.Client(consumer["id"], client_secret=secret,
                                             **client_args).sign(f"http://localhost/v3{path}",
                                                                 http_method="POST")
        return {str(name): str(value) for name, value in headers.items()}

    for secret, status in ((secrets.add("wrong-" + consumer_secret), 401),
                           (consumer_secret, 201)):
        response = main.post("/v3/OS-OAUTH1/request_token", headers={
            **signed("/OS-OAUTH1/request_token", secret, callback_uri="oob"),
            "Requested-Project-Id": project_id(deployment, "demo")}, status=status)
    request = dict(parse_qsl(response.text))
    secrets.add(request["oauth_token_secret"])
    # Not among the secrets: a verifier is useless without the consumer's and the request
    # token's secrets, and oauthlib logs it at DEBUG in signature base strings.
    verifier = main.put_json(
        f"/v3/OS-OAUTH1/authorize/{request['oauth_token']}", {"roles": [{"name": "member"}]},
        headers={"X-Auth-Token": alice_token}).json["token"]["oauth_verifier"]
    access = dict(parse_qsl(main.post("/v3/OS-OAUTH1/access_token", headers=signed(
        "/OS-OAUTH1/access_token", resource_owner_key=request["oauth_token"],
        resource_owner_secret=request["oauth_token_secret"], verifier=verifier),
        status=201).text))
    access_secret = secrets.add(access["oauth_token_secret"])
    for secret, status in ((secrets.add("wrong-" + access_secret), 401), (access_secret, 201)):
        response = main.post_json("/v3/auth/tokens", {"auth": {"identity": {
            "methods": ["oauth1"], "oauth1": {}}}}, headers=signed(
            "/auth/tokens", resource_owner_key=access["oauth_token"],
            resource_owner_secret=secret), status=status)
    admin.get("/v3/auth/tokens", headers=subject_headers(secrets.token(response)))


def application_credential_flows(deployment, secrets: Secrets) -> None:
    """Made (secret generated, then chosen), used, refused; listed and shown without their
    secrets (which only the create response carries)."""
    main, admin = deployment.main, deployment.admin
    alice = user_id(deployment, "alice")
    token = secrets.token(post_token(main, external_auth("demo"), user="alice"))
    url = f"/v3/users/{alice}/application_credentials"
    headers = {"X-Auth-Token": token}
    generated = main.post_json(url, {"application_credential": {"name": "cron"}},
                               headers=headers, status=201).json["application_credential"]
    secrets.add(generated["secret"])
    chosen = secrets.password("appcred")
    main.post_json(url, {"application_credential": {"name": "ci", "secret": chosen}},
                   headers=headers, status=201)
    wrong = secrets.password("appcred-wrong")
    main.post_json(url, {"application_credential": {"name": 7, "secret": wrong}},
                   headers=headers, status=400)
    main.post_json(url, {"application_credential": {"name": "x", "secret": [wrong]}},
                   headers=headers, status=400)

    def auth(secret, **by):
        return {"auth": {"identity": {"methods": ["application_credential"],
                                      "application_credential": {**by, "secret": secret}}}}
    used = secrets.token(post_token(main, auth(generated["secret"], id=generated["id"])))
    secrets.token(post_token(main, auth(chosen, name="ci", user={"id": alice})))
    post_token(main, auth(wrong, id=generated["id"]), status=401)
    admin.get("/v3/auth/tokens", headers=subject_headers(used))
    basic = base64.b64encode(f"{generated['id']}:{generated['secret']}".encode()).decode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    oauth2 = main.post("/v3/OS-OAUTH2/token", "grant_type=client_credentials",
                       headers={**form, "Authorization": f"Basic {basic}"}).json
    secrets.add(oauth2["access_token"])
    main.post("/v3/OS-OAUTH2/token", f"grant_type=client_credentials&client_id="
              f"{generated['id']}&client_secret={wrong}", headers=form, status=401)
    shown = [main.get(url, headers=headers).text,
             main.get(f"{url}/{generated['id']}", headers=headers).text]
    assert secrets.leaked_in("\n".join(shown)) == []


def ec2_flows(deployment, secrets: Secrets, alice_token: str) -> None:
    """EC2 credentials: made, listed and shown (their secret in the bodies), exchanged for
    tokens by ec2tokens and s3tokens with botocore's signatures, refused with wrong ones,
    deleted; every secret, signature and token is a secret."""
    # botocore, the client here, logs what it signs at DEBUG: the client's log, not ours.
    client_log = logging.getLogger("botocore")
    client_log.setLevel(logging.INFO)
    try:
        _ec2_flows(deployment, secrets, alice_token)
    finally:
        client_log.setLevel(logging.NOTSET)


def _ec2_flows(deployment, secrets: Secrets, alice_token: str) -> None:
    main = deployment.main
    alice = {"X-Auth-Token": alice_token}
    path = f"/v3/users/{user_id(deployment, 'alice')}/credentials/OS-EC2"
    ec2 = main.post_json(path, {"tenant_id": project_id(deployment, "demo")}, headers=alice,
                         status=201).json["credential"]
    secrets.add(ec2["secret"])
    main.get(path, headers=alice)
    main.get(f"{path}/{ec2['access']}", headers=alice)
    wrong = {**ec2, "secret": secrets.add(random_secrets.token_hex(16))}
    for how in ("v2", "v4", "v4-query"):
        signed = aws_clients.forwarded(aws_clients.signed_ec2_request(ec2, how), ec2["access"])
        secrets.add(signed["signature"])
        secrets.token(main.post_json("/v3/ec2tokens", {"credentials": signed},
                                     headers=admin_headers()))
        refused = aws_clients.forwarded(aws_clients.signed_ec2_request(wrong, how),
                                        ec2["access"])
        main.post_json("/v3/ec2tokens", {"credentials": refused}, headers=admin_headers(),
                       status=401)
    for how in ("v2", "v4"):
        signed = aws_clients.signed_s3_request(ec2, how)
        secrets.add(signed["signature"])
        main.post_json("/v3/s3tokens", {"credentials": signed}, headers=admin_headers())
        main.post_json("/v3/s3tokens", {"credentials": aws_clients.signed_s3_request(
            {**wrong, "access": ec2["access"]}, how)}, headers=admin_headers(), status=401)
    main.delete(f"{path}/{ec2['access']}", headers=alice, status=204)


def errors_of_every_class(deployment, secrets: Secrets) -> int:
    """Returns how many 503s it caused."""
    main, admin = deployment.main, deployment.admin
    alice_pw = secrets.password("alice-again")
    admin.patch_json(f"/v3/users/{user_id(deployment, 'alice')}",
                     {"user": {"password": alice_pw}}, headers=admin_headers())
    scoped = secrets.token(post_token(main, password_auth("alice", alice_pw, "demo")))
    wrong_pw = secrets.password("wrong")
    unknown_token = secrets.add("gAAAAA" + random_secrets.token_urlsafe(120))

    # 400: broken JSON and a wrong type, both carrying a password.
    main.post("/v3/auth/tokens", json.dumps(password_auth("alice", wrong_pw))[:-3],
              content_type="application/json", status=400)
    body = password_auth("alice", wrong_pw)
    body["auth"]["identity"]["password"]["user"]["password"] = [wrong_pw]
    post_token(main, body, status=400)
    # 401: wrong password, unknown user, unknown and revoked caller tokens.
    post_token(main, password_auth("alice", wrong_pw), status=401)
    post_token(main, password_auth("nobody", wrong_pw), status=401)
    main.get("/v3/auth/catalog", headers={"X-Auth-Token": unknown_token}, status=401)
    main.post_json("/v2.0/tokens", {"auth": {"passwordCredentials": {
        "username": "alice", "password": wrong_pw}}}, status=401)
    # 403: a member calling the admin API; 404: unknown subject tokens (v3 and v2.0 path).
    admin.get("/v3/users", headers={"X-Auth-Token": scoped}, status=403)
    admin.get("/v3/auth/tokens", headers=subject_headers(unknown_token), status=404)
    admin.get(f"/v2.0/tokens/{unknown_token}", headers=admin_headers(), status=404)
    # 405, 409 (a duplicate user with a password), 413 (a huge body with a password).
    main.put("/v3/auth/tokens", headers=subject_headers(scoped), status=405)
    admin.post_json("/v3/users", {"user": {"name": "alice", "password": wrong_pw}},
                    headers=admin_headers(), status=409)
    huge = password_auth("alice", wrong_pw)
    huge["padding"] = "x" * 200_000
    post_token(main, huge, status=413)

    # 503: the credential keys gone, the key repository gone (Fernet), then the database gone
    # (SQLite).
    credential_keys = os.path.join(deployment.data_dir, "credential-keys")
    os.rename(credential_keys, credential_keys + ".away")
    admin.get("/v3/credentials", headers=admin_headers(), status=503)
    os.rename(credential_keys + ".away", credential_keys)
    outages = 1
    if deployment.services().tokens.provider.name == "fernet":
        keys = os.path.join(deployment.data_dir, "fernet-keys")
        os.rename(keys, keys + ".away")
        admin.get("/v3/auth/tokens", headers=subject_headers(scoped), status=503)
        post_token(main, password_auth("alice", alice_pw), status=503)
        os.rename(keys + ".away", keys)
        outages += 2
    if deployment.database_url is None:
        database = os.path.join(deployment.data_dir, "keystone-lite.db")
        os.rename(database, database + ".away")
        post_token(main, password_auth("alice", alice_pw), status=503)
        admin.get("/v3/auth/tokens", headers=subject_headers(scoped), status=503)
        os.rename(database + ".away", database)
        outages += 2
    admin.get("/v3/auth/tokens", headers=subject_headers(scoped))
    return outages


def forced_500s(deployment, secrets: Secrets, monkeypatch) -> None:
    main, admin = deployment.main, deployment.admin
    built = deployment.services()
    alice = user_id(deployment, "alice")

    # An unexpected exception in the middle of a password check.
    alice_pw = secrets.password("alice-500")
    admin.patch_json(f"/v3/users/{alice}", {"user": {"password": alice_pw}},
                     headers=admin_headers())

    def broken_verify(password_hash, password):
        raise RuntimeError("the hasher broke")
    monkeypatch.setattr(built.passwords, "verify", broken_verify)
    post_token(main, password_auth("alice", alice_pw, "demo"), status=500)
    monkeypatch.undo()

    # A database error whose statement carries the new password hash among its parameters.
    new_pw = secrets.password("alice-new")

    def failing_update(session, entity, changes):
        secrets.values.update(changes["password_hash"].split("$")[-2:])
        session.execute(sqlalchemy.text("SELECT :password_hash, :unbindable"),
                        {"password_hash": changes["password_hash"], "unbindable": object()})
    monkeypatch.setattr(store, "update", failing_update)
    admin.patch_json(f"/v3/users/{alice}", {"user": {"password": new_pw}},
                     headers=admin_headers(), status=500)
    monkeypatch.undo()

    # A provider failing while it holds the token id (for uuid: a statement parameter).
    token = secrets.token(post_token(main, password_auth("alice", alice_pw, "demo")))
    real_open = built.tokens.provider.open

    def failing_open(token_id, session):
        session.execute(sqlalchemy.text("SELECT :token_id, :unbindable"),
                        {"token_id": token_id, "unbindable": object()})
        return real_open(token_id, session)
    monkeypatch.setattr(built.tokens.provider, "open", failing_open)
    admin.get("/v3/auth/tokens", headers=subject_headers(token), status=500)
    monkeypatch.undo()


def user_id(deployment, name: str) -> str:
    return in_store(deployment, lambda session: store.find_user(
        session, name=name, domain_id="default").id)


def password_hashes(deployment) -> set[str]:
    """The salt and digest parts of every stored hash (the "$argon2id$v=19$m=..." head is not
    secret and is the same for all)."""
    hashes = in_store(deployment, lambda session: list(session.scalars(
        select(models.User.password_hash).where(models.User.password_hash.is_not(None)))) + list(
        session.scalars(select(models.ApplicationCredential.secret_hash))))
    return {part for value in hashes for part in value.split("$")[-2:]}


def fernet_keys(deployment, repository: str = "fernet-keys") -> set[str]:
    directory = os.path.join(deployment.data_dir, repository)
    keys = set()
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), encoding="ascii") as handle:
            keys.add(handle.read().strip())
    return keys


# -- the test ------------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", ["fernet", "uuid"])
def test_no_secret_reaches_any_log_line_or_cli_output(make_deployment, all_logs, capfd,
                                                      monkeypatch, provider):
    deployment = make_deployment({"token": {"provider": provider}})
    secrets = Secrets()
    secrets.values.update(fernet_keys(deployment))
    secrets.values.update(fernet_keys(deployment, "credential-keys"))

    main_flows(deployment, secrets)
    application_credential_flows(deployment, secrets)
    outages = errors_of_every_class(deployment, secrets)
    forced_500s(deployment, secrets, monkeypatch)
    secrets.values.update(password_hashes(deployment))

    output = capfd.readouterr()
    text = "\n".join(all_logs.lines + [output.out, output.err])
    # The capture saw what it must: SQL echo, the 503 lines and the 500 tracebacks.
    assert "SELECT" in text and "[SQL parameters hidden due to hide_parameters=True]" in text
    assert text.count("Service Unavailable handling a") == outages
    assert text.count("unexpected error handling a") == 3 and "Traceback" in text
    assert "created user 'alice'" in output.out
    assert len(secrets.values) > 20
    assert secrets.leaked_in(text) == []
