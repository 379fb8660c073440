"""Project tags (Keystone's ``tags`` of a project): their rules, storage, list filters and the
``/v3/projects/{id}/tags`` routes.

Keystone's rules (keystone/resource/schema.py): at most 80 tags, each 1 to 255 characters
without ``/`` or ``,`` (the API-WG tag guideline: a comma separates tags in list filters, a
slash would break the tag's URL), no tag twice. Tags are case-sensitive and shown in name order.
"""
from __future__ import annotations

import functools
from urllib.parse import quote

from sqlalchemy import and_, delete, exists, false, not_, select

from keystone_lite import errors
from keystone_lite.context import get_context
from keystone_lite.db import models
from keystone_lite.identity.admin import ident
from keystone_lite.router import json_response, no_content

MAX_TAGS = 80
TAG = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^,/]*$"}
TAGS = {"type": "array", "items": TAG, "maxItems": MAX_TAGS, "uniqueItems": True}
FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")


@functools.cache
def _validator(schema_name: str):
    # Built on first use, as the resource validators (jsonschema costs start-up time).
    import jsonschema
    return jsonschema.Draft4Validator({"tag": TAG, "tags": TAGS}[schema_name])


def check(value, schema_name: str, what: str) -> None:
    """400 worded as Keystone's validation errors when ``value`` breaks the tag rules."""
    error = next(_validator(schema_name).iter_errors(value), None)
    if error is not None:
        raise errors.ValidationError(f"Invalid input for field/attribute {what}. Value: "
                                     f"{str(error.instance)[:255]!s}. {error.message[:512]}")


def tags_of(session, project_ids: list[str]) -> dict[str, list[str]]:
    """``{project_id: [tag, ...]}`` (name order) for the projects that have tags."""
    found: dict[str, list[str]] = {}
    if project_ids:
        for tag in session.scalars(select(models.ProjectTag).where(
                models.ProjectTag.project_id.in_(project_ids)).order_by(models.ProjectTag.name)):
            found.setdefault(tag.project_id, []).append(tag.name)
    return found


def replace(session, project_id: str, tags: list[str]) -> None:
    """The project's tags become ``tags`` (already checked)."""
    session.execute(delete(models.ProjectTag).where(models.ProjectTag.project_id == project_id))
    session.add_all(models.ProjectTag(project_id=project_id, name=tag) for tag in tags)
    session.flush()


def _tagged(tag: str):
    return exists().where(models.ProjectTag.project_id == models.Project.id,
                          models.ProjectTag.name == tag)


def list_conditions(params: dict) -> list:
    """SQL conditions for Keystone's list filters: ``?tags=a,b`` (all of them),
    ``?tags-any=`` (one of them), ``?not-tags=`` (not all of them), ``?not-tags-any=`` (none
    of them). An empty filter value matches nothing, as no tag is empty."""
    conditions = []
    for name in FILTERS:
        if name not in params:
            continue
        tags = params[name].split(",")
        if any(not tag for tag in tags):
            conditions.append(false() if not name.startswith("not-") else ~false())
            continue
        if name.endswith("-any"):
            match = exists().where(models.ProjectTag.project_id == models.Project.id,
                                   models.ProjectTag.name.in_(tags))
        else:
            match = and_(*(_tagged(tag) for tag in tags))
        conditions.append(not_(match) if name.startswith("not-") else match)
    return conditions


def _stored(session, project_id: str, tag: str):
    """The tag's row, or None; a tag no row can hold (too long, a NUL, which PostgreSQL cannot
    take) is not looked for."""
    if len(tag) > 255 or "\x00" in tag:
        return None
    return session.get(models.ProjectTag, (project_id, tag))


def routes(controller) -> list:
    """``/projects/{id}/tags`` and ``/projects/{id}/tags/{tag}`` with Keystone's statuses."""
    tags = TagsHandlers(controller)
    return [(rf"/projects/{ident('project_id')}/tags",
             {"GET": tags.list, "PUT": tags.replace, "DELETE": tags.delete_all}),
            (rf"/projects/{ident('project_id')}/tags/{ident('tag')}",
             {"GET": tags.check, "HEAD": tags.check, "PUT": tags.add, "DELETE": tags.delete})]


class TagsHandlers:
    def __init__(self, controller):
        self.controller = controller

    def _project(self, req, session, rule: str, project_id: str):
        base, rows = self.controller.authorize_on(req, session, rule, project=project_id)
        return base, rows["project"]

    @staticmethod
    def _document(session, base: str, project_id: str):
        # Keystone's links.self here is the API's base, not the tags' URL.
        return json_response({"tags": tags_of(session, [project_id]).get(project_id, []),
                              "links": {"self": f"{base}/v3"}})

    def list(self, req, session, project_id):
        base, project = self._project(req, session, "identity:list_project_tags", project_id)
        return self._document(session, base, project.id)

    def replace(self, req, session, project_id):
        base, project = self._project(req, session, "identity:update_project_tags", project_id)
        document = get_context(req.environ)["json"]
        tags = document.get("tags", {}) if isinstance(document, dict) else document
        check(tags, "tags", "tags")
        replace(session, project.id, tags)
        return self._document(session, base, project.id)

    def delete_all(self, req, session, project_id):
        _base, project = self._project(req, session, "identity:delete_project_tags",
                                       project_id)
        replace(session, project.id, [])
        return no_content()

    def check(self, req, session, project_id, tag):
        _base, project = self._project(req, session, "identity:get_project_tag", project_id)
        if _stored(session, project.id, tag) is None:
            raise errors.NotFound(f"Tag {tag[:255]} not found for project {project.id}.")
        return no_content()

    def add(self, req, session, project_id, tag):
        base, project = self._project(req, session, "identity:create_project_tag", project_id)
        check(tag, "tag", "tag")
        # PUT is idempotent: a tag the project has already is created again (201), as the
        # API's PUT of a grant.
        if session.get(models.ProjectTag, (project.id, tag)) is None:
            if len(tags_of(session, [project.id]).get(project.id, [])) >= MAX_TAGS:
                raise errors.ValidationError(f"A project has at most {MAX_TAGS} tags.")
            session.add(models.ProjectTag(project_id=project.id, name=tag))
            session.flush()
        response = no_content()
        response.status = 201
        # Keystone's Location omits "/projects" (its own quirk, kept for parity).
        response.headers["Location"] = f"{base}/v3/{project.id}/tags/{quote(tag, safe='')}"
        return response

    def delete(self, req, session, project_id, tag):
        _base, project = self._project(req, session, "identity:delete_project_tag", project_id)
        tag_row = _stored(session, project.id, tag)
        if tag_row is None:
            raise errors.NotFound(f"Tag {tag[:255]} not found for project {project.id}.")
        session.delete(tag_row)
        session.flush()
        return no_content()
