"""OAuth1 delegation with the real clients: python-keystoneclient's ``oauth1`` managers (which
sign with oauthlib) for the consumer and the flow, keystoneauth1's ``V3OAuth1`` plugin
(``keystoneauth1.extras.oauth1``) for the consumer's tokens.

Alice, a certificate-only user, delegates ``member`` on ``demo`` to a consumer the administrator
registered; the consumer then works with a keystoneauth1 session of its own until alice
deletes the delegation. The consumer's client talks to the app its auth URL names
(``interface="public"``): a signature covers the URL, and keystone_lite's admin app has another.
"""
from __future__ import annotations

import pytest

from compat_clients import require
from conftest import CERT_PROJECT, CERT_USER

from builders import ADMIN_PASSWORD

ks_exceptions = require("keystoneauth1.exceptions")
v3 = require("keystoneauth1.identity.v3")
ks_session = require("keystoneauth1.session")
ks_oauth1 = require("keystoneauth1.extras.oauth1")
client = require("keystoneclient.v3.client")

pytestmark = pytest.mark.compat
TIMEOUT = 10


def keystoneclient(auth, interface: str):
    return client.Client(session=ks_session.Session(auth=auth, timeout=TIMEOUT),
                         interface=interface)


def test_a_consumer_works_with_a_delegation_until_it_is_deleted(http_keystone):
    admin = keystoneclient(v3.Password(
        auth_url=f"{http_keystone.main}/v3", username="admin", password=ADMIN_PASSWORD,
        user_domain_id="default", project_name="admin", project_domain_id="default"), "admin")
    consumer = admin.oauth1.consumers.create(description="a cron job")
    assert consumer.secret and admin.oauth1.consumers.get(consumer.id).description == \
        "a cron job"

    alice_token = http_keystone.issue(CERT_USER, CERT_PROJECT)
    alice = keystoneclient(v3.Token(auth_url=f"{http_keystone.main}/v3", token=alice_token,
                                    project_name=CERT_PROJECT, project_domain_id="default"),
                           "public")
    demo = alice.session.get_project_id()
    member = next(role for role in admin.roles.list() if role.name == "member")
    request_token = alice.oauth1.request_tokens.create(consumer.id, consumer.secret, demo)
    verifier = alice.oauth1.request_tokens.authorize(request_token.key, [member.id]).oauth_verifier
    access_token = alice.oauth1.access_tokens.create(
        consumer.id, consumer.secret, request_token.key, request_token.secret, verifier)

    plugin = ks_oauth1.V3OAuth1(auth_url=f"{http_keystone.main}/v3", consumer_key=consumer.id,
                                consumer_secret=consumer.secret, access_key=access_token.key,
                                access_secret=access_token.secret)
    session = ks_session.Session(auth=plugin, timeout=TIMEOUT)
    access = plugin.get_access(session)
    assert access.user_id == alice.session.get_user_id() and access.project_id == demo
    assert sorted(access.role_names) == ["member", "reader"]
    assert access._data["token"]["OS-OAUTH1"] == {"access_token_id": access_token.key,
                                                  "consumer_id": consumer.id}
    projects = session.get(f"{http_keystone.main}/v3/auth/projects").json()["projects"]
    assert [project["id"] for project in projects] == [demo]

    session.delete(f"{http_keystone.main}/v3/users/{access.user_id}/OS-OAUTH1/access_tokens/"
                   f"{access_token.key}", auth=v3.Token(
                       auth_url=f"{http_keystone.main}/v3", token=alice_token))
    plugin.invalidate()
    with pytest.raises(ks_exceptions.Unauthorized):
        plugin.get_access(session)
    admin.oauth1.consumers.delete(consumer.id)
