"""Keystone's OS-EP-FILTER: endpoint groups (``/v3/OS-EP-FILTER/endpoint_groups``), declared
here, and the associations of projects with endpoints and endpoint groups.

A project associated with endpoints, directly or through endpoint groups (whose ``filters``
select endpoints by ``interface``, ``service_id`` and ``region_id``), gets only those endpoints
in its tokens' catalog (TokenService.catalog, store.project_endpoint_ids). Associations are
tracked rows: writing one moves the change counter, so every node renders the catalog afresh.
They go with their project, endpoint or endpoint group (ON DELETE CASCADE).
"""
from __future__ import annotations

import functools

from sqlalchemy import delete, select

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity import store
from keystone_lite.identity.admin import ident, listing
from keystone_lite.identity.catalog import ENDPOINTS
from keystone_lite.identity.projects import PROJECTS
from keystone_lite.identity.resources import TEXT, Field, Hooks, Resource, name
from keystone_lite.router import json_response, no_content

FILTER_KEYS = ("service_id", "region_id", "interface")
FILTERS = {"type": "object", "properties": {
    "interface": {"enum": list(store.INTERFACES)},
    "service_id": {"type": "string"},
    "region_id": {"type": ["string", "null"]},
}}
GROUP_PATH = "/OS-EP-FILTER/endpoint_groups"
PROJECT_PATH = "/OS-EP-FILTER/projects"
GROUP = rf"{GROUP_PATH}/{ident('endpoint_group_id')}"
PROJECT = rf"{PROJECT_PATH}/{ident('project_id')}"


class EndpointGroupHooks(Hooks):
    def routes(self, controller):
        def handler(function):
            return functools.partial(function, controller)
        return [
            (f"{GROUP}/endpoints", {"GET": handler(list_group_endpoints)}),
            (f"{GROUP}/projects", {"GET": handler(list_group_projects)}),
            (rf"{GROUP}/projects/{ident('project_id')}", {
                "GET": handler(get_group_in_project), "PUT": handler(add_group_to_project),
                "DELETE": handler(remove_group_from_project)}),
            (f"{PROJECT}/endpoint_groups", {"GET": handler(list_project_groups)}),
            (f"{PROJECT}/endpoints", {"GET": handler(list_project_endpoints)}),
            (rf"{PROJECT}/endpoints/{ident('endpoint_id')}", {
                "GET": handler(check_endpoint_in_project),
                "PUT": handler(add_endpoint_to_project),
                "DELETE": handler(remove_endpoint_from_project)}),
            (rf"/OS-EP-FILTER/endpoints/{ident('endpoint_id')}/projects",
             {"GET": handler(list_endpoint_projects)}),
        ]

    def creating(self, call, values, body):
        if not body["filters"]:
            raise errors.ValidationError("filters field is required and cannot be empty")
        _check_filters(body["filters"])

    def updating(self, call, row, changes, body):
        if "filters" in changes:
            _check_filters(changes["filters"])


def _check_filters(filters: dict) -> None:
    if any(key not in FILTER_KEYS for key in filters):
        raise errors.ValidationError(  # Keystone's wording
            f"Expecting to find {' or '.join(FILTER_KEYS)} in endpoint_group. The server "
            "could not comply with the request since it is either malformed or otherwise "
            "incorrect. The client is assumed to be in error.")


ENDPOINT_GROUPS = Resource(
    name="endpoint_group", collection="endpoint_groups", model=models.EndpointGroup,
    prefix="/OS-EP-FILTER",
    fields=(Field("name", name(255), required=True, filter=True),
            Field("description", TEXT),
            Field("filters", FILTERS, required=True)),
    shown=("id", "name", "description", "filters"), closed=True, hooks=EndpointGroupHooks())


# -- endpoint groups and projects ---------------------------------------------------------------

def list_group_endpoints(controller, req, session, endpoint_group_id):
    """The endpoints the group's filters select now (disabled ones too, as Keystone)."""
    base, rows = controller.authorize_on(
        req, session, "identity:list_endpoints_associated_with_endpoint_group",
        endpoint_group=endpoint_group_id)
    endpoints = store.endpoints_in_group(store.list_endpoints(session),
                                         rows["endpoint_group"].filters)
    return _endpoints(controller, req, session, base, endpoints,
                      f"{GROUP_PATH}/{endpoint_group_id}/endpoints")


def list_group_projects(controller, req, session, endpoint_group_id):
    base, _rows = controller.authorize_on(
        req, session, "identity:list_projects_associated_with_endpoint_group",
        endpoint_group=endpoint_group_id)
    projects = session.scalars(
        select(models.Project).join(models.ProjectEndpointGroup,
                                    models.ProjectEndpointGroup.project_id == models.Project.id)
        .where(models.ProjectEndpointGroup.endpoint_group_id == endpoint_group_id)
        .order_by(models.Project.name))
    return _projects(controller, req, session, base, list(projects),
                     f"{GROUP_PATH}/{endpoint_group_id}/projects")


def get_group_in_project(controller, req, session, endpoint_group_id, project_id):
    base = _group_and_project(controller, req, session, "identity:get_endpoint_group_in_project",
                              endpoint_group_id, project_id)
    if session.get(models.ProjectEndpointGroup, (project_id, endpoint_group_id)) is None:
        raise _no_group_association()
    return json_response({"project_endpoint_group": {
        "endpoint_group_id": endpoint_group_id, "project_id": project_id,
        "links": {"self": f"{base}/v3{GROUP_PATH}/{endpoint_group_id}/projects/{project_id}"}}})


