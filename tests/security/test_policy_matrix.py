"""Persona × scope × endpoint: every admin API call, the trust calls and the token calls, in both
policy modes.

The expected answers are written from Keystone's published policy defaults
(keystone/common/policies/*.py with the domain manager persona), not from keystone_lite's
rules: ``Y`` means the call is allowed (its ordinary success status), ``-`` means 403.
Off (``[oslo_policy] enforce_scope = false``): ``rule:admin_required`` is ``role:admin`` on any
scope, as Keystone ships it. On: it is ``admin`` on the system or on the admin project only.

Columns (personas, tests/security/policy_world.py): SA system admin, SR system reader, AP admin
on the admin project, DA/DM/DR admin/manager/reader on the domain ``other``, PA/PM admin/member
on its project ``op``, SV the service role, ME manager on the default domain. Targets are in
``other``; the token calls' subject is a token of a user none of them is.

The off rows are Keystone's defaults as shipped. The on rows are the same check strings with
``admin_required`` narrowed; they differ from Keystone under ``enforce_scope = true`` on purpose
(keystone_lite/policy.py): DA and PA are not cloud admins (Keystone: ``role:admin`` anywhere
is), and AP is one even where Keystone's ``scope_types`` leave project tokens out (list_projects,
create_project, grants, ...).
"""
from __future__ import annotations

import json
import re

import pytest

import aws_clients
import policy_world
from builders import in_store, post_token
from keystone_lite import policy
from keystone_lite.db import models
from keystone_lite.ec2 import credentials as ec2_credentials
from keystone_lite.identity import credentials, store
from keystone_lite.identity.controller import IdentityController
from keystone_lite.token import introspection

COLUMNS = "SA SR AP DA DM DR PA PM SV ME".split()
PERSONA_OF = dict(zip(COLUMNS, policy_world.PERSONAS))
ADMIN = policy_world.ADMIN

# Rows shared by several calls.
ANY_ADMIN_OR_DOMAIN_READERS = ("YYYYYYY--Y", "YYYYYY---Y")  # lists a domain token may filter
USER_READERS = ("YYYYYYY---", "YYYYYY----")
DOMAIN_MANAGERS = ("Y-YYY-Y---", "Y-YYY-----")
PROJECT_READERS = ("YYYYYYYY--", "YYYYYYYY--")
ROLE_READERS = ("YYYYY-Y--Y", "YYYYY----Y")
CLOUD_ADMIN = ("Y-YY--Y---", "Y-Y-------")
CLOUD_READERS = ("YYYY--Y---", "YYY-------")
ANYONE = ("YYYYYYYYYY", "YYYYYYYYYY")
VALIDATE = ("YYYY--Y-Y-", "YYY-----Y-")
SERVICE_OR_ADMIN = ("Y-YY--Y-Y-", "Y-Y-----Y-")
# Keystone's project_tag.py: admin of the system, of the project's domain or of the project.
TAG_ADMINS = ("Y-YY--Y---", "Y-YY--Y---")
# Keystone's trust.py on a trust none of the personas is party to (the victim's): system
# readers read it, a system admin deletes it, and only its trustor could have made it. The same
# rows are Keystone's access_rule.py (the system's reader or admin, or the user); only the user
# itself (never a persona here) creates an application credential.
SYSTEM_READERS = ("YY--------", "YY--------")
SYSTEM_ADMIN = ("Y---------", "Y---------")
NOBODY = ("----------", "----------")
TRUSTS = "/v3/OS-TRUST/trusts"

EP = "/v3/OS-EP-FILTER"
# No {placeholder} in them: the call templates are filled with str.format.
MAPPING_RULES = [{"local": [{"user": {"name": "nobody"}}],
                  "remote": [{"type": "SSL_CLIENT_SUBJECT_DN_CN"}]}]

