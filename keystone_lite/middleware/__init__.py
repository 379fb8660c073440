"""WSGI filters of the Paste Deploy pipelines (request id, body limit, errors, auth, JSON)."""
