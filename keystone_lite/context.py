"""The request context: one dict in the WSGI environ under ``CONTEXT_KEY``.

Keys (set by the filters named):
- ``request_id`` (request_id): ``req-<uuid>``, also sent back as ``X-Openstack-Request-Id``.
- ``remote_user``, ``remote_domain`` (cert_auth): who the web server verified, or None. With
  mapping rules (``[cert_auth] mapping_file``/``mapping_id``) the rules say who the user is, and
  a certificate without the user attribute has its subject DN here, for logs only.
- ``cert`` (cert_auth): dict with ``subject_dn``, ``issuer_dn``, ``serial``, ``sha256`` of the
  client certificate when the server exported them, and ``presented`` (a
  certificates.records.Presented, when it exported the certificate itself), else None.
- ``caller`` (token_auth): the ValidatedToken behind ``X-Auth-Token``, or None.
- ``caller_token_invalid`` (token_auth): True when an ``X-Auth-Token`` was sent but is not valid.
- ``is_admin_token`` (token_auth): True when the caller presented the configured admin token.
- ``json`` (json_body): the parsed JSON object of the body, or None when there is no body.
- ``stamp`` (token_auth or the token controllers, at first use; see TokenService.stamp): the
  database change counter and the key version the request's cached answers are valid under.
"""
from __future__ import annotations

CONTEXT_KEY = "keystone_lite.context"


def get_context(environ: dict) -> dict:
    """Return the request's context dict, creating it on first use."""
    context = environ.get(CONTEXT_KEY)
    if context is None:
        context = environ[CONTEXT_KEY] = {
            "request_id": None,
            "remote_user": None,
            "remote_domain": None,
            "cert": None,
            "caller": None,
            "caller_token_invalid": False,
            "is_admin_token": False,
            "json": None,
            "stamp": None,
        }
    return context
