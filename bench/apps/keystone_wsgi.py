"""gunicorn entry point for OpenStack Keystone: its own ``keystone.wsgi.api`` with argv hidden.

Keystone parses the host program's command line when it builds its app, and would take
gunicorn's options for its own; the config file comes from ``OS_KEYSTONE_CONFIG_FILES``.
"""
import sys

sys.argv = sys.argv[:1]

from keystone.wsgi.api import application  # noqa: E402,F401 - after hiding argv, on purpose
