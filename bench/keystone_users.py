"""Create project ``demo`` and user ``alice`` (member of it) in Keystone, through its API.

    python bench/keystone_users.py KEYSTONE_CONF

Runs in Keystone's virtualenv after ``keystone-manage bootstrap``; the caller is the bootstrap
admin, authenticated externally like every benchmarked request.
"""
from __future__ import annotations

import sys

import targets
from driver import call
from operations import ADMIN, ADMIN_PROJECT, USER, USER_PROJECT, issue_token


def main() -> None:
    _, app = targets.build("keystone", sys.argv[1])
    headers = {"X-Auth-Token": issue_token(app, ADMIN, ADMIN_PROJECT)}
    project = call(app, "POST", "/v3/projects", headers, expect=201, document={
        "project": {"name": USER_PROJECT, "domain_id": "default"}}).json()["project"]
    user = call(app, "POST", "/v3/users", headers, expect=201, document={
        "user": {"name": USER, "domain_id": "default"}}).json()["user"]
    role = call(app, "GET", "/v3/roles?name=member", headers, expect=200).json()["roles"][0]
    call(app, "PUT", f"/v3/projects/{project['id']}/users/{user['id']}/roles/{role['id']}",
         headers, expect=204)


if __name__ == "__main__":
    main()