def add_group_to_project(controller, req, session, endpoint_group_id, project_id):
    _group_and_project(controller, req, session, "identity:add_endpoint_group_to_project",
                       endpoint_group_id, project_id)
    if session.get(models.ProjectEndpointGroup, (project_id, endpoint_group_id)) is not None:
        raise _duplicate("project_endpoint_group")
    session.add(models.ProjectEndpointGroup(project_id=project_id,
                                            endpoint_group_id=endpoint_group_id))
    session.flush()
    return no_content()


def remove_group_from_project(controller, req, session, endpoint_group_id, project_id):
    _group_and_project(controller, req, session, "identity:remove_endpoint_group_from_project",
                       endpoint_group_id, project_id)
    if not session.execute(delete(models.ProjectEndpointGroup).where(
            models.ProjectEndpointGroup.project_id == project_id,
            models.ProjectEndpointGroup.endpoint_group_id == endpoint_group_id)).rowcount:
        raise _no_group_association()
    return no_content()


def list_project_groups(controller, req, session, project_id):
    base, _rows = controller.authorize_on(req, session, "identity:list_endpoint_groups_for_project",
                                          project=project_id)
    groups = session.scalars(
        select(models.EndpointGroup).join(
            models.ProjectEndpointGroup,
            models.ProjectEndpointGroup.endpoint_group_id == models.EndpointGroup.id)
        .where(models.ProjectEndpointGroup.project_id == project_id)
        .order_by(models.EndpointGroup.name))
    return listing(req, "endpoint_groups", f"{PROJECT_PATH}/{project_id}/endpoint_groups",
                   [ENDPOINT_GROUPS.show(group, base) for group in groups])


def _group_and_project(controller, req, session, rule, endpoint_group_id, project_id) -> str:
    # The project's 404 first, as Keystone.
    base, _rows = controller.authorize_on(req, session, rule, project=project_id,
                                          endpoint_group=endpoint_group_id)
    return base


def _no_group_association() -> errors.NotFound:
    return errors.NotFound("Endpoint Group Project Association not found")


# -- endpoints and projects ---------------------------------------------------------------------

def list_project_endpoints(controller, req, session, project_id):
    """The endpoints associated with the project, directly or through its endpoint groups."""
    base, _rows = controller.authorize_on(req, session, "identity:list_endpoints_for_project",
                                          project=project_id)
    ids = store.project_endpoint_ids(session, project_id)
    endpoints = [endpoint for endpoint in store.list_endpoints(session) if endpoint.id in ids]
    return _endpoints(controller, req, session, base, endpoints,
                      f"{PROJECT_PATH}/{project_id}/endpoints")


def check_endpoint_in_project(controller, req, session, project_id, endpoint_id):
    _endpoint_and_project(controller, req, session, "identity:check_endpoint_in_project",
                          endpoint_id, project_id)
    if session.get(models.ProjectEndpoint, (project_id, endpoint_id)) is None:
        raise _no_endpoint_association(endpoint_id, project_id)
    return no_content()


def add_endpoint_to_project(controller, req, session, project_id, endpoint_id):
    _endpoint_and_project(controller, req, session, "identity:add_endpoint_to_project",
                          endpoint_id, project_id)
    if session.get(models.ProjectEndpoint, (project_id, endpoint_id)) is not None:
        raise _duplicate("project_endpoint")
    session.add(models.ProjectEndpoint(project_id=project_id, endpoint_id=endpoint_id))
    session.flush()
    return no_content()


def remove_endpoint_from_project(controller, req, session, project_id, endpoint_id):
    _endpoint_and_project(controller, req, session, "identity:remove_endpoint_from_project",
                          endpoint_id, project_id)
    if not session.execute(delete(models.ProjectEndpoint).where(
            models.ProjectEndpoint.project_id == project_id,
            models.ProjectEndpoint.endpoint_id == endpoint_id)).rowcount:
        raise _no_endpoint_association(endpoint_id, project_id)
    return no_content()


def list_endpoint_projects(controller, req, session, endpoint_id):
    """The projects associated with the endpoint directly (not through endpoint groups)."""
    base, _rows = controller.authorize_on(req, session, "identity:list_projects_for_endpoint",
                                          endpoint=endpoint_id)
    projects = session.scalars(
        select(models.Project).join(models.ProjectEndpoint,
                                    models.ProjectEndpoint.project_id == models.Project.id)
        .where(models.ProjectEndpoint.endpoint_id == endpoint_id).order_by(models.Project.name))
    return _projects(controller, req, session, base, list(projects),
                     f"/OS-EP-FILTER/endpoints/{endpoint_id}/projects")


def _endpoint_and_project(controller, req, session, rule, endpoint_id, project_id) -> None:
    # The endpoint's 404 first, as Keystone.
    controller.authorize_on(req, session, rule, endpoint=endpoint_id, project=project_id)


def _no_endpoint_association(endpoint_id: str, project_id: str) -> errors.NotFound:
    return errors.NotFound(f"Endpoint {endpoint_id[:64]} not found in project {project_id[:64]}")


# -- shared -------------------------------------------------------------------------------------

def _duplicate(kind: str) -> errors.Conflict:
    return errors.Conflict(f"Conflict occurred attempting to store {kind} - Duplicate entry.")


def _endpoints(controller, req, session, base, endpoints, path):
    """Endpoints rendered as ``/v3/endpoints`` renders them."""
    call = controller.call(req, session, base)
    bodies = [ENDPOINTS.show(endpoint, base) for endpoint in endpoints]
    ENDPOINTS.hooks.decorate(call, endpoints, bodies)
    return listing(req, "endpoints", path, bodies)


def _projects(controller, req, session, base, projects, path):
    """Projects rendered as ``/v3/projects`` renders them."""
    call = controller.call(req, session, base)
    bodies = [PROJECTS.show(project, base) for project in projects]
    PROJECTS.hooks.decorate(call, projects, bodies)
    return listing(req, "projects", path, bodies)
