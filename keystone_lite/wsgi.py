"""Load the main or admin application from the paste file: the code behind httpd/*.py.

The paste file is ``$KEYSTONE_LITE_PASTE`` if set, else ``../etc/keystone-lite-paste.ini``
beside the calling script (the layout of a checkout or of an installed tree). The service
configuration is then found as the paste file says (``$KEYSTONE_LITE_CONFIG`` first).
"""
from __future__ import annotations

import logging
import os

from paste.deploy import loadapp

PASTE_ENV_VAR = "KEYSTONE_LITE_PASTE"


def paste_file(script: str) -> str:
    default = os.path.join(os.path.dirname(os.path.abspath(script)), os.pardir, "etc",
                           "keystone-lite-paste.ini")
    return os.path.normpath(os.environ.get(PASTE_ENV_VAR) or default)


def load_application(name: str, script: str):
    """The WSGI app ``name`` (``main`` or ``admin``); log records go to the server's error log."""
    logging.basicConfig(level=logging.INFO, format="keystone_lite %(levelname)s %(name)s: "
                        "%(message)s")
    return loadapp(f"config:{paste_file(script)}", name=name)
