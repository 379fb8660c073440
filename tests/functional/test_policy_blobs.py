"""Keystone's (deprecated) policy API, ``/v3/policies`` (issue 11): blobs stored and served with
the statuses and shapes of Keystone 30's code (keystone/api/policy.py, keystone/policy/schema.py,
keystone/policy/backends/sql.py, keystone/policy/core.py): there are no recordings of these
calls, so the expected documents are written from that code. Who may call them:
tests/security/test_policy_matrix.py."""
from __future__ import annotations

from builders import add_user, assert_keystone_error, issue
from test_identity_parity import ADMIN, create

BLOB = '{"default": ""}'


def test_policy_crud_answers_as_keystone(deployment):
    app = deployment.admin
    created = app.post_json("/v3/policies", {"policy": {
        "type": "application/json", "blob": BLOB, "id": "chosen", "owner": "ops"}},
        headers=ADMIN, status=201).json["policy"]
    policy_id = created["id"]
    # Keystone assigns the id, keeps extra attributes at the top level, and links the policy.
    assert policy_id != "chosen"
    assert created == {"id": policy_id, "type": "application/json", "blob": BLOB,
                       "owner": "ops",
                       "links": {"self": f"http://localhost/v3/policies/{policy_id}"}}
    assert app.get(f"/v3/policies/{policy_id}", headers=ADMIN).json == {"policy": created}

    updated = app.patch_json(f"/v3/policies/{policy_id}", {"policy": {
        "type": "text/plain", "note": "changed"}}, headers=ADMIN).json["policy"]
    assert updated == {**created, "type": "text/plain", "note": "changed"}
    assert app.get(f"/v3/policies/{policy_id}", headers=ADMIN).json == {"policy": updated}

    app.delete(f"/v3/policies/{policy_id}", headers=ADMIN, status=204)
    gone = app.get(f"/v3/policies/{policy_id}", headers=ADMIN, status=404)
    assert assert_keystone_error(gone, 404)["message"] == f"Could not find policy: {policy_id}."
    app.delete(f"/v3/policies/{policy_id}", headers=ADMIN, status=404)


def test_policies_are_listed_and_filtered_by_type(deployment):
    app = deployment.admin
    json_one = create(app, "policies", "policy", type="application/json", blob=BLOB)
    json_two = create(app, "policies", "policy", type="application/json", blob="{}")
    text = create(app, "policies", "policy", type="text/plain", blob="anything")

    listed = app.get("/v3/policies", headers=ADMIN).json
    assert {policy["id"] for policy in listed["policies"]} == {
        json_one["id"], json_two["id"], text["id"]}
    assert listed["links"]["self"] == "http://localhost/v3/policies"
    by_type = app.get("/v3/policies?type=application/json", headers=ADMIN).json["policies"]
    assert sorted(policy["id"] for policy in by_type) == sorted([json_one["id"],
                                                                 json_two["id"]])
    assert app.get("/v3/policies?type=none", headers=ADMIN).json["policies"] == []


def test_bodies_are_checked_with_keystones_schema(deployment):
    app = deployment.admin
    for body in ({"type": "application/json"}, {"blob": BLOB},
                 {"type": "x" * 256, "blob": BLOB}, {"type": "t", "blob": {"not": "a string"}}):
        assert_keystone_error(app.post_json("/v3/policies", {"policy": body}, headers=ADMIN,
                                            status=400), 400)
    policy = create(app, "policies", "policy", type="t", blob=BLOB)
    url = f"/v3/policies/{policy['id']}"
    assert_keystone_error(app.patch_json(url, {"policy": {}}, headers=ADMIN, status=400), 400)
    changed_id = app.patch_json(url, {"policy": {"id": "another"}}, headers=ADMIN, status=400)
    assert assert_keystone_error(changed_id, 400)["message"] == "Cannot change policy ID"
    # Repeating the id is no change.
    app.patch_json(url, {"policy": {"id": policy["id"], "blob": "new"}}, headers=ADMIN)
    assert app.get(url, headers=ADMIN).json["policy"]["blob"] == "new"


def test_members_may_not_read_or_write_policies(deployment):
    app = deployment.admin
    policy = create(app, "policies", "policy", type="t", blob=BLOB)
    add_user(deployment, "policy-member", "policy-proj", "member")
    member = {"X-Auth-Token": issue(deployment.main, "policy-member", "policy-proj")}
    app.get("/v3/policies", headers=member, status=403)
    app.get(f"/v3/policies/{policy['id']}", headers=member, status=403)
    app.post_json("/v3/policies", {"policy": {"type": "t", "blob": BLOB}}, headers=member,
                  status=403)
    app.delete(f"/v3/policies/{policy['id']}", headers=member, status=403)
    # Served on the admin app only, as the rest of the administration.
    deployment.main.get("/v3/policies", headers=ADMIN, status=404)
