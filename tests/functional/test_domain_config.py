"""Domain configurations (issue 11): ``/v3/domains/{id}/config[/{group}[/{option}]]`` and the
defaults, with the statuses, shapes and messages of Keystone 30's code (keystone/api/domains.py,
keystone/resource/core.py DomainConfigManager, keystone/exception.py): there are no recordings
of these calls, so the expected documents below are written from that code. Who may call them:
tests/security/test_policy_matrix.py."""
from __future__ import annotations

import sqlalchemy

from builders import add_user, assert_keystone_error, in_store, issue
from keystone_lite.db import models
from test_identity_parity import ADMIN, create

# What Tempest's test_domain_configuration sends, plus the LDAP password (sensitive).
CONFIG = {"identity": {"driver": "ldap"},
          "ldap": {"url": "ldap://myldap.com:389/", "user_tree_dn": "ou=Users,dc=example,dc=org"}}
SECRET = "ldap-bind-secret"


def new_domain(app) -> str:
    return create(app, "domains", "domain", name="configured")["id"]


def put_config(app, domain: str, config: dict, status: int = 201) -> dict:
    return app.put_json(f"/v3/domains/{domain}/config", {"config": config}, headers=ADMIN,
                        status=status).json


def forbidden_message(response) -> str:
    return assert_keystone_error(response, 403)["message"]


def test_whole_config_is_created_shown_replaced_and_deleted(deployment):
    app = deployment.admin
    domain = new_domain(app)
    url = f"/v3/domains/{domain}/config"
    with_secret = {"identity": CONFIG["identity"],
                   "ldap": {**CONFIG["ldap"], "password": SECRET}}

    created = app.put_json(url, {"config": with_secret}, headers=ADMIN, status=201)
    assert created.json == {"config": CONFIG}  # the password is stored, never shown
    assert app.get(url, headers=ADMIN).json == {"config": CONFIG}

    # A second PUT replaces the whole configuration and answers 200.
    replaced = put_config(app, domain, {"identity": {"driver": "sql", "list_limit": 5}},
                          status=200)
    assert replaced == {"config": {"identity": {"driver": "sql", "list_limit": 5}}}
    assert app.get(url, headers=ADMIN).json == replaced

    app.delete(url, headers=ADMIN, status=204)
    gone = app.get(url, headers=ADMIN, status=404)
    assert assert_keystone_error(gone, 404)["message"] == (
        f"Could not find any options in domain configuration for domain {domain}.")
    # Deleting no configuration is not an error, as in Keystone.
    app.delete(url, headers=ADMIN, status=204)


def test_groups_and_options_are_shown_one_by_one_but_never_a_sensitive_one(deployment):
    app = deployment.admin
    domain = new_domain(app)
    put_config(app, domain, {**CONFIG, "ldap": {**CONFIG["ldap"], "password": SECRET}})
    url = f"/v3/domains/{domain}/config"

    assert app.get(f"{url}/ldap", headers=ADMIN).json == {"config": {"ldap": CONFIG["ldap"]}}
    assert app.get(f"{url}/ldap/url", headers=ADMIN).json == {
        "config": {"url": "ldap://myldap.com:389/"}}
    hidden = app.get(f"{url}/ldap/password", headers=ADMIN, status=404)
    assert assert_keystone_error(hidden, 404)["message"] == (
        f"Could not find option password in group ldap in domain configuration for domain "
        f"{domain}.")
    assert SECRET not in hidden.text
    missing = app.get(f"{url}/identity/list_limit", headers=ADMIN, status=404)
    assert "option list_limit in group identity" in missing.json["error"]["message"]


def test_patch_merges_options_and_keeps_their_json_types(deployment):
    app = deployment.admin
    domain = new_domain(app)
    put_config(app, domain, CONFIG)
    url = f"/v3/domains/{domain}/config"

    merged = app.patch_json(url, {"config": {"ldap": {"url": "ldap://other/",
                                                      "page_size": 100}}}, headers=ADMIN)
    expected = {"identity": {"driver": "ldap"},
                "ldap": {**CONFIG["ldap"], "url": "ldap://other/", "page_size": 100}}
    assert merged.json == {"config": expected}

    # A group's PATCH answers the whole configuration; values keep their JSON types.
    by_group = app.patch_json(f"{url}/identity", {"config": {"identity": {
        "driver": "tempest-driver", "list_limit": 42}}}, headers=ADMIN)
    assert by_group.json["config"]["identity"] == {"driver": "tempest-driver",
                                                   "list_limit": 42}
    assert by_group.json["config"]["ldap"] == expected["ldap"]

    # An option's PATCH body names the option only.
    by_option = app.patch_json(f"{url}/identity/driver", {"config": {"driver": "sql"}},
                               headers=ADMIN)
    assert by_option.json["config"]["identity"] == {"driver": "sql", "list_limit": 42}
    assert app.get(f"{url}/identity/list_limit", headers=ADMIN).json == {
        "config": {"list_limit": 42}}


