"""The resource declarations (keystone_lite.identity.resources) as plain data: their schemas,
the 400s they word, the policy rule names they derive."""
from __future__ import annotations

import jsonschema
import pytest

from keystone_lite import errors
from keystone_lite.identity.controller import RESOURCES, feature_resources
from keystone_lite.identity.projects import PROJECTS
from keystone_lite.identity.users import USERS


EVERY_RESOURCE = RESOURCES + feature_resources()


@pytest.mark.parametrize("resource", EVERY_RESOURCE, ids=[r.name for r in EVERY_RESOURCE])
def test_every_declaration_has_valid_json_schemas(resource):
    for schema in resource.schemas():
        jsonschema.Draft4Validator.check_schema(schema)


def refusal(resource, body: dict, creating: bool = True) -> str:
    with pytest.raises(errors.ValidationError) as raised:
        resource.validate(body, creating=creating)
    return raised.value.message


def test_a_long_name_is_refused_in_keystones_words():
    message = refusal(PROJECTS, {"name": "p" * 65})
    assert message == ("Invalid input for field/attribute name. Value: " + "p" * 65
                       + ". '" + "p" * 65 + "' is too long")


def test_a_refused_password_is_never_repeated():
    message = refusal(USERS, {"name": "bob", "password": "hunter2" * 1000})
    assert message == "Invalid input for field/attribute password."


def test_a_missing_required_attribute_is_named():
    assert refusal(USERS, {"description": "x"}) == "'name' is a required property"


def test_an_update_must_change_something_and_needs_no_name():
    USERS.validate({"enabled": False}, creating=False)
    refusal(USERS, {}, creating=False)


def test_undeclared_attributes_pass_and_are_the_extra_ones():
    body = {"name": "bob", "email": "bob@example.com", "id": "mine", "links": {}}
    USERS.validate(body, creating=True)
    assert USERS.extra_of(body) == {"email": "bob@example.com"}


def test_rule_names_are_keystones():
    assert [USERS.rule(action) for action in ("list", "get", "create", "update", "delete")] == [
        "identity:list_users", "identity:get_user", "identity:create_user",
        "identity:update_user", "identity:delete_user"]
