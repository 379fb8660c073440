"""EC2 credentials with python-keystoneclient's ``ec2`` manager, and ``/v3/ec2tokens`` checking
signatures made by keystoneclient's ``Ec2Signer`` (the signer Keystone itself checks with), sent
over real HTTP with a service's keystoneauth1 session, as ec2-api sends them."""
from __future__ import annotations

import datetime
import hashlib
import uuid

import pytest

from compat_clients import require
from conftest import CERT_PROJECT, SERVICE_PASSWORD, SERVICE_PROJECT, SERVICE_USER

from builders import ADMIN_PASSWORD

ks_exceptions = require("keystoneauth1.exceptions")
v3 = require("keystoneauth1.identity.v3")
ks_session = require("keystoneauth1.session")
client = require("keystoneclient.v3.client")
ec2_utils = require("keystoneclient.contrib.ec2.utils")

pytestmark = pytest.mark.compat
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def session_of(keystone, username: str, password: str, project: str):
    auth = v3.Password(auth_url=f"{keystone.main}/v3", username=username, password=password,
                       user_domain_id="default", project_name=project,
                       project_domain_id="default")
    return ks_session.Session(auth=auth, timeout=10)


@pytest.fixture(scope="module")
def owner(http_keystone):
    """(user id, project id, keystoneclient of the user on ``demo``): a new password user."""
    admin = client.Client(session=session_of(http_keystone, "admin", ADMIN_PASSWORD, "admin"),
                          interface="admin")
    name, password = f"ec2-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    user = admin.users.create(name, domain="default", password=password)
    project = admin.projects.find(name=CERT_PROJECT)
    admin.roles.grant(admin.roles.find(name="member"), user=user, project=project)
    own = client.Client(session=session_of(http_keystone, name, password, CERT_PROJECT),
                        interface="public")
    return user.id, project.id, own


@pytest.fixture(scope="module")
def ec2_api(http_keystone):
    """ec2-api's session: the service user's."""
    return session_of(http_keystone, SERVICE_USER, SERVICE_PASSWORD, SERVICE_PROJECT)


def test_keystoneclient_manages_a_users_own_ec2_credentials(owner):
    user_id, project_id, own = owner
    created = own.ec2.create(user_id, project_id)
    assert (created.user_id, created.tenant_id) == (user_id, project_id)
    assert created.access and created.secret
    assert created.access in [credential.access for credential in own.ec2.list(user_id)]
    assert own.ec2.get(user_id, created.access).secret == created.secret
    own.ec2.delete(user_id, created.access)
    with pytest.raises(ks_exceptions.NotFound):
        own.ec2.get(user_id, created.access)


def signed(credential, version: str) -> dict:
    """A GET DescribeInstances as ec2-api forwards it, signed by keystoneclient's Ec2Signer."""
    now = datetime.datetime.now(datetime.UTC)
    request = {"access": credential.access, "host": "ec2.example.com:8788", "verb": "GET",
               "path": "/", "body_hash": EMPTY_SHA256, "headers": {},
               "params": {"Action": "DescribeInstances", "Version": "2016-11-15"}}
    if version == "2":
        request["params"].update({"SignatureVersion": "2", "AWSAccessKeyId": credential.access,
                                  "Timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
    else:
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        request["headers"] = {
            "Host": "ec2.example.com:8788", "X-Amz-Date": amz_date,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={credential.access}/{amz_date[:8]}"
                             "/RegionOne/ec2/aws4_request, SignedHeaders=host;x-amz-date"}
    request["signature"] = ec2_utils.Ec2Signer(credential.secret).generate(request)
    return request


@pytest.mark.parametrize("version", ["2", "4"])
def test_ec2tokens_accepts_what_keystones_signer_signs(http_keystone, owner, ec2_api, version):
    user_id, project_id, own = owner
    credential = own.ec2.create(user_id, project_id)
    request = signed(credential, version)
    url = f"{http_keystone.main}/v3/ec2tokens"

    response = ec2_api.post(url, json={"credentials": request})
    token = response.json()["token"]
    assert (token["methods"], token["user"]["id"], token["project"]["id"]) == (
        ["ec2credential"], user_id, project_id)
    assert response.headers["X-Subject-Token"]

    tampered = {**request, "params": {**request["params"], "Action": "TerminateInstances"}}
    with pytest.raises(ks_exceptions.Unauthorized):
        ec2_api.post(url, json={"credentials": tampered})
    own.ec2.delete(user_id, credential.access)
    with pytest.raises(ks_exceptions.Unauthorized):
        ec2_api.post(url, json={"credentials": request})