# (rule, app, method, path, body, success status, (off row, on row)); {names} are filled in
# from the world, {fresh_*} with an object made for the call, {subject} with a new token.
CALLS = [
    ("list_users", "admin", "GET", "/v3/users", None, 200, ANY_ADMIN_OR_DOMAIN_READERS),
    ("get_user", "admin", "GET", "/v3/users/{victim}", None, 200, USER_READERS),
    ("create_user", "admin", "POST", "/v3/users",
     {"user": {"name": "{persona}", "domain_id": "{domain}"}}, 201, DOMAIN_MANAGERS),
    ("update_user", "admin", "PATCH", "/v3/users/{victim}",
     {"user": {"description": "changed"}}, 200, DOMAIN_MANAGERS),
    ("delete_user", "admin", "DELETE", "/v3/users/{fresh_user}", None, 204, DOMAIN_MANAGERS),
    ("list_user_projects", "admin", "GET", "/v3/users/{victim}/projects", None, 200,
     USER_READERS),
    ("list_groups", "admin", "GET", "/v3/groups", None, 200, ANY_ADMIN_OR_DOMAIN_READERS),
    ("get_group", "admin", "GET", "/v3/groups/{group}", None, 200, USER_READERS),
    ("create_group", "admin", "POST", "/v3/groups",
     {"group": {"name": "{persona}", "domain_id": "{domain}"}}, 201, DOMAIN_MANAGERS),
    ("update_group", "admin", "PATCH", "/v3/groups/{group}",
     {"group": {"description": "changed"}}, 200, DOMAIN_MANAGERS),
    ("delete_group", "admin", "DELETE", "/v3/groups/{fresh_group}", None, 204, DOMAIN_MANAGERS),
    ("list_users_in_group", "admin", "GET", "/v3/groups/{group}/users", None, 200,
     USER_READERS),
    ("list_groups_for_user", "admin", "GET", "/v3/users/{victim}/groups", None, 200,
     USER_READERS),
    ("check_user_in_group", "admin", "GET", "/v3/groups/{group}/users/{fresh_membership}",
     None, 204, USER_READERS),
    ("add_user_to_group", "admin", "PUT", "/v3/groups/{group}/users/{victim}", None, 204,
     DOMAIN_MANAGERS),
    ("remove_user_from_group", "admin", "DELETE",
     "/v3/groups/{group}/users/{fresh_membership}", None, 204, DOMAIN_MANAGERS),
    ("list_projects", "admin", "GET", "/v3/projects", None, 200, ANY_ADMIN_OR_DOMAIN_READERS),
    ("get_project", "admin", "GET", "/v3/projects/{project}", None, 200, PROJECT_READERS),
    ("create_project", "admin", "POST", "/v3/projects",
     {"project": {"name": "{persona}", "domain_id": "{domain}"}}, 201, DOMAIN_MANAGERS),
    ("update_project", "admin", "PATCH", "/v3/projects/{project}",
     {"project": {"description": "changed"}}, 200, DOMAIN_MANAGERS),
    ("delete_project", "admin", "DELETE", "/v3/projects/{fresh_project}", None, 204,
     DOMAIN_MANAGERS),
    ("list_project_tags", "admin", "GET", "/v3/projects/{project}/tags", None, 200,
     PROJECT_READERS),
    ("get_project_tag", "admin", "GET", "/v3/projects/{project}/tags/{fresh_tag}", None, 204,
     PROJECT_READERS),
    ("get_project_tag", "admin", "HEAD", "/v3/projects/{project}/tags/{fresh_tag}", None, 204,
     PROJECT_READERS),
    ("update_project_tags", "admin", "PUT", "/v3/projects/{project}/tags",
     {"tags": ["{persona}"]}, 200, TAG_ADMINS),
    ("create_project_tag", "admin", "PUT", "/v3/projects/{project}/tags/{persona}", None, 201,
     TAG_ADMINS),
    ("delete_project_tag", "admin", "DELETE", "/v3/projects/{project}/tags/{fresh_tag}", None,
     204, TAG_ADMINS),
    ("delete_project_tags", "admin", "DELETE", "/v3/projects/{project}/tags", None, 204,
     TAG_ADMINS),
    ("list_roles", "admin", "GET", "/v3/roles", None, 200, ROLE_READERS),
    ("get_role", "admin", "GET", "/v3/roles/{member}", None, 200, ROLE_READERS),
    ("create_role", "admin", "POST", "/v3/roles", {"role": {"name": "{persona}"}}, 201,
     CLOUD_ADMIN),
    ("update_role", "admin", "PATCH", "/v3/roles/{fresh_role}",
     {"role": {"description": "changed"}}, 200, CLOUD_ADMIN),
    ("delete_role", "admin", "DELETE", "/v3/roles/{fresh_role}", None, 204, CLOUD_ADMIN),
    # Domain-specific roles: Keystone's rules for them are admin_required or system reader.
    ("list_domain_roles", "admin", "GET", "/v3/roles?domain_id={domain}", None, 200,
     CLOUD_READERS),
    ("get_domain_role", "admin", "GET", "/v3/roles/{fresh_domain_role}", None, 200,
     CLOUD_READERS),
    ("create_domain_role", "admin", "POST", "/v3/roles",
     {"role": {"name": "{persona}", "domain_id": "{domain}"}}, 201, CLOUD_ADMIN),
    ("update_domain_role", "admin", "PATCH", "/v3/roles/{fresh_domain_role}",
     {"role": {"description": "changed"}}, 200, CLOUD_ADMIN),
    ("delete_domain_role", "admin", "DELETE", "/v3/roles/{fresh_domain_role}", None, 204,
     CLOUD_ADMIN),
    # Implied roles (keystone/common/policies/implied_role.py).
    ("list_implied_roles", "admin", "GET", "/v3/roles/{member}/implies", None, 200,
     CLOUD_READERS),
    ("get_implied_role", "admin", "GET", "/v3/roles/{member}/implies/{reader}", None, 200,
     CLOUD_READERS),
    ("check_implied_role", "admin", "HEAD", "/v3/roles/{member}/implies/{reader}", None, 204,
     CLOUD_READERS),
    ("create_implied_role", "admin", "PUT", "/v3/roles/{fresh_role}/implies/{member}", None,
     201, CLOUD_ADMIN),
    ("delete_implied_role", "admin", "DELETE", "/v3/roles/{fresh_rule}/implies/{member}", None,
     204, CLOUD_ADMIN),
    ("list_role_inference_rules", "admin", "GET", "/v3/role_inferences", None, 200,
     CLOUD_READERS),
    ("list_domains", "admin", "GET", "/v3/domains", None, 200, ROLE_READERS),
    ("get_domain", "admin", "GET", "/v3/domains/{domain}", None, 200, PROJECT_READERS),
    ("create_domain", "admin", "POST", "/v3/domains", {"domain": {"name": "{persona}"}}, 201,
     CLOUD_ADMIN),
    ("update_domain", "admin", "PATCH", "/v3/domains/{fresh_domain}",
     {"domain": {"description": "changed"}}, 200, CLOUD_ADMIN),
    ("delete_domain", "admin", "DELETE", "/v3/domains/{fresh_domain}", None, 204, CLOUD_ADMIN),
    # Domain configurations ({configured_domain}: the world's domain, configured again before
    # each call); the password rules are the default domain's, open to any token.
    ("create_domain_config", "admin", "PUT", "/v3/domains/{configured_domain}/config",
     {"config": {"identity": {"driver": "{persona}"}}}, 200, CLOUD_ADMIN),
    ("get_domain_config", "admin", "GET", "/v3/domains/{configured_domain}/config", None, 200,
     CLOUD_READERS),
    ("get_domain_config", "admin", "GET", "/v3/domains/{configured_domain}/config/ldap", None,
     200, CLOUD_READERS),
    ("get_domain_config", "admin", "GET", "/v3/domains/{configured_domain}/config/ldap/url",
     None, 200, CLOUD_READERS),
    ("update_domain_config", "admin", "PATCH", "/v3/domains/{configured_domain}/config",
     {"config": {"ldap": {"url": "ldap://{persona}"}}}, 200, CLOUD_ADMIN),
    ("update_domain_config", "admin", "PATCH", "/v3/domains/{configured_domain}/config/ldap",
     {"config": {"ldap": {"url": "ldap://{persona}"}}}, 200, CLOUD_ADMIN),
    ("update_domain_config", "admin", "PATCH",
     "/v3/domains/{configured_domain}/config/ldap/url", {"config": {"url": "ldap://{persona}"}},
     200, CLOUD_ADMIN),
    ("delete_domain_config", "admin", "DELETE", "/v3/domains/{configured_domain}/config", None,
     204, CLOUD_ADMIN),
    ("delete_domain_config", "admin", "DELETE", "/v3/domains/{configured_domain}/config/ldap",
     None, 204, CLOUD_ADMIN),
    ("delete_domain_config", "admin", "DELETE",
     "/v3/domains/{configured_domain}/config/ldap/url", None, 204, CLOUD_ADMIN),
    ("get_domain_config_default", "admin", "GET", "/v3/domains/config/default", None, 200,
     CLOUD_READERS),
    ("get_domain_config_default", "admin", "GET", "/v3/domains/config/ldap/default", None, 200,
     CLOUD_READERS),
    ("get_domain_config_default", "admin", "GET", "/v3/domains/config/ldap/url/default", None,
     200, CLOUD_READERS),
    ("get_security_compliance_domain_config", "admin", "GET",
     "/v3/domains/default/config/security_compliance", None, 200, ANYONE),
    ("get_security_compliance_domain_config", "admin", "GET",
     "/v3/domains/default/config/security_compliance/password_regex", None, 200, ANYONE),
    ("list_grants", "admin", "GET", "/v3/projects/{project}/users/{victim}/roles", None, 200,
     USER_READERS),
    ("check_grant", "admin", "GET", "/v3/projects/{project}/users/{victim}/roles/{member}",
     None, 204, USER_READERS),
    ("create_grant", "admin", "PUT", "/v3/projects/{project}/users/{victim}/roles/{member}",
     None, 204, DOMAIN_MANAGERS),
    ("revoke_grant", "admin", "DELETE",
     "/v3/projects/{project}/users/{victim}/roles/{fresh_reader_grant}", None, 204,
     DOMAIN_MANAGERS),
    ("list_grants", "admin", "GET", "/v3/domains/{domain}/users/{victim}/roles", None, 200,
     USER_READERS),
    ("check_grant", "admin", "GET", "/v3/domains/{domain}/users/{victim}/roles/{member}", None,
     204, USER_READERS),
    ("create_grant", "admin", "PUT", "/v3/domains/{domain}/users/{victim}/roles/{member}", None,
     204, DOMAIN_MANAGERS),
    ("revoke_grant", "admin", "DELETE",
     "/v3/domains/{domain}/users/{victim}/roles/{fresh_reader_grant}", None, 204,
     DOMAIN_MANAGERS),
    ("list_system_grants_for_user", "admin", "GET", "/v3/system/users/{victim}/roles", None,
     200, CLOUD_READERS),
    ("check_system_grant_for_user", "admin", "GET",
     "/v3/system/users/{victim}/roles/{fresh_reader_grant}", None, 204, CLOUD_READERS),
    ("create_system_grant_for_user", "admin", "PUT",
     "/v3/system/users/{victim}/roles/{admin}", None, 204, CLOUD_ADMIN),
    ("revoke_system_grant_for_user", "admin", "DELETE",
     "/v3/system/users/{victim}/roles/{fresh_reader_grant}", None, 204, CLOUD_ADMIN),
    ("list_grants", "admin", "GET", "/v3/projects/{project}/groups/{group}/roles", None, 200,
     USER_READERS),
    ("check_grant", "admin", "GET",
     "/v3/domains/{domain}/groups/{group}/roles/{fresh_group_reader_grant}", None, 204,
     USER_READERS),
    ("create_grant", "admin", "PUT", "/v3/projects/{project}/groups/{group}/roles/{member}",
     None, 204, DOMAIN_MANAGERS),
    ("revoke_grant", "admin", "DELETE",
     "/v3/projects/{project}/groups/{group}/roles/{fresh_group_reader_grant}", None, 204,
     DOMAIN_MANAGERS),
    # Inherited grants (OS-INHERIT): the same rules and targets as the grants above.
    ("list_grants", "admin", "GET",
     "/v3/OS-INHERIT/domains/{domain}/users/{victim}/roles/inherited_to_projects", None, 200,
     USER_READERS),
    ("check_grant", "admin", "GET", "/v3/OS-INHERIT/projects/{project}/users/{victim}/roles/"
     "{fresh_inherited_grant}/inherited_to_projects", None, 204, USER_READERS),
    ("create_grant", "admin", "PUT", "/v3/OS-INHERIT/domains/{domain}/groups/{group}/roles/"
     "{member}/inherited_to_projects", None, 204, DOMAIN_MANAGERS),
    ("revoke_grant", "admin", "DELETE", "/v3/OS-INHERIT/projects/{project}/groups/{group}/"
     "roles/{fresh_inherited_grant}/inherited_to_projects", None, 204, DOMAIN_MANAGERS),
    ("list_system_grants_for_group", "admin", "GET", "/v3/system/groups/{group}/roles", None,
     200, CLOUD_READERS),
    ("check_system_grant_for_group", "admin", "GET",
     "/v3/system/groups/{group}/roles/{fresh_group_reader_grant}", None, 204, CLOUD_READERS),
    ("create_system_grant_for_group", "admin", "PUT",
     "/v3/system/groups/{group}/roles/{admin}", None, 204, CLOUD_ADMIN),
    ("revoke_system_grant_for_group", "admin", "DELETE",
     "/v3/system/groups/{group}/roles/{fresh_group_reader_grant}", None, 204, CLOUD_ADMIN),
    ("list_role_assignments", "admin", "GET", "/v3/role_assignments", None, 200,
     ANY_ADMIN_OR_DOMAIN_READERS),
    # Credentials (keystone/common/policies/credential.py): the owner, system readers (reads)
    # or admins; the victim owns them. Anyone lists (and sees only what get_credential allows).
    ("list_credentials", "admin", "GET", "/v3/credentials", None, 200, ANYONE),
    ("list_credentials", "main", "GET", "/v3/credentials", None, 200, ANYONE),
    ("get_credential", "admin", "GET", "/v3/credentials/{fresh_credential}", None, 200,
     CLOUD_READERS),
    ("get_credential", "main", "GET", "/v3/credentials/{fresh_credential}", None, 200,
     CLOUD_READERS),
    ("create_credential", "admin", "POST", "/v3/credentials", {"credential": {
        "user_id": "{victim}", "type": "cert", "blob": "{persona}"}}, 201, CLOUD_ADMIN),
    ("update_credential", "admin", "PATCH", "/v3/credentials/{fresh_credential}",
     {"credential": {"blob": "changed"}}, 200, CLOUD_ADMIN),
    ("delete_credential", "admin", "DELETE", "/v3/credentials/{fresh_credential}", None, 204,
     CLOUD_ADMIN),
    # A reader of the project's domain or an admin of the project (role_assignment.py).
    ("list_role_assignments_for_tree", "admin", "GET",
     "/v3/role_assignments?include_subtree&scope.project.id={project}", None, 200,
     ("YYYYYYY---", "YYYYYYY---")),
    # EC2 credentials (keystone/common/policies/ec2_credential.py): as credentials, on the
    # victim's path.
    ("ec2_list_credentials", "admin", "GET", "/v3/users/{victim}/credentials/OS-EC2", None, 200,
     CLOUD_READERS),
    ("ec2_list_credentials", "main", "GET", "/v3/users/{victim}/credentials/OS-EC2", None, 200,
     CLOUD_READERS),
    ("ec2_get_credential", "admin", "GET", "/v3/users/{victim}/credentials/OS-EC2/{fresh_ec2}",
     None, 200, CLOUD_READERS),
    ("ec2_create_credential", "admin", "POST", "/v3/users/{victim}/credentials/OS-EC2",
     {"tenant_id": "{project}"}, 201, CLOUD_ADMIN),
    ("ec2_delete_credential", "admin", "DELETE",
     "/v3/users/{victim}/credentials/OS-EC2/{fresh_ec2}", None, 204, CLOUD_ADMIN),
    # What services call with a signed request of the victim's (rule:service_or_admin).
    ("ec2tokens_validate", "main", "POST", "/v3/ec2tokens", {"credentials": "{fresh_ec2_request}"},
     200, SERVICE_OR_ADMIN),
    ("s3tokens_validate", "main", "POST", "/v3/s3tokens", {"credentials": "{fresh_s3_request}"},
     200, SERVICE_OR_ADMIN),
    # RFC 7662 introspection of the bystander's token (keystone_lite's own: as ec2tokens). A
    # string body is a form.
    ("introspect_token", "admin", "POST", "/v3/OS-OAUTH2/introspect", "token={subject}", 200,
     SERVICE_OR_ADMIN),
    # Prometheus metrics on the admin app (keystone_lite's own): as token validation.
    ("get_metrics", "admin", "GET", "/metrics", None, 200, VALIDATE),
    ("list_services", "admin", "GET", "/v3/services", None, 200, CLOUD_READERS),
    ("get_service", "admin", "GET", "/v3/services/{fresh_service}", None, 200, CLOUD_READERS),
    ("create_service", "admin", "POST", "/v3/services", {"service": {"type": "compute"}}, 201,
     CLOUD_ADMIN),
    ("update_service", "admin", "PATCH", "/v3/services/{fresh_service}",
     {"service": {"description": "changed"}}, 200, CLOUD_ADMIN),
    ("delete_service", "admin", "DELETE", "/v3/services/{fresh_service}", None, 204,
     CLOUD_ADMIN),
    ("list_endpoints", "admin", "GET", "/v3/endpoints", None, 200, CLOUD_READERS),
    ("get_endpoint", "admin", "GET", "/v3/endpoints/{fresh_endpoint}", None, 200,
     CLOUD_READERS),
    ("create_endpoint", "admin", "POST", "/v3/endpoints", {"endpoint": {
        "service_id": "{fresh_service}", "interface": "public", "url": "http://x/v3"}}, 201,
     CLOUD_ADMIN),
    ("update_endpoint", "admin", "PATCH", "/v3/endpoints/{fresh_endpoint}",
     {"endpoint": {"url": "http://y/v3"}}, 200, CLOUD_ADMIN),
    ("delete_endpoint", "admin", "DELETE", "/v3/endpoints/{fresh_endpoint}", None, 204,
     CLOUD_ADMIN),
    ("list_regions", "admin", "GET", "/v3/regions", None, 200, ANYONE),
    ("get_region", "admin", "GET", "/v3/regions/RegionOne", None, 200, ANYONE),
    ("create_region", "admin", "POST", "/v3/regions", {"region": {"id": "{persona}"}}, 201,
     CLOUD_ADMIN),
    ("create_region", "admin", "PUT", "/v3/regions/put-{persona}", {"region": {}}, 201,
     CLOUD_ADMIN),
    ("update_region", "admin", "PATCH", "/v3/regions/{fresh_region}",
     {"region": {"description": "changed"}}, 200, CLOUD_ADMIN),
    ("delete_region", "admin", "DELETE", "/v3/regions/{fresh_region}", None, 204, CLOUD_ADMIN),
    # Policy blobs (Keystone's deprecated /v3/policies).
    ("list_policies", "admin", "GET", "/v3/policies", None, 200, CLOUD_READERS),
    ("get_policy", "admin", "GET", "/v3/policies/{fresh_policy}", None, 200, CLOUD_READERS),
    ("create_policy", "admin", "POST", "/v3/policies",
     {"policy": {"type": "{persona}", "blob": "{{}}"}}, 201, CLOUD_ADMIN),
    ("update_policy", "admin", "PATCH", "/v3/policies/{fresh_policy}",
     {"policy": {"type": "changed"}}, 200, CLOUD_ADMIN),
    ("delete_policy", "admin", "DELETE", "/v3/policies/{fresh_policy}", None, 204,
     CLOUD_ADMIN),
    # Certificate revocations (keystone_lite's own: as the catalog, admins write, system
    # readers read).
    ("list_certificate_revocations", "admin", "GET", "/v3/certificate_revocations", None, 200,
     CLOUD_READERS),
    ("get_certificate_revocation", "admin", "GET",
     "/v3/certificate_revocations/{fresh_certificate_revocation}", None, 200, CLOUD_READERS),
    ("create_certificate_revocation", "admin", "POST", "/v3/certificate_revocations",
     {"certificate_revocation": {"serial": "0f", "issuer_dn": "CN={persona}"}}, 201,
     CLOUD_ADMIN),
    # OAuth1 (keystone/common/policies/consumer.py and access_token.py). A user's own access
    # tokens are theirs too (keystone_lite/policy.py); the victim's are no persona's.
    ("list_consumers", "admin", "GET", "/v3/OS-OAUTH1/consumers", None, 200, CLOUD_READERS),
    ("get_consumer", "admin", "GET", "/v3/OS-OAUTH1/consumers/{fresh_consumer}", None, 200,
     CLOUD_READERS),
    ("create_consumer", "admin", "POST", "/v3/OS-OAUTH1/consumers", {"consumer": {}}, 201,
     CLOUD_ADMIN),
    ("update_consumer", "admin", "PATCH", "/v3/OS-OAUTH1/consumers/{fresh_consumer}",
     {"consumer": {"description": "changed"}}, 200, CLOUD_ADMIN),
    ("delete_consumer", "admin", "DELETE", "/v3/OS-OAUTH1/consumers/{fresh_consumer}", None,
     204, CLOUD_ADMIN),
    ("authorize_request_token", "main", "PUT", "/v3/OS-OAUTH1/authorize/{fresh_request_token}",
     {"roles": []}, 200, ANYONE),
    ("list_access_tokens", "main", "GET", "/v3/users/{victim}/OS-OAUTH1/access_tokens", None,
     200, CLOUD_ADMIN),
    ("get_access_token", "main", "GET",
     "/v3/users/{victim}/OS-OAUTH1/access_tokens/{fresh_access_token}", None, 200,
     CLOUD_ADMIN),
    ("delete_access_token", "main", "DELETE",
     "/v3/users/{victim}/OS-OAUTH1/access_tokens/{fresh_access_token}", None, 204,
     CLOUD_ADMIN),
    ("list_access_token_roles", "main", "GET",
     "/v3/users/{victim}/OS-OAUTH1/access_tokens/{fresh_access_token}/roles", None, 200,
     CLOUD_ADMIN),
    ("get_access_token_role", "main", "GET",
     "/v3/users/{victim}/OS-OAUTH1/access_tokens/{fresh_access_token}/roles/{member}", None,
     200, CLOUD_ADMIN),
    # Federation mappings, the rules of certificate logins (mapping.py).
    ("list_mappings", "admin", "GET", "/v3/OS-FEDERATION/mappings", None, 200, CLOUD_READERS),
    ("get_mapping", "admin", "GET", "/v3/OS-FEDERATION/mappings/{fresh_mapping}", None, 200,
     CLOUD_READERS),
    ("create_mapping", "admin", "PUT", "/v3/OS-FEDERATION/mappings/m-{persona}",
     {"mapping": {"rules": MAPPING_RULES}}, 201, CLOUD_ADMIN),
    ("update_mapping", "admin", "PATCH", "/v3/OS-FEDERATION/mappings/{fresh_mapping}",
     {"mapping": {"rules": MAPPING_RULES}}, 200, CLOUD_ADMIN),
    ("delete_mapping", "admin", "DELETE", "/v3/OS-FEDERATION/mappings/{fresh_mapping}", None,
     204, CLOUD_ADMIN),
    # OS-EP-FILTER (endpoint_group.py, project_endpoint.py).
    ("list_endpoint_groups", "admin", "GET", f"{EP}/endpoint_groups", None, 200, CLOUD_READERS),
    ("get_endpoint_group", "admin", "GET", f"{EP}/endpoint_groups/{{fresh_endpoint_group}}",
     None, 200, CLOUD_READERS),
    ("create_endpoint_group", "admin", "POST", f"{EP}/endpoint_groups", {"endpoint_group": {
        "name": "{persona}", "filters": {"interface": "public"}}}, 201, CLOUD_ADMIN),
    ("update_endpoint_group", "admin", "PATCH", f"{EP}/endpoint_groups/{{fresh_endpoint_group}}",
     {"endpoint_group": {"description": "changed"}}, 200, CLOUD_ADMIN),
    ("delete_endpoint_group", "admin", "DELETE",
     f"{EP}/endpoint_groups/{{fresh_endpoint_group}}", None, 204, CLOUD_ADMIN),
    ("list_endpoints_associated_with_endpoint_group", "admin", "GET",
     f"{EP}/endpoint_groups/{{fresh_endpoint_group}}/endpoints", None, 200, CLOUD_READERS),
    ("list_projects_associated_with_endpoint_group", "admin", "GET",
     f"{EP}/endpoint_groups/{{fresh_endpoint_group}}/projects", None, 200, CLOUD_READERS),
    ("get_endpoint_group_in_project", "admin", "GET",
     f"{EP}/endpoint_groups/{{fresh_group_association}}/projects/{{project}}", None, 200,
     CLOUD_READERS),
    ("add_endpoint_group_to_project", "admin", "PUT",
     f"{EP}/endpoint_groups/{{fresh_endpoint_group}}/projects/{{project}}", None, 204,
     CLOUD_ADMIN),
    ("remove_endpoint_group_from_project", "admin", "DELETE",
     f"{EP}/endpoint_groups/{{fresh_group_association}}/projects/{{project}}", None, 204,
     CLOUD_ADMIN),
    ("list_endpoint_groups_for_project", "admin", "GET",
     f"{EP}/projects/{{project}}/endpoint_groups", None, 200, CLOUD_READERS),
    ("list_endpoints_for_project", "admin", "GET", f"{EP}/projects/{{project}}/endpoints", None,
     200, CLOUD_READERS),
    ("check_endpoint_in_project", "admin", "GET",
     f"{EP}/projects/{{project}}/endpoints/{{fresh_endpoint_association}}", None, 204,
     CLOUD_READERS),
    ("add_endpoint_to_project", "admin", "PUT",
     f"{EP}/projects/{{project}}/endpoints/{{fresh_endpoint}}", None, 204, CLOUD_ADMIN),
    ("remove_endpoint_from_project", "admin", "DELETE",
     f"{EP}/projects/{{project}}/endpoints/{{fresh_endpoint_association}}", None, 204,
     CLOUD_ADMIN),
    ("list_projects_for_endpoint", "admin", "GET", f"{EP}/endpoints/{{fresh_endpoint}}/projects",
     None, 200, CLOUD_READERS),
    # Unified limits (registered_limit.py, limit.py): the limit is on the project "op".
    ("list_registered_limits", "admin", "GET", "/v3/registered_limits", None, 200, ANYONE),
    ("get_registered_limit", "admin", "GET", "/v3/registered_limits/{fresh_registered_limit}",
     None, 200, ANYONE),
    ("create_registered_limits", "admin", "POST", "/v3/registered_limits",
     {"registered_limits": [{"service_id": "{fresh_service}", "resource_name": "{persona}",
                             "default_limit": 5}]}, 201, CLOUD_ADMIN),
    ("update_registered_limit", "admin", "PATCH",
     "/v3/registered_limits/{fresh_registered_limit}",
     {"registered_limit": {"default_limit": 7}}, 200, CLOUD_ADMIN),
    ("delete_registered_limit", "admin", "DELETE",
     "/v3/registered_limits/{fresh_registered_limit}", None, 204, CLOUD_ADMIN),
    ("get_limit_model", "admin", "GET", "/v3/limits/model", None, 200, ANYONE),
    ("list_limits", "admin", "GET", "/v3/limits", None, 200, ANYONE),
    ("get_limit", "admin", "GET", "/v3/limits/{fresh_limit}", None, 200, PROJECT_READERS),
    ("create_limits", "admin", "POST", "/v3/limits", {"limits": [{
        "service_id": "{fresh_limited_service}", "resource_name": "cores",
        "resource_limit": 3, "project_id": "{project}"}]}, 201, CLOUD_ADMIN),
    ("update_limit", "admin", "PATCH", "/v3/limits/{fresh_limit}",
     {"limit": {"resource_limit": 4}}, 200, CLOUD_ADMIN),
    ("delete_limit", "admin", "DELETE", "/v3/limits/{fresh_limit}", None, 204, CLOUD_ADMIN),
    ("create_trust", "main", "POST", TRUSTS, {"trust": {
        "trustor_user_id": "{victim}", "trustee_user_id": "{victim}", "project_id": "{project}",
        "impersonation": False, "roles": [{"name": "member"}]}}, 201, NOBODY),
    ("list_trusts", "main", "GET", TRUSTS, None, 200, CLOUD_READERS),
    ("list_trusts_for_trustor", "main", "GET", TRUSTS + "?trustor_user_id={victim}", None,
     200, SYSTEM_READERS),
    ("list_trusts_for_trustee", "admin", "GET", TRUSTS + "?trustee_user_id={victim}", None,
     200, SYSTEM_READERS),
    ("get_trust", "main", "GET", TRUSTS + "/{fresh_trust}", None, 200, SYSTEM_READERS),
    ("list_roles_for_trust", "main", "GET", TRUSTS + "/{fresh_trust}/roles", None, 200,
     SYSTEM_READERS),
    ("get_role_for_trust", "main", "GET", TRUSTS + "/{fresh_trust}/roles/{member}", None, 200,
     SYSTEM_READERS),
    ("get_role_for_trust", "admin", "HEAD", TRUSTS + "/{fresh_trust}/roles/{member}", None,
     200, SYSTEM_READERS),
    ("delete_trust", "main", "DELETE", TRUSTS + "/{fresh_trust}", None, 204, SYSTEM_ADMIN),
    # A user's application credentials and access rules (keystone/common/policies/
    # application_credential.py with its deprecated admin_or_owner; access_rule.py).
    ("list_application_credentials", "admin", "GET",
     "/v3/users/{victim}/application_credentials", None, 200, CLOUD_READERS),
    ("get_application_credential", "main", "GET",
     "/v3/users/{victim}/application_credentials/{fresh_app_cred}", None, 200, CLOUD_READERS),
    ("create_application_credential", "main", "POST",
     "/v3/users/{victim}/application_credentials",
     {"application_credential": {"name": "{persona}"}}, 201, NOBODY),
    ("delete_application_credential", "admin", "DELETE",
     "/v3/users/{victim}/application_credentials/{fresh_app_cred}", None, 204, CLOUD_ADMIN),
    ("list_access_rules", "main", "GET", "/v3/users/{victim}/access_rules", None, 200,
     SYSTEM_READERS),
    ("get_access_rule", "admin", "GET", "/v3/users/{victim}/access_rules/{fresh_access_rule}",
     None, 200, SYSTEM_READERS),
    ("delete_access_rule", "admin", "DELETE",
     "/v3/users/{victim}/access_rules/{fresh_access_rule}", None, 204, SYSTEM_ADMIN),
    ("validate_token", "main", "GET", "/v3/auth/tokens", None, 200, VALIDATE),
    ("validate_token", "admin", "GET", "/v3/auth/tokens", None, 200, VALIDATE),
    ("check_token", "admin", "HEAD", "/v3/auth/tokens", None, 200, CLOUD_READERS),
    ("revoke_token", "admin", "DELETE", "/v3/auth/tokens", None, 204, CLOUD_ADMIN),
    ("validate_token", "admin", "GET", "/v2.0/tokens/{subject}", None, 200, VALIDATE),
    ("check_token", "admin", "HEAD", "/v2.0/tokens/{subject}", None, 200, CLOUD_READERS),
    ("revoke_token", "admin", "DELETE", "/v2.0/tokens/{subject}", None, 204, CLOUD_ADMIN),
]


