"""gunicorn entry point for the Tempest run: the ``main`` and ``admin`` apps of the paste file
(``$KEYSTONE_LITE_PASTE``; the configuration from ``$KEYSTONE_LITE_CONFIG``) mounted at /main and
/admin on one port by keystone_lite's own dispatcher, as ``keystone-lite serve`` mounts them."""
from keystone_lite import server

application = server.Mounts(server.load_apps())
