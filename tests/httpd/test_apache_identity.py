"""Issue 10, finding 7 through a real Apache httpd (mod_ssl + mod_wsgi) and the real curl:
certificates whose UID is odd (surrounding or Unicode spaces, a control character, two UIDs)
are refused with 401, and a non-ASCII UID logs in as exactly that user.

mod_ssl exports a UID as UTF-8 text, escaping only C0 controls (``\\0A``); mod_wsgi hands it to
Python as a PEP 3333 native string (the bytes decoded as latin-1). The same certificates go
through the embedded server in tests/embedded/test_embedded_server.py.
"""
from __future__ import annotations

import pytest

from keystone_lite import pki

from builders import external_auth

pytestmark = pytest.mark.httpd

ODD_UIDS = {"trailing-space": ("admin ",), "nbsp": ("admin\u00a0",),
            "ideographic-space": ("admin\u3000",), "two-uids": ("admin", "alice"),
            "escaped-newline": ("admin\n",)}


def login(site, user: str, uids: tuple[str, ...]):
    pki.issue_client_certificate(site.pki_dir, user, uids=uids)
    return site.post_json("/main/v3/auth/tokens", external_auth(), *site.cert(user))


@pytest.mark.parametrize("name", sorted(ODD_UIDS))
def test_certificate_with_an_odd_uid_gets_401_not_a_token(apache_site, name):
    reply = login(apache_site, name, ODD_UIDS[name])
    assert reply.status == 401, apache_site.explain(reply)
    assert reply.headers["content-type"].startswith("application/json"), reply
    assert reply.json()["error"]["code"] == 401 and "x-subject-token" not in reply.headers


def test_non_ascii_uid_logs_in_as_that_exact_user(apache_site):
    admin_token = apache_site.token_for("admin", "admin")
    created = apache_site.post_json("/admin/v3/users", {"user": {"name": "zoë"}},
                                    *apache_site.cert("admin"),
                                    "-H", f"X-Auth-Token: {admin_token}")
    assert created.status == 201, apache_site.explain(created)
    reply = login(apache_site, "zoe", ("zoë",))
    assert reply.status == 201, apache_site.explain(reply)
    assert reply.json()["token"]["user"]["name"] == "zoë"
