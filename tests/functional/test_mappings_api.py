"""Keystone's mapping API, ``/v3/OS-FEDERATION/mappings`` on the admin app: the shapes of Keystone
30's recording (../shared/keystone-golden-next/oauth2-mapping-put.json) and of its code
(keystone/api/os_federation.py), rules checked at the door. Who may call it:
tests/security/test_policy_matrix.py."""
from __future__ import annotations

import copy
import json
import os

from builders import GOLDEN_NEXT, add_user, admin_headers, assert_keystone_error, \
    assert_like_keystone, golden, issue

ADMIN = admin_headers()
MAPPINGS = "/v3/OS-FEDERATION/mappings"
RULES = [{"local": [{"user": {"name": "{0}"}}],
          "remote": [{"type": "SSL_CLIENT_SUBJECT_DN_UID"},
                     {"type": "SSL_CLIENT_ISSUER_DN_CN", "any_one_of": ["Corp CA"]}]}]


def golden_request(name: str) -> dict:
    """The request of a recording (``golden`` gives its response, or skips without it)."""
    with open(os.path.join(GOLDEN_NEXT, name), encoding="utf-8") as handle:
        return json.load(handle)["request"]


def test_put_of_keystones_oauth2_mapping_answers_as_keystone(deployment):
    _status, body, _headers = golden("oauth2-mapping-put.json")
    request = golden_request("oauth2-mapping-put.json")
    response = deployment.admin.put_json(request["path"], request["body"], headers=ADMIN,
                                         status=201)
    assert_like_keystone(response, "oauth2-mapping-put.json")
    expected = copy.deepcopy(body)
    expected["mapping"]["links"]["self"] = "http://localhost/v3/OS-FEDERATION/mappings/" \
                                           "oauth2_mapping"
    assert response.json == expected
    assert response.content_type == "application/json"


def test_mapping_crud_answers_as_keystone(deployment):
    app = deployment.admin
    created = app.put_json(f"{MAPPINGS}/certs", {"mapping": {"rules": RULES}}, headers=ADMIN,
                           status=201).json["mapping"]
    assert created == {"id": "certs", "rules": RULES, "schema_version": "1.0",
                       "links": {"self": f"http://localhost{MAPPINGS}/certs"}}
    assert app.get(f"{MAPPINGS}/certs", headers=ADMIN).json == {"mapping": created}
    app.head(f"{MAPPINGS}/certs", headers=ADMIN, status=200)

    listed = app.get(MAPPINGS, headers=ADMIN).json
    assert listed == {"mappings": [created], "links": {
        "self": f"http://localhost{MAPPINGS}", "previous": None, "next": None}}

    changed_rules = [{**RULES[0], "local": [{"user": {"name": "{0}", "type": "local"}}]}]
    updated = app.patch_json(f"{MAPPINGS}/certs", {"mapping": {
        "rules": changed_rules, "schema_version": "2.0"}}, headers=ADMIN).json["mapping"]
    assert updated == {**created, "rules": changed_rules, "schema_version": "2.0"}
    # A PATCH without schema_version keeps the stored one, as Keystone's update_mapping.
    assert app.patch_json(f"{MAPPINGS}/certs", {"mapping": {"rules": RULES}},
                          headers=ADMIN).json["mapping"]["schema_version"] == "2.0"

    again = app.put_json(f"{MAPPINGS}/certs", {"mapping": {"rules": RULES}}, headers=ADMIN,
                         status=409)
    assert assert_keystone_error(again, 409)["message"] == \
        "Conflict occurred attempting to store mapping - Duplicate entry."

    app.delete(f"{MAPPINGS}/certs", headers=ADMIN, status=204)
    gone = app.get(f"{MAPPINGS}/certs", headers=ADMIN, status=404)
    assert assert_keystone_error(gone, 404)["message"] == "Could not find mapping: certs."
    app.delete(f"{MAPPINGS}/certs", headers=ADMIN, status=404)
    assert_keystone_error(app.patch_json(f"{MAPPINGS}/certs", {"mapping": {"rules": RULES}},
                                         headers=ADMIN, status=404), 404)
    assert app.get(MAPPINGS, headers=ADMIN).json["mappings"] == []


def test_rules_that_cannot_work_are_a_400_naming_the_place_and_nothing_is_stored(deployment):
    app = deployment.admin
    bad = [{"local": [{"user": {"name": "{1}"}}], "remote": [{"type": "X"}]}]
    for body, message in (
            ({"mapping": {"rules": bad}}, "Invalid mapping: rules[0].local[0].user.name: {1} "
                                          "refers to no remote"),
            ({"mapping": {}}, "Invalid mapping: 'rules' is a required property."),
            ({"mapping": {"rules": RULES, "schema_version": "4.0"}},
             "Invalid mapping: schema_version: '4.0' is not one of"),
            ({"mapping": {"rules": [{"local": [], "remote": [
                {"type": "X", "any_one_of": ["a"], "not_any_of": ["b"]}]}]}},
             "Invalid mapping: rules[0].remote[0]: give one of any_one_of, not_any_of"),
            ({"rules": RULES}, "Expecting to find mapping in request body.")):
        error = assert_keystone_error(app.put_json(f"{MAPPINGS}/m", body, headers=ADMIN,
                                                   status=400), 400)
        assert error["message"].startswith(message), error["message"]
        assert "\n" not in error["message"]
    assert app.get(MAPPINGS, headers=ADMIN).json["mappings"] == []
    app.put_json(f"{MAPPINGS}/m", {"mapping": {"rules": RULES}}, headers=ADMIN, status=201)
    assert_keystone_error(app.patch_json(f"{MAPPINGS}/m", {"mapping": {"rules": bad}},
                                         headers=ADMIN, status=400), 400)
    assert app.get(f"{MAPPINGS}/m", headers=ADMIN).json["mapping"]["rules"] == RULES
    long_id = "x" * 65
    assert_keystone_error(app.put_json(f"{MAPPINGS}/{long_id}", {"mapping": {"rules": RULES}},
                                       headers=ADMIN, status=400), 400)


def test_mappings_are_for_administrators_only(deployment):
    add_user(deployment, "carol", "demo")
    token = {"X-Auth-Token": issue(deployment.main, "carol", "demo")}
    app = deployment.admin
    assert_keystone_error(app.put_json(f"{MAPPINGS}/m", {"mapping": {"rules": RULES}},
                                       headers=token, status=403), 403)
    assert_keystone_error(app.get(MAPPINGS, headers=token, status=403), 403)
    assert_keystone_error(app.get(MAPPINGS, status=401), 401)
    # Administration is on the admin app only, as the rest of the identity API.
    deployment.main.get(MAPPINGS, headers=ADMIN, status=404)
