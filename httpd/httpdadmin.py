"""mod_wsgi entry point of the admin application: WSGIScriptAlias /admin."""
from keystone_lite.wsgi import load_application

application = load_application("admin", __file__)