def test_partial_patches_touch_only_what_their_url_names_and_what_exists(deployment):
    app = deployment.admin
    domain = new_domain(app)
    put_config(app, domain, {"identity": {"driver": "ldap"}})
    url = f"/v3/domains/{domain}/config"

    other_group = app.patch_json(f"{url}/identity", {"config": {"ldap": {"url": "x"}}},
                                 headers=ADMIN, status=403)
    assert forbidden_message(other_group) == (
        "Invalid domain specific configuration: request to update group identity, but config "
        "provided contains group ldap instead.")
    two_groups = app.patch_json(f"{url}/identity", {"config": {
        "identity": {"driver": "x"}, "ldap": {"url": "x"}}}, headers=ADMIN, status=403)
    assert "Trying to update group identity, so that, and only that, group" in \
        forbidden_message(two_groups)
    other_option = app.patch_json(f"{url}/identity/driver", {"config": {"list_limit": 3}},
                                  headers=ADMIN, status=403)
    assert "but config provided contains option list_limit instead" in \
        forbidden_message(other_option)

    # PATCH updates: a group or option the domain has not configured is a 404.
    absent_group = app.patch_json(f"{url}/ldap", {"config": {"ldap": {"url": "x"}}},
                                  headers=ADMIN, status=404)
    assert assert_keystone_error(absent_group, 404)["message"] == (
        f"Could not find group ldap in domain configuration for domain {domain}.")
    app.patch_json(f"{url}/identity/list_limit", {"config": {"list_limit": 3}},
                   headers=ADMIN, status=404)
    assert app.get(url, headers=ADMIN).json == {"config": {"identity": {"driver": "ldap"}}}


def test_options_and_groups_are_deleted_one_by_one(deployment):
    app = deployment.admin
    domain = new_domain(app)
    put_config(app, domain, {**CONFIG, "identity": {"driver": "ldap", "list_limit": 10}})
    url = f"/v3/domains/{domain}/config"

    app.delete(f"{url}/identity/driver", headers=ADMIN, status=204)
    app.get(f"{url}/identity/driver", headers=ADMIN, status=404)
    assert app.get(f"{url}/identity", headers=ADMIN).json == {
        "config": {"identity": {"list_limit": 10}}}
    again = app.delete(f"{url}/identity/driver", headers=ADMIN, status=404)
    assert assert_keystone_error(again, 404)["message"] == (
        f"Could not find option driver in group identity in domain configuration for domain "
        f"{domain}.")

    app.delete(f"{url}/identity", headers=ADMIN, status=204)
    app.get(f"{url}/identity", headers=ADMIN, status=404)
    app.delete(f"{url}/identity", headers=ADMIN, status=404)
    assert app.get(url, headers=ADMIN).json == {"config": {"ldap": CONFIG["ldap"]}}


def test_only_the_groups_and_options_keystone_accepts_are_stored(deployment):
    app = deployment.admin
    domain = new_domain(app)
    url = f"/v3/domains/{domain}/config"
    refusals = {
        "No options specified": {},
        "Group token is not supported for domain specific configurations":
            {"token": {"provider": "uuid"}},
        "Option password_hash in group identity is not supported for domain specific "
        "configurations": {"identity": {"password_hash": "x"}},
        "The value of group ldap specified in the config should be a dictionary of options":
            {"ldap": "ldap://x"},
    }
    for reason, config in refusals.items():
        response = app.put_json(url, {"config": config}, headers=ADMIN, status=403)
        assert forbidden_message(response) == \
            f"Invalid domain specific configuration: {reason}."
    # A body without "config" is Keystone's "No options specified" too.
    assert "No options specified" in forbidden_message(
        app.put_json(url, {}, headers=ADMIN, status=403))
    assert_keystone_error(app.put_json(url, {"config": ["identity"]}, headers=ADMIN,
                                       status=400), 400)
    app.get(url, headers=ADMIN, status=404)  # nothing was stored

    assert "Group token is not supported" in forbidden_message(
        app.get(f"{url}/token", headers=ADMIN, status=403))
    assert "Option nope in group ldap is not supported" in forbidden_message(
        app.delete(f"{url}/ldap/nope", headers=ADMIN, status=403))
    app.put(f"{url}/identity", headers=ADMIN, status=405)


