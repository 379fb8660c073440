"""mod_wsgi entry point of the main (public) application: WSGIScriptAlias /main."""
from keystone_lite.wsgi import load_application

application = load_application("main", __file__)
