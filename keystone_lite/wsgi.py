"""Load the main or admin application from the paste file: the code behind httpd/*.py.

The paste file is ``$KEYSTONE_LITE_PASTE`` if set, else ``../etc/keystone-lite-paste.ini``
beside the calling script (the layout of a checkout or of an installed tree), else the copy
installed with the package (see ``paste_file``). The service
configuration is then found as the paste file says (``$KEYSTONE_LITE_CONFIG`` first).
"""
from __future__ import annotations

import logging
import os
import sys

from paste.deploy import loadapp

PASTE_ENV_VAR = "KEYSTONE_LITE_PASTE"
PASTE_NAME = "keystone-lite-paste.ini"


def paste_file(script: str) -> str:
    """$KEYSTONE_LITE_PASTE, else the first paste file found among: ``../etc/`` beside
    ``script`` (a checkout, or an install laid out like one), the copy pip installs under
    ``<prefix>/share/keystone-lite/``, and ``/etc/keystone-lite/``."""
    if os.environ.get(PASTE_ENV_VAR):
        return os.path.normpath(os.environ[PASTE_ENV_VAR])
    candidates = [
        os.path.join(os.path.dirname(os.path.abspath(script)), os.pardir, "etc", PASTE_NAME),
        os.path.join(sys.prefix, "share", "keystone-lite", PASTE_NAME),
        os.path.join("/etc/keystone-lite", PASTE_NAME),
    ]
    for candidate in candidates:
        if os.path.exists(candidate):
            return os.path.normpath(candidate)
    return os.path.normpath(candidates[0])  # paste's error then names the expected place


def load_application(name: str, script: str):
    """The WSGI app ``name`` (``main`` or ``admin``); log records go to the server's error log."""
    logging.basicConfig(level=logging.INFO, format="keystone_lite %(levelname)s %(name)s: "
                        "%(message)s")
    return loadapp(f"config:{paste_file(script)}", name=name)
