"""Version discovery documents: ``GET /`` (300, all versions) and ``GET /v3`` (200)."""
from __future__ import annotations

from keystone_lite import errors
from keystone_lite.router import json_response

V3_MEDIA = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]
V2_MEDIA = [{"base": "application/json", "type": "application/vnd.openstack.identity-v2.0+json"}]


def v3_version(base: str) -> dict:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{base}/v3/"}], "media-types": V3_MEDIA}


def v2_version(base: str) -> dict:
    return {"id": "v2.0", "status": "deprecated", "updated": "2014-04-17T00:00:00Z",
            "links": [{"rel": "self", "href": f"{base}/v2.0/"}], "media-types": V2_MEDIA}


def versions(req, session):
    base = errors.base_url(req)
    body = {"versions": {"values": [v3_version(base), v2_version(base)]}}
    return json_response(body, status=300, headers={"Location": f"{base}/v3/"})


def v3(req, session):
    return json_response({"version": v3_version(errors.base_url(req))})


def v2(req, session):
    return json_response({"version": v2_version(errors.base_url(req))})
