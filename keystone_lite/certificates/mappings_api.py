"""Keystone's mapping API on the admin app: ``/v3/OS-FEDERATION/mappings`` (list) and
``/v3/OS-FEDERATION/mappings/{id}`` (PUT creates, GET, PATCH replaces the rules, DELETE).

Shapes, statuses and policy rules are Keystone 30's (keystone/api/os_federation.py,
keystone/common/policies/mapping.py): ``{"mapping": {"id", "rules", "schema_version",
"links"}}``; PUT answers 201, a PUT of an existing id 409, a missing one 404 ``Could not find
mapping: <id>.``. The rules are checked by keystone_lite.certificates.mapping: a rule that
would fail a login is a 400 naming the place (``Invalid mapping: rules[0].remote[1]: ...``).
Deleting or changing the mapping that ``[cert_auth] mapping_id`` names takes effect on the next
certificate login, on every node (the table moves the change counter).
"""
from __future__ import annotations

import json

from keystone_lite import errors
from keystone_lite.certificates import mapping_store
from keystone_lite.db import models
from keystone_lite.identity import parsing
from keystone_lite.identity.admin import AdminController, ident, listing
from keystone_lite.router import json_response, no_content

PATH = "/OS-FEDERATION/mappings"


class MappingController(AdminController):
    def __init__(self, services):
        super().__init__(services, {})

    def routes(self):
        return [(PATH, {"GET": self.list}),
                (rf"{PATH}/{ident('mapping_id')}", {"GET": self.get, "PUT": self.create,
                                                    "PATCH": self.update,
                                                    "DELETE": self.delete})]

    def list(self, req, session):
        base = self.authorize(req, "identity:list_mappings")
        return listing(req, "mappings", PATH, [render(mapping, base) for mapping in
                                               mapping_store.list_mappings(session)])

    def get(self, req, session, mapping_id):
        base = self.authorize(req, "identity:get_mapping")
        return json_response({"mapping": render(_load(session, mapping_id), base)})

    def create(self, req, session, mapping_id):
        base = self.authorize(req, "identity:create_mapping")
        if not 0 < len(mapping_id) <= 64 or "\x00" in mapping_id:
            raise errors.ValidationError("A mapping id has 1 to 64 characters.")
        rules = _rules(req, None)
        if mapping_store.find_mapping(session, mapping_id=mapping_id) is not None:
            raise errors.Conflict("Conflict occurred attempting to store mapping - Duplicate "
                                  "entry.")
        mapping = models.Mapping(id=mapping_id, rules=mapping_store.dump_rules(rules),
                                 schema_version=rules.schema_version)
        session.add(mapping)
        session.flush()
        return json_response({"mapping": render(mapping, base)}, status=201)

    def update(self, req, session, mapping_id):
        base = self.authorize(req, "identity:update_mapping")
        mapping = _load(session, mapping_id)
        rules = _rules(req, mapping.schema_version)
        mapping.rules = mapping_store.dump_rules(rules)
        mapping.schema_version = rules.schema_version
        session.flush()
        return json_response({"mapping": render(mapping, base)})

    def delete(self, req, session, mapping_id):
        self.authorize(req, "identity:delete_mapping")
        session.delete(_load(session, mapping_id))
        session.flush()
        return no_content()


def render(mapping, base: str) -> dict:
    return {"id": mapping.id, "rules": json.loads(mapping.rules),
            "schema_version": mapping.schema_version,
            "links": {"self": f"{base}/v3{PATH}/{mapping.id}"}}


def _load(session, mapping_id: str):
    return parsing.load(session, models.Mapping, mapping_id, "mapping")


def _rules(req, schema_version: str | None):
    """The checked rules of the body's ``mapping`` (as Keystone, other attributes of it are
    ignored; ``schema_version`` defaults to the stored one, else 1.0); 400 otherwise."""
    from keystone_lite.certificates.mapping import parse_rules  # on first use: see mapping_store
    body = parsing.entity(req, "mapping")
    if "rules" not in body:
        raise errors.ValidationError("Invalid mapping: 'rules' is a required property.")
    document = {"rules": body["rules"]}
    version = body.get("schema_version") or schema_version
    if version is not None:
        document["schema_version"] = version
    try:
        return parse_rules(document)
    except ValueError as error:
        raise errors.ValidationError(f"Invalid mapping: {error}.") from None
