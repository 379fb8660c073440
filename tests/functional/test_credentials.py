"""Credentials (``/v3/credentials``) as Keystone 30 serves them: the API's shapes and statuses,
ec2 credentials (id from the access key, project required, binding kept), who may see and
change what (owners on both apps, admins, system readers), blobs encrypted at rest with their
own key repository (the row holds no plaintext; rotate + migrate keep every credential
readable), a clear 503 without keys, and credentials going with their user or project."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
import shutil

import pytest
import sqlalchemy
from cryptography.fernet import Fernet, InvalidToken

from builders import (ADMIN_PASSWORD, add_user, admin_headers, assert_keystone_error,
                      assert_logged_once, cert_environ, create_domain, grant_role, in_store,
                      issue, password_auth, project_id)
from keystone_lite import errors, settings as settings_module
from keystone_lite.cli import manage
from keystone_lite.identity import credential_keys, credentials
from keystone_lite.token.key_repository import KeyRepositoryError

ADMIN = admin_headers()
SECRET = "s3cr3t-blob-f00d-4f3a-9d2e"  # plaintext that must never be stored or logged


def user_id(deployment, name: str) -> str:
    (user,) = deployment.admin.get(f"/v3/users?name={name}", headers=ADMIN).json["users"]
    return user["id"]


def ec2_blob(access: str, secret: str = SECRET, **more) -> str:
    return json.dumps({"access": access, "secret": secret, **more})


def create(app, body: dict, headers=ADMIN, status: int = 201):
    return app.post_json("/v3/credentials", {"credential": body}, headers=headers,
                         status=status)


@pytest.fixture
def alice(deployment):
    """A member of ``demo``: (user id, her project token)."""
    add_user(deployment, "alice", "demo", "member")
    return user_id(deployment, "alice"), {"X-Auth-Token": issue(deployment.main, "alice", "demo")}


@pytest.fixture
def bob(deployment):
    add_user(deployment, "bob", "demo", "member")
    return user_id(deployment, "bob"), {"X-Auth-Token": issue(deployment.main, "bob", "demo")}


def stored_rows(deployment) -> list[dict]:
    """The credentials table as the database holds it, read with plain SQL."""
    def read(session):
        return [dict(row) for row in session.execute(sqlalchemy.text(
            "SELECT * FROM credentials ORDER BY id")).mappings()]
    return in_store(deployment, read)


def key_files(deployment, repository: str = "credential-keys") -> dict[int, bytes]:
    directory = pathlib.Path(deployment.data_dir, repository)
    return {int(path.name): path.read_bytes() for path in directory.iterdir()
            if path.name.isdigit()}


# -- the API ---------------------------------------------------------------------------------------

def test_create_get_list_update_delete_in_keystones_shapes(deployment, alice):
    alice_id, _ = alice
    admin = deployment.admin
    created = create(admin, {"user_id": alice_id, "type": "cert", "blob": SECRET,
                             "colour": "blue"})
    body = created.json["credential"]
    assert set(created.json) == {"credential"}
    assert set(body) == {"id", "user_id", "project_id", "type", "blob", "links", "colour"}
    assert (body["user_id"], body["project_id"], body["type"], body["blob"], body["colour"]) \
        == (alice_id, None, "cert", SECRET, "blue")
    assert len(body["id"]) == 32
    assert body["links"] == {"self": f"http://localhost/v3/credentials/{body['id']}"}

    shown = admin.get(f"/v3/credentials/{body['id']}", headers=ADMIN).json
    assert shown == created.json
    listed = admin.get("/v3/credentials", headers=ADMIN).json
    assert listed["credentials"] == [body]
    assert listed["links"] == {"self": "http://localhost/v3/credentials", "previous": None,
                               "next": None}

    demo = project_id(deployment, "demo")
    updated = admin.patch_json(f"/v3/credentials/{body['id']}", {"credential": {
        "blob": "new-blob", "project_id": demo}}, headers=ADMIN).json["credential"]
    assert (updated["id"], updated["blob"], updated["project_id"], updated["colour"]) == (
        body["id"], "new-blob", demo, "blue")
    assert admin.get(f"/v3/credentials/{body['id']}", headers=ADMIN).json[
        "credential"] == updated

    admin.delete(f"/v3/credentials/{body['id']}", headers=ADMIN, status=204)
    missing = admin.get(f"/v3/credentials/{body['id']}", headers=ADMIN, status=404)
    assert assert_keystone_error(missing, 404)["message"] == \
        f"Could not find credential: {body['id']}."
    admin.delete(f"/v3/credentials/{body['id']}", headers=ADMIN, status=404)


def test_list_filters_by_user_and_type(deployment, alice, bob):
    (alice_id, _), (bob_id, _) = alice, bob
    admin = deployment.admin
    demo = project_id(deployment, "demo")
    ids = {(owner, kind): create(admin, {"user_id": owner, "type": kind, "project_id": demo,
                                         "blob": ec2_blob(f"{owner}-{kind}")
                                         if kind == "ec2" else "x"}).json["credential"]["id"]
           for owner in (alice_id, bob_id) for kind in ("ec2", "cert")}

    def listed(query):
        return {credential["id"] for credential in admin.get(
            f"/v3/credentials{query}", headers=ADMIN).json["credentials"]}
    assert listed("") == set(ids.values())
    assert listed(f"?user_id={alice_id}") == {ids[alice_id, "ec2"], ids[alice_id, "cert"]}
    assert listed("?type=ec2") == {ids[alice_id, "ec2"], ids[bob_id, "ec2"]}
    assert listed(f"?user_id={bob_id}&type=cert") == {ids[bob_id, "cert"]}
    assert listed("?type=nothing") == set()


def test_ec2_credential_id_is_the_sha256_of_its_access_key(deployment, alice):
    alice_id, _ = alice
    demo = project_id(deployment, "demo")
    body = create(deployment.admin, {"user_id": alice_id, "project_id": demo, "type": "ec2",
                                     "blob": ec2_blob("AKIA-alice")}).json["credential"]
    assert body["id"] == hashlib.sha256(b"AKIA-alice").hexdigest()
    assert json.loads(body["blob"]) == {"access": "AKIA-alice", "secret": SECRET}
    again = create(deployment.admin, {"user_id": alice_id, "project_id": demo, "type": "ec2",
                                      "blob": ec2_blob("AKIA-alice", "other")}, status=409)
    assert assert_keystone_error(again, 409)["message"] == (
        "Conflict occurred attempting to store credential - Duplicate entry found with ID "
        f"{body['id']}.")


@pytest.mark.parametrize("change, message", [
    ({"project_id": None}, "An ec2 credential requires a project_id."),
    ({"blob": "not json " + SECRET}, "Invalid blob in credential"),
    ({"blob": "[]"}, "Expecting to find blob in credential."),
    ({"blob": json.dumps({"secret": SECRET})}, "Expecting to find access in credential."),
    ({"blob": json.dumps({"access": 7, "secret": SECRET})},
     "Expecting to find access in credential."),
])
def test_ec2_credentials_need_a_project_and_a_json_blob_with_an_access(deployment, alice, change,
                                                                       message):
    alice_id, _ = alice
    body = {"user_id": alice_id, "project_id": project_id(deployment, "demo"), "type": "ec2",
            "blob": ec2_blob("AKIA"), **change}
    error = assert_keystone_error(create(deployment.admin, body, status=400), 400)
    assert message in error["message"]
    assert SECRET not in error["message"]
    assert stored_rows(deployment) == []


def test_ec2_update_keeps_the_id_and_what_the_blob_binds_it_to(deployment, alice):
    """Tempest's update (new access, new project) keeps the id; a trust binding cannot be
    changed or dropped (Keystone's fix of OSSA-2020-005)."""
    alice_id, _ = alice
    admin = deployment.admin
    demo = project_id(deployment, "demo")
    other = admin.post_json("/v3/projects", {"project": {"name": "other"}},
                            headers=ADMIN).json["project"]["id"]
    bound = create(admin, {"user_id": alice_id, "project_id": demo, "type": "ec2",
                           "blob": ec2_blob("AKIA", trust_id="t1")}).json["credential"]
    path = f"/v3/credentials/{bound['id']}"

    updated = admin.patch_json(path, {"credential": {
        "blob": ec2_blob("AKIA-new", "new-secret", trust_id="t1"), "project_id": other,
        "type": "ec2"}}, headers=ADMIN).json["credential"]
    assert (updated["id"], updated["project_id"]) == (bound["id"], other)
    assert json.loads(updated["blob"])["access"] == "AKIA-new"

    for blob in (ec2_blob("AKIA-new"), ec2_blob("AKIA-new", trust_id="t2")):
        error = admin.patch_json(path, {"credential": {"blob": blob}}, headers=ADMIN,
                                 status=400)
        assert assert_keystone_error(error, 400)["message"] == \
            "trust_id can not be updated for credential"
    no_project = admin.patch_json(path, {"credential": {"project_id": None}}, headers=ADMIN,
                                  status=400)
    assert "requires a project_id" in assert_keystone_error(no_project, 400)["message"]
    # Another type becomes ec2 only with a project and an ec2 blob.
    cert = create(admin, {"user_id": alice_id, "type": "cert", "blob": "x"}).json["credential"]
    admin.patch_json(f"/v3/credentials/{cert['id']}", {"credential": {
        "type": "ec2", "project_id": demo}}, headers=ADMIN, status=400)
    assert admin.patch_json(f"/v3/credentials/{cert['id']}", {"credential": {
        "type": "ec2", "project_id": demo, "blob": ec2_blob("AKIA-cert")}},
        headers=ADMIN).json["credential"]["type"] == "ec2"
    changed_id = admin.patch_json(path, {"credential": {"id": "f" * 32}}, headers=ADMIN,
                                  status=400)
    assert assert_keystone_error(changed_id, 400)["message"] == "Cannot change ID"


@pytest.mark.parametrize("body, attribute", [
    ({"type": "cert", "blob": "x"}, None),  # no user_id
    ({"user_id": "{alice}", "blob": "x"}, None),  # no type
    ({"user_id": "{alice}", "type": "cert"}, None),  # no blob
    ({"user_id": "{alice}", "type": "cert", "blob": [SECRET]}, "blob"),
    ({"user_id": "{alice}", "type": "cert", "blob": {"secret": SECRET}}, "blob"),
    ({"user_id": "{alice}", "type": "t" * 256, "blob": "x"}, "type"),
    ({"user_id": "u" * 65, "type": "cert", "blob": "x"}, "user_id"),
])
def test_bodies_keystone_refuses_are_400_without_the_blob(deployment, alice, body, attribute):
    body = {key: value.format(alice=alice[0]) if isinstance(value, str) else value
            for key, value in body.items()}
    error = assert_keystone_error(create(deployment.admin, body, status=400), 400)
    if attribute is not None:
        assert error["message"].startswith(f"Invalid input for field/attribute {attribute}")
    assert SECRET not in error["message"]


def test_unknown_user_or_project_is_400(deployment, alice):
    unknown_user = create(deployment.admin, {"user_id": "f" * 32, "type": "cert", "blob": "x"},
                          status=400)
    assert assert_keystone_error(unknown_user, 400)["message"] == \
        f"Could not find user: {'f' * 32}."
    unknown_project = create(deployment.admin, {"user_id": alice[0], "project_id": "e" * 32,
                                                "type": "cert", "blob": "x"}, status=400)
    assert assert_keystone_error(unknown_project, 400)["message"] == \
        f"Could not find project: {'e' * 32}."


# -- who may do what -------------------------------------------------------------------------------

@pytest.mark.parametrize("enforce_scope", [False, True], ids=["scope-off", "scope-on"])
@pytest.mark.parametrize("app_name", ["main", "admin"])
def test_users_manage_their_own_credentials_and_only_theirs(make_deployment, app_name,
                                                            enforce_scope):
    deployment = make_deployment({"oslo_policy": {"enforce_scope": str(enforce_scope).lower()}})
    for name in ("alice", "bob"):
        add_user(deployment, name, "demo", "member")
    alice_id, bob_id = user_id(deployment, "alice"), user_id(deployment, "bob")
    alice = {"X-Auth-Token": issue(deployment.main, "alice", "demo")}
    bob = {"X-Auth-Token": issue(deployment.main, "bob", "demo")}
    app = getattr(deployment, app_name)

    mine = create(app, {"user_id": alice_id, "type": "cert", "blob": "alice's"},
                  headers=alice).json["credential"]
    theirs = create(app, {"user_id": bob_id, "type": "cert", "blob": "bob's"},
                    headers=bob).json["credential"]
    create(app, {"user_id": bob_id, "type": "cert", "blob": "x"}, headers=alice, status=403)

    assert [c["id"] for c in app.get("/v3/credentials", headers=alice).json[
        "credentials"]] == [mine["id"]]
    assert app.get(f"/v3/credentials?user_id={bob_id}", headers=alice).json[
        "credentials"] == []
    assert app.get(f"/v3/credentials/{mine['id']}", headers=alice).json["credential"] == mine
    for method in ("get", "delete"):
        getattr(app, method)(f"/v3/credentials/{theirs['id']}", headers=alice, status=403)
    # An id no credential has is a 403 too: a caller learns nothing of what exists.
    app.get(f"/v3/credentials/{'f' * 64}", headers=alice, status=403)
    app.patch_json(f"/v3/credentials/{theirs['id']}", {"credential": {"blob": "x"}},
                   headers=alice, status=403)
    # An owner cannot hand a credential to another user.
    app.patch_json(f"/v3/credentials/{mine['id']}", {"credential": {"user_id": bob_id}},
                   headers=alice, status=403)
    assert app.patch_json(f"/v3/credentials/{mine['id']}", {"credential": {"blob": "new"}},
                          headers=alice).json["credential"]["blob"] == "new"
    app.delete(f"/v3/credentials/{mine['id']}", headers=alice, status=204)
    app.get("/v3/credentials", status=401)
    # Admins see and manage everyone's.
    assert [c["id"] for c in deployment.admin.get("/v3/credentials", headers=ADMIN).json[
        "credentials"]] == [theirs["id"]]


@pytest.mark.parametrize("enforce_scope, project_admin_sees_all",
                         [(False, True), (True, False)], ids=["scope-off", "scope-on"])
def test_admins_and_system_readers_see_every_credential(make_deployment, enforce_scope,
                                                        project_admin_sees_all):
    deployment = make_deployment({"oslo_policy": {"enforce_scope": str(enforce_scope).lower()}})
    add_user(deployment, "alice", "demo", "member")
    add_user(deployment, "padmin", "demo", "admin")
    add_user(deployment, "auditor")
    grant_role(deployment, "auditor", "system", "all", "reader")
    alice_id = user_id(deployment, "alice")
    theirs = create(deployment.admin, {"user_id": alice_id, "type": "cert", "blob": "x"}
                    ).json["credential"]["id"]
    auditor = {"X-Auth-Token": deployment.main.post_json("/v3/auth/tokens", {"auth": {
        "identity": {"methods": ["external"], "external": {}},
        "scope": {"system": {"all": True}}}}, extra_environ=cert_environ("auditor")).headers[
        "X-Subject-Token"]}
    padmin = {"X-Auth-Token": issue(deployment.main, "padmin", "demo")}
    admin = deployment.admin

    assert [c["id"] for c in admin.get("/v3/credentials", headers=auditor).json[
        "credentials"]] == [theirs]
    admin.get(f"/v3/credentials/{theirs}", headers=auditor, status=200)
    create(admin, {"user_id": alice_id, "type": "cert", "blob": "x"}, headers=auditor,
           status=403)
    admin.delete(f"/v3/credentials/{theirs}", headers=auditor, status=403)

    listed = admin.get("/v3/credentials", headers=padmin).json["credentials"]
    assert [c["id"] for c in listed] == ([theirs] if project_admin_sees_all else [])
    admin.get(f"/v3/credentials/{theirs}", headers=padmin,
              status=200 if project_admin_sees_all else 403)
    # The admin project's admin is a cloud admin in both modes.
    real_admin = {"X-Auth-Token": deployment.main.post_json("/v3/auth/tokens", password_auth(
        "admin", ADMIN_PASSWORD, "admin")).headers["X-Subject-Token"]}
    admin.delete(f"/v3/credentials/{theirs}", headers=real_admin, status=204)


# -- what goes with users and projects -------------------------------------------------------

def test_deleting_a_user_or_a_project_deletes_their_credentials(deployment, alice, bob):
    (alice_id, _), (bob_id, _) = alice, bob
    admin = deployment.admin
    other = admin.post_json("/v3/projects", {"project": {"name": "other"}},
                            headers=ADMIN).json["project"]["id"]
    demo = project_id(deployment, "demo")
    create(admin, {"user_id": alice_id, "type": "cert", "blob": "x"})
    create(admin, {"user_id": alice_id, "type": "ec2", "project_id": demo,
                   "blob": ec2_blob("AKIA-a")})
    on_other = create(admin, {"user_id": bob_id, "type": "ec2", "project_id": other,
                              "blob": ec2_blob("AKIA-b")}).json["credential"]["id"]
    kept = create(admin, {"user_id": bob_id, "type": "cert", "blob": "y"}).json["credential"]

    admin.delete(f"/v3/users/{alice_id}", headers=ADMIN, status=204)
    admin.delete(f"/v3/projects/{other}", headers=ADMIN, status=204)

    assert [row["id"] for row in stored_rows(deployment)] == [kept["id"]]
    admin.get(f"/v3/credentials/{on_other}", headers=ADMIN, status=404)
    assert admin.get("/v3/credentials", headers=ADMIN).json["credentials"] == [kept]


def test_deleting_a_domain_deletes_the_credentials_of_its_users(deployment):
    admin = deployment.admin
    domain = create_domain(deployment, "gone")
    user = admin.post_json("/v3/users", {"user": {"name": "u", "domain_id": domain}},
                           headers=ADMIN).json["user"]["id"]
    create(admin, {"user_id": user, "type": "cert", "blob": "x"})
    admin.patch_json(f"/v3/domains/{domain}", {"domain": {"enabled": False}}, headers=ADMIN)
    admin.delete(f"/v3/domains/{domain}", headers=ADMIN, status=204)
    assert stored_rows(deployment) == []


# -- encryption at rest -----------------------------------------------------------------------

def test_the_database_row_holds_the_blob_only_encrypted_with_the_primary_key(deployment, alice):
    alice_id, _ = alice
    demo = project_id(deployment, "demo")
    create(deployment.admin, {"user_id": alice_id, "type": "ec2", "project_id": demo,
                              "blob": ec2_blob("AKIA-row")})
    create(deployment.admin, {"user_id": alice_id, "type": "cert", "blob": SECRET})
    keys = key_files(deployment)
    primary = keys[max(keys)]
    rows = stored_rows(deployment)
    assert len(rows) == 2
    for row in rows:
        assert "blob" not in row
        text = json.dumps(row)
        assert SECRET not in text and "AKIA-row" not in text
        assert row["key_hash"] == hashlib.sha1(primary).hexdigest()
        plaintext = Fernet(primary).decrypt(row["encrypted_blob"].encode()).decode()
        assert plaintext in (SECRET, ec2_blob("AKIA-row"))
    # Neither the token keys nor any other credential key opens it.
    for key in [*keys.values(), *key_files(deployment, "fernet-keys").values()]:
        if key != primary:
            with pytest.raises(InvalidToken):
                Fernet(key).decrypt(rows[0]["encrypted_blob"].encode())


def test_rotate_and_migrate_keep_every_credential_readable(deployment, alice, capsys):
    alice_id, _ = alice
    admin = deployment.admin
    made = {create(admin, {"user_id": alice_id, "type": "cert", "blob": f"blob-{n}"}).json[
        "credential"]["id"]: f"blob-{n}" for n in range(3)}

    def readable():
        return {c["id"]: c["blob"] for c in admin.get("/v3/credentials", headers=ADMIN).json[
            "credentials"]}

    def hashes():
        return {row["key_hash"] for row in stored_rows(deployment)}

    first_hash = hashes()
    deployment.cli("credential_rotate")
    assert readable() == made  # encrypted with what is now a secondary key
    assert hashes() == first_hash
    # Another rotation would purge that key: refused until the blobs are migrated.
    assert manage.main(["--config-file", deployment.config, "credential_rotate"]) == 1
    assert "3 credential(s) not encrypted with the primary key; run keystone-lite-manage " \
        "credential_migrate first" in capsys.readouterr().err
    deployment.cli("credential_migrate")
    assert "credentials re-encrypted with the primary key: 3" in capsys.readouterr().out
    keys = key_files(deployment)
    assert hashes() == {hashlib.sha1(keys[max(keys)]).hexdigest()} != first_hash
    new = create(admin, {"user_id": alice_id, "type": "cert", "blob": "after"}).json[
        "credential"]["id"]
    deployment.cli("credential_rotate")
    deployment.cli("credential_migrate")
    deployment.cli("credential_rotate")  # nothing behind: allowed; the oldest key is purged
    assert sorted(key_files(deployment)) == [0, 3, 4]
    assert readable() == {**made, new: "after"}
    assert SECRET not in capsys.readouterr().out


def test_credential_setup_makes_private_keys_beside_the_token_keys(tmp_path):
    config = tmp_path / "keystone-lite.conf"
    config.write_text(f"[DEFAULT]\ndata_dir = {tmp_path / 'data'}\n")
    loaded = settings_module.load(str(config))
    assert loaded.credential_key_repository == str(tmp_path / "data" / "credential-keys")
    assert manage.main(["--config-file", str(config), "credential_rotate"]) == 1
    assert manage.main(["--config-file", str(config), "credential_setup"]) == 0
    directory = tmp_path / "data" / "credential-keys"
    assert os.stat(directory).st_mode & 0o777 == 0o700
    assert sorted(os.listdir(directory)) == ["0", "1"]
    for name in ("0", "1"):
        assert os.stat(directory / name).st_mode & 0o777 == 0o600
    assert manage.main(["--config-file", str(config), "credential_setup"]) == 0  # kept


def test_credential_keys_cannot_be_the_token_keys(tmp_path):
    config = tmp_path / "keystone-lite.conf"
    config.write_text("[fernet_tokens]\nkey_repository = keys\n"
                      "[credential]\nkey_repository = keys\n")
    with pytest.raises(settings_module.ConfigError, match=r"\[credential\] key_repository"):
        settings_module.load(str(config))


def test_without_credential_keys_the_api_is_a_clear_503_and_the_log_says_what_to_run(
        deployment, alice, caplog):
    alice_id, alice_token = alice
    admin = deployment.admin
    kept = create(admin, {"user_id": alice_id, "type": "cert", "blob": "x"}).json["credential"]
    shutil.rmtree(os.path.join(deployment.data_dir, "credential-keys"))
    caplog.set_level(logging.ERROR)

    for response in (
            create(admin, {"user_id": alice_id, "type": "cert", "blob": SECRET}, status=503),
            admin.get(f"/v3/credentials/{kept['id']}", headers=ADMIN, status=503),
            deployment.main.get("/v3/credentials", headers=alice_token, status=503)):
        error = assert_keystone_error(response, 503)
        assert error["message"] == ("Credentials cannot be encrypted or decrypted at the "
                                    "moment. Please contact the administrator.")
        assert_logged_once(caplog, response, "run keystone-lite-manage credential_setup")
    # What needs no key still works: deleting.
    admin.delete(f"/v3/credentials/{kept['id']}", headers=ADMIN, status=204)
    assert admin.get("/v3/credentials", headers=ADMIN).json["credentials"] == []
    assert SECRET not in caplog.text


def test_a_blob_no_key_opens_is_a_503_naming_keystones_message(deployment, alice):
    alice_id, _ = alice
    made = create(deployment.admin, {"user_id": alice_id, "type": "cert", "blob": "x"}).json[
        "credential"]
    directory = os.path.join(deployment.data_dir, "credential-keys")
    shutil.rmtree(directory)
    deployment.cli("credential_setup")  # new keys: the old blob is lost
    response = deployment.admin.get(f"/v3/credentials/{made['id']}", headers=ADMIN, status=503)
    assert assert_keystone_error(response, 503)["message"] == \
        "Credential could not be decrypted. Please contact the administrator."
    assert manage.main(["--config-file", deployment.config, "credential_migrate"]) == 1


# -- the store functions the EC2 credentials API uses ----------------------------------------

def test_store_functions_give_a_users_decrypted_blobs_by_type(deployment, alice, bob):
    (alice_id, _), (bob_id, _) = alice, bob
    demo = project_id(deployment, "demo")
    keys = credential_keys.load(os.path.join(deployment.data_dir, "credential-keys"))

    def add(session):
        for owner, access in ((alice_id, "A1"), (alice_id, "A2"), (bob_id, "B1")):
            credentials.add(session, keys, credential_id=credentials.ec2_id(access),
                            user_id=owner, project_id=demo, credential_type="ec2",
                            blob=ec2_blob(access))
        credentials.add(session, keys, credential_id="c" * 32, user_id=alice_id,
                        project_id=None, credential_type="cert", blob="x")
    in_store(deployment, add)

    def alice_ec2(session):
        return [(row.id, json.loads(blob)["access"])
                for row, blob in credentials.of_user(session, keys, alice_id, "ec2")]
    assert sorted(in_store(deployment, alice_ec2)) == sorted(
        (credentials.ec2_id(access), access) for access in ("A1", "A2"))
    assert len(in_store(deployment, credentials.of_user, keys, alice_id)) == 3
    # What the store wrote, the API reads.
    shown = deployment.admin.get(f"/v3/credentials/{credentials.ec2_id('B1')}",
                                 headers=ADMIN).json["credential"]
    assert (shown["user_id"], json.loads(shown["blob"])["access"]) == (bob_id, "B1")
    with pytest.raises(errors.Conflict, match="Duplicate entry"):
        in_store(deployment, lambda session: credentials.add(
            session, keys, credential_id=credentials.ec2_id("A1"), user_id=alice_id,
            project_id=demo, credential_type="ec2", blob=ec2_blob("A1")))


def test_loading_keys_of_a_missing_repository_names_credential_setup(tmp_path):
    with pytest.raises(KeyRepositoryError, match="credential_setup"):
        credential_keys.load(str(tmp_path / "nothing"))