def fresh(deployment, world, name: str) -> str:
    """An object made (as the admin token) for one call that may consume it."""
    admin = deployment.admin
    made = {
        "fresh_user": lambda: admin.post_json("/v3/users", {"user": {
            "name": f"u-{store.new_id()}", "domain_id": world.domain}}, headers=ADMIN),
        "fresh_project": lambda: admin.post_json("/v3/projects", {"project": {
            "name": f"p-{store.new_id()}", "domain_id": world.domain}}, headers=ADMIN),
        "fresh_role": lambda: admin.post_json("/v3/roles", {"role": {
            "name": f"r-{store.new_id()}"}}, headers=ADMIN),
        "fresh_domain_role": lambda: admin.post_json("/v3/roles", {"role": {
            "name": f"dr-{store.new_id()}", "domain_id": world.domain}}, headers=ADMIN),
        "fresh_service": lambda: admin.post_json("/v3/services", {"service": {
            "type": "volume"}}, headers=ADMIN),
        "fresh_endpoint": lambda: admin.post_json("/v3/endpoints", {"endpoint": {
            "service_id": fresh(deployment, world, "fresh_service"), "interface": "internal",
            "url": "http://z/v3"}}, headers=ADMIN),
        "fresh_region": lambda: admin.post_json("/v3/regions", {"region": {}}, headers=ADMIN),
        # Disabled: only a disabled domain can be deleted.
        "fresh_domain": lambda: admin.post_json("/v3/domains", {"domain": {
            "name": f"d-{store.new_id()}", "enabled": False}}, headers=ADMIN),
        "fresh_group": lambda: admin.post_json("/v3/groups", {"group": {
            "name": f"g-{store.new_id()}", "domain_id": world.domain}}, headers=ADMIN),
        "fresh_policy": lambda: admin.post_json("/v3/policies", {"policy": {
            "type": "application/json", "blob": "{}"}}, headers=ADMIN),
        "fresh_credential": lambda: admin.post_json("/v3/credentials", {"credential": {
            "user_id": world.victim, "type": "cert", "blob": "victim's"}}, headers=ADMIN),
        "fresh_consumer": lambda: admin.post_json("/v3/OS-OAUTH1/consumers", {"consumer": {}},
                                                  headers=ADMIN),
        "fresh_certificate_revocation": lambda: admin.post_json(
            "/v3/certificate_revocations", {"certificate_revocation": {
                "thumbprint": store.new_id() * 2}}, headers=ADMIN),
        "fresh_mapping": lambda: admin.put_json(
            f"/v3/OS-FEDERATION/mappings/f-{store.new_id()}", {"mapping": {
                "rules": MAPPING_RULES}}, headers=ADMIN),
        "fresh_endpoint_group": lambda: admin.post_json(f"{EP}/endpoint_groups", {
            "endpoint_group": {"name": "eg", "filters": {"interface": "admin"}}},
            headers=ADMIN),
    }
    if name.startswith("fresh_ec2") or name == "fresh_s3_request":
        ec2 = admin.post_json(f"/v3/users/{world.victim}/credentials/OS-EC2",
                              {"tenant_id": world.project}, headers=ADMIN).json["credential"]
        if name == "fresh_ec2_request":
            return aws_clients.forwarded(aws_clients.signed_ec2_request(ec2, "v4"),
                                         ec2["access"])
        if name == "fresh_s3_request":
            return aws_clients.signed_s3_request(ec2, "v2")
        return ec2["access"]
    if name == "configured_domain":
        # The domain's configuration is this one again before each call.
        admin.put_json(f"/v3/domains/{world.domain}/config", {"config": {
            "identity": {"driver": "ldap"}, "ldap": {"url": "ldap://x", "password": "p"}}},
            headers=ADMIN)
        return world.domain
    if name in ("fresh_request_token", "fresh_access_token"):
        # A consumer's pending request on the world's project, or the victim's delegation of
        # member there.
        consumer = fresh(deployment, world, "fresh_consumer")

        def add(session):
            common = {"id": store.new_id(), "secret": store.new_id(),
                      "consumer_id": consumer, "project_id": world.project}
            session.add(models.OAuth1RequestToken(**common) if name == "fresh_request_token"
                        else models.OAuth1AccessToken(
                            **common, authorizing_user_id=world.victim,
                            role_ids=json.dumps([world.roles["member"]])))
            return common["id"]
        return in_store(deployment, add)
    if name == "fresh_group_association":  # an endpoint group of the project "op"
        group = fresh(deployment, world, "fresh_endpoint_group")
        admin.put(f"{EP}/endpoint_groups/{group}/projects/{world.project}", headers=ADMIN,
                  status=204)
        return group
    if name == "fresh_endpoint_association":  # an endpoint of the project "op"
        endpoint = fresh(deployment, world, "fresh_endpoint")
        admin.put(f"{EP}/projects/{world.project}/endpoints/{endpoint}", headers=ADMIN,
                  status=204)
        return endpoint
    if name == "fresh_limited_service":  # a service with a registered limit for "cores"
        service = fresh(deployment, world, "fresh_service")
        admin.post_json("/v3/registered_limits", {"registered_limits": [{
            "service_id": service, "resource_name": "cores", "default_limit": 10}]},
            headers=ADMIN, status=201)
        return service
    if name == "fresh_registered_limit":
        return admin.post_json("/v3/registered_limits", {"registered_limits": [{
            "service_id": fresh(deployment, world, "fresh_service"), "resource_name": "ram",
            "default_limit": 10}]}, headers=ADMIN, status=201).json["registered_limits"][0]["id"]
    if name == "fresh_limit":  # a limit of the project "op"
        return admin.post_json("/v3/limits", {"limits": [{
            "service_id": fresh(deployment, world, "fresh_limited_service"),
            "resource_name": "cores", "resource_limit": 5, "project_id": world.project}]},
            headers=ADMIN, status=201).json["limits"][0]["id"]
    if name == "fresh_membership":
        # The victim is in the world's group again before each call.
        admin.put(f"/v3/groups/{world.group}/users/{world.victim}", headers=ADMIN, status=204)
        return world.victim
    if name == "fresh_group_reader_grant":
        # The group holds reader everywhere the group grant calls look, again before each.
        def regrant_group(session):
            for kind, target in (("project", world.project), ("domain", world.domain),
                                 ("system", "all")):
                store.grant(session, world.group, kind, target, world.roles["reader"],
                            actor="group")
        in_store(deployment, regrant_group)
        return world.roles["reader"]
    if name == "fresh_rule":  # a new role implying member
        prior = fresh(deployment, world, "fresh_role")
        admin.put(f"/v3/roles/{prior}/implies/{world.roles['member']}", headers=ADMIN,
                  status=201)
        return prior
    if name == "fresh_reader_grant":
        # The victim holds reader everywhere the revoke calls look, again before each call.
        def regrant(session):
            for kind, target in (("project", world.project), ("domain", world.domain),
                                 ("system", "all")):
                store.grant(session, world.victim, kind, target, world.roles["reader"])
        in_store(deployment, regrant)
        return world.roles["reader"]
    if name == "fresh_inherited_grant":
        # The victim and the group hold reader inherited from the project and the domain,
        # again before each call.
        def regrant_inherited(session):
            for actor, actor_id in (("user", world.victim), ("group", world.group)):
                for kind, target in (("project", world.project), ("domain", world.domain)):
                    store.grant(session, actor_id, kind, target, world.roles["reader"],
                                actor=actor, inherited=True)
        in_store(deployment, regrant_inherited)
        return world.roles["reader"]
    if name in ("fresh_trust", "fresh_app_cred", "fresh_access_rule"):
        # Made by the victim (only a user makes its own): a trust to itself on its project
        # "op"; an application credential, or its access rule, left unused.
        victim = post_token(deployment.main, {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "id": world.victim, "password": policy_world.VICTIM_PASSWORD}}},
            "scope": {"project": {"id": world.project}}}}).headers["X-Subject-Token"]
        if name == "fresh_trust":
            return deployment.main.post_json(TRUSTS, {"trust": {
                "trustor_user_id": world.victim, "trustee_user_id": world.victim,
                "project_id": world.project, "impersonation": False,
                "roles": [{"name": "member"}]}}, headers={"X-Auth-Token": victim},
                status=201).json["trust"]["id"]
        credential = deployment.main.post_json(
            f"/v3/users/{world.victim}/application_credentials", {"application_credential": {
                "name": f"c-{store.new_id()}", "access_rules": [{
                    "service": "compute", "method": "GET", "path": f"/{store.new_id()}"}]}},
            headers={"X-Auth-Token": victim}, status=201).json["application_credential"]
        if name == "fresh_app_cred":
            return credential["id"]
        deployment.main.delete(f"/v3/users/{world.victim}/application_credentials/"
                               f"{credential['id']}", headers={"X-Auth-Token": victim},
                               status=204)
        return credential["access_rules"][0]["id"]
    if name == "fresh_tag":
        tag = f"t-{store.new_id()}"
        admin.put(f"/v3/projects/{world.project}/tags/{tag}", headers=ADMIN, status=201)
        return tag
    return next(iter(made[name]().json.values()))["id"]


