"""Implied roles: ``/v3/roles/{prior}/implies[/{implied}]`` and ``/v3/role_inferences``.

A rule ``prior ⇒ implied`` makes every holder of ``prior`` hold ``implied`` too, transitively;
tokens and ``?effective`` role assignments carry the implied roles (store.expand_implied).
Keystone's checks on a new rule: the implied role's name must not be in ``[assignment]
prohibited_implied_role`` (default ``admin``), and a global role cannot imply a
domain-specific one (both 403). keystone_lite also refuses a rule that would close a cycle
(Keystone stores it and stops expanding where it loops): a cycle makes every role in it
equivalent, which is never what the operator meant.
"""
from __future__ import annotations

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity import parsing, store
from keystone_lite.identity.admin import AdminController, ident
from keystone_lite.router import json_response, no_content

PROHIBITED_IMPLIED_ROLES = frozenset({"admin"})  # Keystone's [assignment] default


class ImpliedRoleController(AdminController):
    def routes(self):
        implies = rf"/roles/{ident('prior_role_id')}/implies"
        return [
            (implies, {"GET": self.list_implied}),
            (rf"{implies}/{ident('implied_role_id')}", {
                "PUT": self.create, "GET": self.get, "HEAD": self.check,
                "DELETE": self.delete}),
            (r"/role_inferences", {"GET": self.list_inferences}),
        ]

    # PUT /roles/{prior}/implies/{implied}: 201, idempotent
    def create(self, req, session, prior_role_id, implied_role_id):
        base, (prior, implied) = self._roles(req, session, "identity:create_implied_role",
                                             prior_role_id, implied_role_id)
        if implied.name in PROHIBITED_IMPLIED_ROLES or (
                prior.domain_id is None and implied.domain_id is not None):
            raise errors.Forbidden(f"{implied.id} cannot be an implied roles.")
        if prior.id == implied.id or any(role.id == prior.id for role, _ in store.inferences(
                session, [implied])):
            raise errors.Forbidden(f"{implied.id} cannot be an implied roles: {prior.id} "
                                   "would imply itself.")
        store.imply(session, prior.id, implied.id)
        return json_response(_inference(base, prior, implied), status=201)

    # GET /roles/{prior}/implies/{implied}
    def get(self, req, session, prior_role_id, implied_role_id):
        base, prior, implied = self._rule(req, session, "identity:get_implied_role",
                                          prior_role_id, implied_role_id)
        return json_response(_inference(base, prior, implied))

    # HEAD /roles/{prior}/implies/{implied}: 204
    def check(self, req, session, prior_role_id, implied_role_id):
        self._rule(req, session, "identity:check_implied_role", prior_role_id, implied_role_id)
        return no_content()

    # DELETE /roles/{prior}/implies/{implied}: 204; existing tokens lose the implied role at
    # their next validation (the delete moves the change counter)
    def delete(self, req, session, prior_role_id, implied_role_id):
        self._rule(req, session, "identity:delete_implied_role", prior_role_id,
                   implied_role_id)
        session.delete(session.get(models.ImpliedRole, (prior_role_id, implied_role_id)))
        session.flush()
        return no_content()

    # GET /roles/{prior}/implies: the rules of one prior role, direct ones only (as Keystone)
    def list_implied(self, req, session, prior_role_id):
        base, (prior,) = self._roles(req, session, "identity:list_implied_roles", prior_role_id)
        return json_response({
            "role_inference": {"prior_role": _ref(base, prior),
                               "implies": [_ref(base, role)
                                           for role in store.implies(session, prior.id)]},
            "links": {"self": f"{base}/v3/roles/{prior.id}/implies"}})

    # GET /role_inferences: every rule, grouped by prior role
    def list_inferences(self, req, session):
        base = self.authorize(req, "identity:list_role_inference_rules")
        grouped: dict[str, dict] = {}
        for prior, implied in store.all_implications(session):
            grouped.setdefault(prior.id, {"prior_role": _ref(base, prior), "implies": []})[
                "implies"].append(_ref(base, implied))
        return json_response({"role_inferences": list(grouped.values())})  # no links: as Keystone

    def _rule(self, req, session, rule, prior_role_id, implied_role_id):
        """(base, prior, implied) once ``rule`` allows the call; 404 without the rule."""
        base, (prior, implied) = self._roles(req, session, rule, prior_role_id,
                                             implied_role_id)
        if session.get(models.ImpliedRole, (prior.id, implied.id)) is None:
            raise errors.NotFound(f"{prior.id} does not imply {implied.id}.")
        return base, prior, implied

    def _roles(self, req, session, rule, *role_ids):
        """(base, roles) once ``rule`` allows the call (the rules look at no attribute, so the
        check comes first: nothing is learnt of ids); 404 for a role that does not exist."""
        base = self.authorize(req, rule)
        return base, [parsing.load(session, models.Role, role_id, "role")
                      for role_id in role_ids]


def _ref(base: str, role) -> dict:
    return {"id": role.id, "name": role.name, "links": {"self": f"{base}/v3/roles/{role.id}"}}


def _inference(base: str, prior, implied) -> dict:
    return {"role_inference": {"prior_role": _ref(base, prior), "implies": _ref(base, implied)},
            "links": {"self": f"{base}/v3/roles/{prior.id}/implies/{implied.id}"}}
