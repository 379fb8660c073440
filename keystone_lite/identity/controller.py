"""The admin identity API (``/v3`` of the admin app): every declared resource, served by the
generic controller (keystone_lite.identity.resources), plus grants and role assignments
(assignment_controller), which are not a CRUD shape.

Where each resource is: users.py, groups.py, projects.py, domains.py (with domain_config.py),
roles.py (with implied_roles.py), catalog.py (services, endpoints, regions), endpoint_groups.py
(OS-EP-FILTER), limits.py (registered limits and limits), policy_blobs.py (Keystone's policy
API, ``/v3/policies``); OAuth1 consumers in keystone_lite/oauth1/consumers.py; certificate
revocations in keystone_lite/certificates/revocations.py; federation mappings
(``/v3/OS-FEDERATION/mappings``, the rules of certificate logins) in
keystone_lite/certificates/mappings_api.py. Limits, policies and OAuth1 consumers are rarely
used: their modules (and tables) are loaded by their first request (``feature_routes``,
keystone_lite.router).
"""
from __future__ import annotations

from keystone_lite.certificates.mappings_api import MappingController
from keystone_lite.certificates.revocations import CERTIFICATE_REVOCATIONS
from keystone_lite.identity import (catalog, domains, endpoint_groups, groups, projects, roles,
                                    users)
from keystone_lite.identity.admin import AdminController
from keystone_lite.identity.assignment_controller import AssignmentController
from keystone_lite.identity.implied_roles import ImpliedRoleController
from keystone_lite.identity.resources import ResourceController

RESOURCES = (users.USERS, groups.GROUPS, projects.PROJECTS, roles.ROLES, domains.DOMAINS,
             catalog.SERVICES, catalog.ENDPOINTS, catalog.REGIONS,
             endpoint_groups.ENDPOINT_GROUPS, CERTIFICATE_REVOCATIONS)


def feature_resources() -> tuple:
    """The declarations of the rarely used resources (importing them maps their tables)."""
    from keystone_lite.identity import limits, policy_blobs
    from keystone_lite.oauth1.consumers import CONSUMERS
    return limits.REGISTERED_LIMITS, limits.LIMITS, policy_blobs.POLICY_BLOBS, CONSUMERS


class IdentityController(AdminController):
    def __init__(self, services):
        super().__init__(services, {resource.name: resource for resource in RESOURCES})

    def routes(self):
        routes = []
        for resource in RESOURCES:
            routes += ResourceController(self.services, self.resources, resource).routes()
        return (routes + AssignmentController(self.services, self.resources).routes()
                + ImpliedRoleController(self.services, self.resources).routes()
                + MappingController(self.services).routes())

    def feature_routes(self):
        """The routes of ``feature_resources``, for the router to build on first use."""
        features = feature_resources()
        resources = {**self.resources, **{resource.name: resource for resource in features}}
        routes = []
        for resource in features:
            routes += ResourceController(self.services, resources, resource).routes()
        return routes
