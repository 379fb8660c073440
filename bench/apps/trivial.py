"""The ceiling: a trivial WSGI app answering a small JSON document (gunicorn and mod_wsgi)."""

BODY = b'{"ok": true}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", list(HEADERS))
    return [BODY]
