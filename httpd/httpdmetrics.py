"""mod_wsgi entry point of GET /metrics on the plain-HTTP health VirtualHost (no certificate)."""
from keystone_lite.wsgi import load_application

application = load_application("metrics", __file__)