def _filled(template, values: dict):
    """The body template with its ``{names}`` filled in, in strings at any depth; a string
    that is one ``{name}`` of a value that is no string becomes that value."""
    if isinstance(template, dict):
        return {key: _filled(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [_filled(value, values) for value in template]
    if isinstance(template, str) and not isinstance(values.get(template[1:-1], ""), str):
        return values[template[1:-1]]
    return template.format(**values) if isinstance(template, str) else template


def call(deployment, world, persona, app, method, path, body):
    values = {"victim": world.victim, "project": world.project, "domain": world.domain,
              "group": world.group,
              "member": world.roles["member"], "admin": world.roles["admin"],
              "reader": world.roles["reader"],
              "persona": persona.replace("_", "-")}
    headers = {"X-Auth-Token": world.tokens[persona]}
    # Each object the call names ({fresh_user}, {configured_domain}, ...) is made for it.
    for name in dict.fromkeys(re.findall(r"\{((?:fresh|configured)_\w+)\}",
                                         path + repr(body))):
        values[name] = fresh(deployment, world, name)
    if path.startswith("/v3/auth/tokens"):
        headers["X-Subject-Token"] = policy_world.bystander_token(deployment)
    elif "{subject}" in path or "{subject}" in repr(body):
        values["subject"] = policy_world.bystander_token(deployment)
    if body is not None:
        body = _filled(body, values)
    target = getattr(deployment, app)
    form = isinstance(body, str)
    return target.request(path.format(**values), method=method, headers=headers,
                          content_type="application/x-www-form-urlencoded" if form
                          else "application/json" if body else None,
                          body=body.encode() if form else json.dumps(body).encode() if body
                          else b"", expect_errors=True)


@pytest.mark.parametrize("enforce_scope", [False, True], ids=["scope-off", "scope-on"])
def test_policy_matrix_matches_keystone_defaults(make_deployment, enforce_scope):
    deployment = make_deployment({"oslo_policy": {"enforce_scope": str(enforce_scope).lower()}})
    world = policy_world.build(deployment)
    wrong = []
    for column, persona in PERSONA_OF.items():
        for rule, app, method, path, body, ok, rows in CALLS:
            allowed = rows[enforce_scope][COLUMNS.index(column)] == "Y"
            response = call(deployment, world, persona, app, method, path, body)
            expected = ok if allowed else 403
            if response.status_int != expected:
                wrong.append(f"{column} identity:{rule} {method} {app}{path}: "
                             f"{response.status_int}, expected {expected}")
            if response.status_int == 403 and method != "HEAD":
                assert response.json["error"]["code"] == 403
    assert not wrong, f"{len(wrong)} calls answered otherwise:\n" + "\n".join(wrong)


def test_the_matrix_covers_every_rule_and_every_admin_route(deployment):
    """So that a new route or rule cannot slip in without its row."""
    assert {f"identity:{rule}" for rule, *_ in CALLS} == set(policy.RULES) - {"admin_required"}
    called = {(method, re.sub(r"\{[^}]+\}", "x", path.split("?")[0]))
              for _r, app, method, path, *_ in CALLS if app == "admin" and path.startswith("/v3/")}
    built = deployment.services()
    identity = IdentityController(built)
    routes = identity.routes() + identity.feature_routes() + credentials.routes(built) + \
        ec2_credentials.routes(built) + introspection.routes(built)
    for pattern, methods in routes:
        for method in methods:
            assert any(method == called_method and re.fullmatch(pattern, path[len("/v3"):])
                       for called_method, path in called), (method, pattern)
