"""The admin identity API (``/v3`` of the admin app): every declared resource, served by the
generic controller (keystone_lite.identity.resources), plus grants and role assignments
(assignment_controller), which are not a CRUD shape.

Where each resource is: users.py, groups.py, projects.py, domains.py (with domain_config.py),
roles.py (with implied_roles.py), catalog.py (services, endpoints, regions), endpoint_groups.py
(OS-EP-FILTER), limits.py (registered limits and limits), policy_blobs.py (Keystone's policy
API, ``/v3/policies``); OAuth1 consumers in keystone_lite/oauth1/consumers.py; certificate
revocations in keystone_lite/certificates/revocations.py; federation mappings
(``/v3/OS-FEDERATION/mappings``, the rules of certificate logins) in
keystone_lite/certificates/mappings_api.py.
"""
from __future__ import annotations

from keystone_lite.certificates.mappings_api import MappingController
from keystone_lite.certificates.revocations import CERTIFICATE_REVOCATIONS
from keystone_lite.identity import (catalog, domains, endpoint_groups, groups, limits,
                                    policy_blobs, projects, roles, users)
from keystone_lite.identity.admin import AdminController
from keystone_lite.identity.assignment_controller import AssignmentController
from keystone_lite.identity.implied_roles import ImpliedRoleController
from keystone_lite.identity.resources import ResourceController
from keystone_lite.oauth1.consumers import CONSUMERS

RESOURCES = (users.USERS, groups.GROUPS, projects.PROJECTS, roles.ROLES, domains.DOMAINS,
             catalog.SERVICES, catalog.ENDPOINTS, catalog.REGIONS,
             endpoint_groups.ENDPOINT_GROUPS, limits.REGISTERED_LIMITS, limits.LIMITS,
             policy_blobs.POLICY_BLOBS, CONSUMERS, CERTIFICATE_REVOCATIONS)


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