def test_unknown_domain_is_404_and_deleting_a_domain_deletes_its_config(deployment):
    app = deployment.admin
    missing = app.put_json("/v3/domains/nowhere/config", {"config": CONFIG}, headers=ADMIN,
                           status=404)
    assert assert_keystone_error(missing, 404)["message"] == "Could not find domain: nowhere."
    app.get("/v3/domains/nowhere/config/ldap", headers=ADMIN, status=404)

    domain = new_domain(app)
    put_config(app, domain, {**CONFIG, "ldap": {**CONFIG["ldap"], "password": SECRET}})
    app.patch_json(f"/v3/domains/{domain}", {"domain": {"enabled": False}}, headers=ADMIN)
    app.delete(f"/v3/domains/{domain}", headers=ADMIN, status=204)

    def stored(session):
        return session.scalar(sqlalchemy.select(sqlalchemy.func.count()).select_from(
            models.DomainConfigOption))
    assert in_store(deployment, stored) == 0


def test_defaults_are_keystone_lite_settings_and_keystone_defaults(deployment):
    app = deployment.admin
    config = app.get("/v3/domains/config/default", headers=ADMIN).json["config"]
    assert set(config) == {"identity", "ldap"}
    assert config["identity"] == {"driver": "sql", "list_limit": None}
    assert (config["ldap"]["url"], config["ldap"]["user_tree_dn"], config["ldap"]["pool_size"],
            config["ldap"]["user_attribute_ignore"]) == (
        "ldap://localhost", None, 10, ["default_project_id"])
    assert "password" not in config["ldap"]

    assert app.get("/v3/domains/config/ldap/default", headers=ADMIN).json == {
        "config": {"ldap": config["ldap"]}}
    for option, value in config["ldap"].items():
        assert app.get(f"/v3/domains/config/ldap/{option}/default", headers=ADMIN).json == {
            "config": {option: value}}
    sensitive = app.get("/v3/domains/config/ldap/password/default", headers=ADMIN, status=403)
    assert forbidden_message(sensitive) == ("Invalid domain specific configuration: Reading "
                                            "the default for option password in group ldap "
                                            "is not supported.")
    assert "Group token is not supported" in forbidden_message(
        app.get("/v3/domains/config/token/default", headers=ADMIN, status=403))
    # A group named "config": its default, not a domain named "config".
    assert "Group config is not supported" in forbidden_message(
        app.get("/v3/domains/config/config/default", headers=ADMIN, status=403))


def test_members_may_not_read_configs_but_anyone_reads_the_password_rules(deployment):
    app = deployment.admin
    domain = new_domain(app)
    put_config(app, domain, CONFIG)
    add_user(deployment, "config-member", "config-proj", "member")
    member = {"X-Auth-Token": issue(deployment.main, "config-member", "config-proj")}

    for url in (f"/v3/domains/{domain}/config", f"/v3/domains/{domain}/config/ldap/url",
                "/v3/domains/config/default"):
        assert_keystone_error(app.get(url, headers=member, status=403), 403)
    app.patch_json(f"/v3/domains/{domain}/config", {"config": CONFIG}, headers=member,
                   status=403)
    app.get(f"/v3/domains/{domain}/config", status=401)

    rules = app.get("/v3/domains/default/config/security_compliance", headers=member)
    assert rules.json == {"config": {"security_compliance": {
        "password_regex": None, "password_regex_description": None}}}
    assert app.get("/v3/domains/default/config/security_compliance/password_regex",
                   headers=member).json == {"config": {"password_regex": None}}
    other = app.get(f"/v3/domains/{domain}/config/security_compliance", headers=member,
                    status=403)
    assert "other than the default domain is not allowed" in forbidden_message(other)
    assert "other than password_regex and password_regex_description" in forbidden_message(
        app.get("/v3/domains/default/config/security_compliance/lockout_duration",
                headers=member, status=403))
