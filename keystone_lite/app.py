"""Paste Deploy app factories: the routers at the end of the main and admin pipelines.

``etc/keystone-lite-paste.ini`` mounts them under ``/``, ``/v3`` and ``/v2.0``. Each factory
builds its controllers once from the shared Services; nothing is configured per request, except
that the routes of rarely used features are built by their first request (``_feature_routes``).
"""
from __future__ import annotations

import functools

from keystone_lite import discovery, services
from keystone_lite.identity import password_change
from keystone_lite.identity.controller import IdentityController
from keystone_lite.router import Router
from keystone_lite.token.controller import TokenController
from keystone_lite.token.v2_controller import V2TokenController


def versions_factory(global_conf, **local_conf):
    """``/``: the 300 Multiple Choices document."""
    return Router(services.for_paste(global_conf), [(r"/", {"GET": discovery.versions})])


def _v3(global_conf, admin: bool):
    built = services.for_paste(global_conf)
    tokens = TokenController(built)
    routes = [(r"/", {"GET": discovery.v3})] + tokens.routes() + password_change.routes(built)
    identity = IdentityController(built) if admin else None
    if identity is not None:
        routes += identity.routes()
    return Router(built, routes, functools.partial(_feature_routes, built, tokens, identity))


def _feature_routes(built, tokens, identity) -> list:
    """The v3 routes of rarely used features: imported and built by the router on the first
    request that the token, password and admin identity routes do not match, so that start-up
    does not load their modules and tables (keystone_lite.db.feature_models).

    Self-service: credentials (EC2 ones too), trusts and application credentials, the OAuth 2.0
    token endpoint, and what services call (ec2tokens, s3tokens) are served by both apps, as a
    user's OAuth1 delegations are (docs/compatibility.md); the admin app adds unified limits,
    policies and OAuth1 consumers.
    """
    from keystone_lite.ec2 import credentials as ec2_credentials, tokens as ec2_tokens
    from keystone_lite.identity import application_credentials, credentials, trusts
    from keystone_lite.oauth1.delegation import DelegationController
    from keystone_lite.token import oauth2
    routes = (credentials.routes(built) + trusts.routes(built)
              + application_credentials.routes(built) + oauth2.routes(built)
              + ec2_credentials.routes(built) + ec2_tokens.routes(built, tokens)
              + DelegationController(built).routes())
    if identity is not None:
        # RFC 7662 introspection is for services: on admin, as the identity API.
        from keystone_lite.token import introspection
        routes += identity.feature_routes() + introspection.routes(built)
    return routes


def _v2(global_conf, admin: bool):
    built = services.for_paste(global_conf)
    routes = [(r"/", {"GET": discovery.v2})]
    routes += V2TokenController(built, TokenController(built)).routes(admin)
    return Router(built, routes)


def main_v3_factory(global_conf, **local_conf):
    return _v3(global_conf, admin=False)


def admin_v3_factory(global_conf, **local_conf):
    return _v3(global_conf, admin=True)


def main_v2_factory(global_conf, **local_conf):
    return _v2(global_conf, admin=False)


def admin_v2_factory(global_conf, **local_conf):
    return _v2(global_conf, admin=True)
