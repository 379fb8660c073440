"""oslo.limit, the library Nova, Glance and Cinder enforce unified limits with, against
keystone_lite: its ``Enforcer`` reads the enforcement model, its endpoint (by id, or by service
type and region), the registered limits and the project limits, and accepts or refuses claims.

It is configured as a service configures it: an ``[oslo_limit]`` section read by oslo.config
(the library's global ``cfg.CONF``) with a password user holding ``reader`` on the system
(lists show a system token every project's limits) and ``valid_interfaces = admin``: the limit
and catalog reads oslo.limit makes are keystone_lite's admin API, on the admin app the catalog's
admin identity endpoint names. The registered limits and limits are made with
python-keystoneclient's managers.
"""
from __future__ import annotations

import uuid

import pytest

from compat_clients import require
from conftest import CERT_PROJECT

from builders import ADMIN_PASSWORD

v3 = require("keystoneauth1.identity.v3")
ks_session = require("keystoneauth1.session")
client = require("keystoneclient.v3.client")
cfg = require("oslo_config.cfg")
limit = require("oslo_limit.limit")
limit_exception = require("oslo_limit.exception")

pytestmark = [
    pytest.mark.compat,
    # openstacksdk 4.22 warns about its own call (proxy._get_cache_key_prefix passes
    # service_type to its _extract_name) on every request oslo.limit makes.
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
]

READER, READER_PASSWORD = "limits-reader", "limits-reader-secret"
SERVICE_TYPE = "compute-limits"


@pytest.fixture(scope="module")
def keystone(http_keystone):
    """A keystoneclient of the bootstrap admin (admin project), on the admin app."""
    auth = v3.Password(auth_url=f"{http_keystone.main}/v3", username="admin",
                       password=ADMIN_PASSWORD, user_domain_id="default",
                       project_name="admin", project_domain_id="default")
    return client.Client(session=ks_session.Session(auth=auth, timeout=10), interface="admin")


@pytest.fixture(scope="module")
def quota(keystone):
    """A service with a public endpoint in RegionOne, its registered limits cores (10), ram
    (512) and gpus (-1: unlimited), a cores limit of 4 for the project demo, another project
    without limits, and the system reader oslo.limit logs in as."""
    service = keystone.services.create(name="nova-limits", type=SERVICE_TYPE)
    endpoint = keystone.endpoints.create(service, "http://127.0.0.1:9/compute", "public",
                                         region="RegionOne")
    for name, default in (("cores", 10), ("ram", 512), ("gpus", -1)):
        keystone.registered_limits.create(service, name, default, region="RegionOne")
    demo = keystone.projects.find(name=CERT_PROJECT)
    other = keystone.projects.create(f"other-{uuid.uuid4().hex[:8]}", "default")
    cores = keystone.limits.create(demo, service, "cores", 4, region="RegionOne")
    reader = keystone.users.create(READER, domain="default", password=READER_PASSWORD)
    keystone.roles.grant(keystone.roles.find(name="reader"), user=reader, system="all")
    return {"service": service, "endpoint": endpoint, "demo": demo.id, "other": other.id,
            "cores": cores}


@pytest.fixture
def oslo_limit_config(tmp_path, http_keystone, quota, monkeypatch):
    """Write ``[oslo_limit]`` as a service would and load it into oslo.limit's ``CONF``;
    yields a function taking the endpoint options. oslo.limit keeps one SDK connection per
    process: it is dropped after each test."""
    def configure(**endpoint):
        lines = ["[oslo_limit]", "auth_type = password", f"auth_url = {http_keystone.main}/v3",
                 f"username = {READER}", f"password = {READER_PASSWORD}",
                 "user_domain_id = default", "system_scope = all", "valid_interfaces = admin",
                 *(f"{key} = {value}" for key, value in endpoint.items())]
        path = tmp_path / "service.conf"
        path.write_text("\n".join(lines) + "\n")
        cfg.CONF(args=[], project="limits-test", default_config_files=[str(path)])
        monkeypatch.setattr(limit, "_SDK_CONNECTION", None)
    yield configure
    cfg.CONF.reset()
    cfg.CONF.clear()


def usage_of(used: dict):
    """A usage callback reporting ``used`` for every project."""
    return lambda project_id, resource_names: {name: used.get(name, 0)
                                               for name in resource_names}


def test_enforcer_accepts_claims_within_the_project_limit_and_refuses_beyond(
        oslo_limit_config, quota):
    oslo_limit_config(endpoint_id=quota["endpoint"].id)
    enforcer = limit.Enforcer(usage_of({"cores": 3, "ram": 500}))

    enforcer.enforce(quota["demo"], {"cores": 1})  # 3 + 1 <= 4, demo's own limit
    with pytest.raises(limit_exception.ProjectOverLimit) as refused:
        enforcer.enforce(quota["demo"], {"cores": 2, "ram": 12})
    (over,) = refused.value.over_limit_info_list
    assert (over.resource_name, over.limit, over.current_usage, over.delta) == (
        "cores", 4, 3, 2)
    # Without a project limit the registered default holds; -1 is unlimited.
    enforcer.enforce(quota["other"], {"cores": 7, "ram": 12, "gpus": 10 ** 6})
    with pytest.raises(limit_exception.ProjectOverLimit):
        enforcer.enforce(quota["other"], {"ram": 13})
    # A resource without a registered limit has none to claim.
    with pytest.raises(limit_exception.ProjectOverLimit):
        enforcer.enforce(quota["demo"], {"disks": 1})

    usage = enforcer.calculate_usage(quota["demo"], ["cores", "ram"])
    assert (usage["cores"].limit, usage["cores"].usage) == (4, 3)
    assert (usage["ram"].limit, usage["ram"].usage) == (512, 500)


def test_enforcer_finds_its_endpoint_by_service_type_and_region(oslo_limit_config, quota):
    oslo_limit_config(endpoint_service_type=SERVICE_TYPE, endpoint_region_name="RegionOne",
                      endpoint_interface="public")
    enforcer = limit.Enforcer(usage_of({}))
    assert dict(enforcer.get_registered_limits(["cores", "ram", "gpus"])) == {
        "cores": 10, "ram": 512, "gpus": -1}
    assert dict(enforcer.get_project_limits(quota["demo"], ["cores", "ram"])) == {
        "cores": 4, "ram": 512}


def test_a_changed_limit_is_what_a_new_enforcer_enforces(oslo_limit_config, quota,
                                                           keystone):
    oslo_limit_config(endpoint_id=quota["endpoint"].id)
    busy = usage_of({"cores": 5})
    with pytest.raises(limit_exception.ProjectOverLimit):
        limit.Enforcer(busy).enforce(quota["demo"], {"cores": 1})
    keystone.limits.update(quota["cores"], resource_limit=6)
    try:
        limit.Enforcer(busy, cache=False).enforce(quota["demo"], {"cores": 1})
    finally:
        keystone.limits.update(quota["cores"], resource_limit=4)


def test_keystone_lite_reports_the_flat_model_oslo_limit_implements(oslo_limit_config, quota):
    oslo_limit_config(endpoint_id=quota["endpoint"].id)
    enforcer = limit.Enforcer(usage_of({}))
    assert enforcer.model.name == "flat"
