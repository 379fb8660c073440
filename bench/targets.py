"""Build the apps under test in the running process: keystone_lite or OpenStack Keystone.

Each builder imports only its own product, so it runs in that product's virtualenv. Both return
``(public_app, admin_app)``: keystone_lite's ``main`` and ``admin`` paste apps, Keystone's one
Flask app twice (it has served both since v2.0 was removed).
"""
from __future__ import annotations

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASTE_INI = os.path.join(REPO, "etc", "keystone-lite-paste.ini")


def build_lite(config: str):
    """Load both paste apps of ``etc/keystone-lite-paste.ini`` for the config file ``config``."""
    from paste.deploy import loadapp
    os.environ["KEYSTONE_LITE_CONFIG"] = config
    return (loadapp(f"config:{PASTE_INI}", name="main"),
            loadapp(f"config:{PASTE_INI}", name="admin"))


def build_keystone(config: str):
    """Keystone's WSGI app through its own entry point (``keystone.server.wsgi``).

    Keystone parses the host program's command line when it builds the app; the benchmark's
    arguments would be taken for Keystone's, so they are hidden while it builds.
    """
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = config
    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        from keystone.server import wsgi
        app = wsgi.initialize_public_application()
    finally:
        sys.argv = argv
    return app, app


BUILDERS = {"lite": build_lite, "keystone": build_keystone}


def build(target: str, config: str):
    """``(public_app, admin_app)`` of ``target`` (a key of BUILDERS)."""
    try:
        builder = BUILDERS[target]
    except KeyError:
        raise SystemExit(f"unknown target {target!r}; choose one of: {', '.join(BUILDERS)}")
    return builder(config)
