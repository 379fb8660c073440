"""Render identity entities as Keystone v3 documents (with ``links.self``)."""
from __future__ import annotations


def v3_project(project, base: str) -> dict:
    return {
        "id": project.id,
        "name": project.name,
        "domain_id": project.domain_id,
        "description": project.description,
        "enabled": project.enabled,
        "parent_id": project.domain_id,
        "is_domain": False,
        "tags": [],
        "options": {},
        "links": {"self": f"{base}/v3/projects/{project.id}"},
    }
