"""Keystone's OAuth 2.0 mutual-TLS client authentication (``tls_client_auth``, RFC 8705) for
``POST /v3/OS-OAUTH2/token``: a client certificate alone earns a token.

As Keystone 30 (keystone/api/os_oauth2.py): ``client_id`` is a user id; the user must exist,
have a default project, and be the user the certificate names (``mapped_user_fields``: each
field it gives — name, id, email, domain id, domain name — must equal the user's). The token is
scoped to the default project, made with the method ``oauth2_credential`` (shown as
``"methods": []``, as Keystone shows it) and always bound to the certificate: its body carries
``oauth2_credential: {"x5t#S256"}``, keystonemiddleware's ``oauth2_mtls_token`` filter compares
it with the certificate of the connection presenting the token, and keystone_lite refuses it as
``X-Auth-Token`` over another certificate. It ends with the certificate at the latest, dies when
the certificate is revoked, and is never exchanged for another token (as Keystone: a
delegated token).

Every refusal is ``ClientRefused`` (401 ``invalid_client``, "Client authentication failed.", as
Keystone), its reason logged for the operator only.
"""
from __future__ import annotations

import json
import logging

from cryptography import x509

from keystone_lite import audit, errors
from keystone_lite.certificates import assertion, mapping, mapping_store, \
    records as certificate_records
from keystone_lite.context import get_context
from keystone_lite.db import models
from keystone_lite.escape import printable
from keystone_lite.identity import store
from keystone_lite.token.payload import OAUTH2_CREDENTIAL
from keystone_lite.token.service import Scope, ValidatedToken

LOG = logging.getLogger(__name__)
# Keystone's [oauth2] oauth2_cert_dn_mapping_id default: the federation mapping whose rules
# turn the certificate's subject and issuer DN into the user fields compared below.
KEYSTONE_MAPPING_ID = "oauth2_mapping"
_MAX_CLIENT_ID = 64  # a user id is at most that long


class ClientRefused(errors.Unauthorized):
    """The client is not authenticated (OAuth2: ``invalid_client``)."""

    default_message = "Client authentication failed."


def mapped_user_fields(services, context: dict, rules) -> dict | None:
    """The user the request's client certificate names, as Keystone's mapping gives it:
    ``{"name", "id", "email", "domain": {"id" | "name"}}``, each optional; None when the
    certificate names nobody.

    This is the one step a mapping engine replaces: Keystone applies the rules of the
    federation mapping ``[oauth2] oauth2_cert_dn_mapping_id`` (``KEYSTONE_MAPPING_ID``) to the
    certificate's ``SSL_CLIENT_SUBJECT_DN_*`` / ``SSL_CLIENT_ISSUER_DN_*`` and refuses every
    client when that mapping does not exist; it has no default rules. keystone_lite applies
    that mapping's rules when it exists (keystone_lite.certificates.mapping); without it, it
    names the user as every certificate login does (cert_auth): the subject's
    user name (``[cert_auth] user_attribute``, or the server's ``REMOTE_USER``) in the domain
    named by ``REMOTE_DOMAIN``, else in the default domain.

    ``context`` is the request context (keystone_lite.context): ``remote_user``,
    ``remote_domain`` and ``cert`` (with ``presented``, the certificate itself) from cert_auth.
    ``rules``: those of the mapping ``KEYSTONE_MAPPING_ID`` (mapping_store.load_rules), or
    None when it does not exist.
    """
    if rules is not None:
        certificate = certificate_records.presented(context)
        if certificate is None:
            return None
        outcome = mapping.evaluate(rules, assertion.assertion_from_certificate(
            x509.load_der_x509_certificate(certificate.der)))
        if not outcome.matched:
            LOG.info("OAuth2 mTLS: no rule of the mapping %r matched the certificate: %s",
                     KEYSTONE_MAPPING_ID, outcome.summary())
        return outcome.user if outcome.matched else None
    name = context["remote_user"]
    if name is None:
        return None
    domain = {"name": context["remote_domain"]} if context["remote_domain"] else {
        "id": services.settings.default_domain_id}
    return {"name": name, "domain": domain}


def mismatch(expected: dict, user, domain, email) -> tuple[str, str, str | None] | None:
    """The first field ``expected`` (see ``mapped_user_fields``) gives that the user does not
    have, as ``(what, expected value, user's value)``; None when all agree. Keystone's
    comparisons, in its order; a field absent or empty is not compared. ``email()`` reads the
    user's email (an extra attribute) only when a mapping asks for it."""
    wanted = expected.get("domain") or {}
    checks = (("user name", expected.get("name"), lambda: user.name),
              ("user id", expected.get("id"), lambda: user.id),
              ("user email", expected.get("email"), email),
              ("user domain id", wanted.get("id"), lambda: domain.id),
              ("user domain name", wanted.get("name"), lambda: domain.name))
    for what, value, actual in checks:
        if value and value != (have := actual()):
            return what, value, have
    return None


class TlsClientAuth:
    """The grant: ``issue(req, session, client_id)`` → the bound token, or ClientRefused."""

    def __init__(self, services, v3):
        self.services = services
        self.tokens = services.tokens
        self.v3 = v3  # the TokenController: its lookups (find) and stamp

    @audit.authentication(default=audit.CERTIFICATE_REFUSED)
    def issue(self, req, session, client_id: str) -> ValidatedToken:
        find = self.v3.find(req, session)  # before the session's first read: see find
        context = get_context(req.environ)
        certificate = certificate_records.presented(context)
        if certificate is None:
            raise _refused("the web server exported no client certificate it verified "
                           "(mod_ssl: SSLOptions +ExportCertData)")
        user = find(store.find_user, user_id=client_id) \
            if len(client_id) <= _MAX_CLIENT_ID else None
        if user is None:
            raise _refused("no user has the client_id %s", _quoted(client_id))
        if not user.enabled:
            raise _refused("user %s is disabled", user.id)
        if not user.default_project_id:
            raise _refused("user %s has no default project", user.id)
        expected = mapped_user_fields(self.services, context, mapping_store.load_rules(
            session, KEYSTONE_MAPPING_ID))
        if expected is None:
            raise _refused("the client certificate (subject %s) names no user",
                           _quoted(certificate.subject_dn))
        domain = find(store.find_domain, domain_id=user.domain_id)
        different = mismatch(expected, user, domain, lambda: _email(session, user.id))
        if different is not None:
            what, value, have = different
            raise _refused("the certificate's %s %s is not user %s's (%s)", what,
                           _quoted(value), user.id, _quoted(have))
        return self.tokens.issue(session, self.v3.stamp(req), user, [OAUTH2_CREDENTIAL],
                                 Scope("project", user.default_project_id),
                                 certificate=certificate, bound=True)


def _refused(reason: str, *args) -> ClientRefused:
    LOG.info("OAuth2 mTLS token refused: " + reason, *args)
    return ClientRefused()


def _quoted(value) -> str:
    return printable(repr(value)) if value is not None else "(none)"


def _email(session, user_id: str) -> str | None:
    """The user's ``email`` attribute (kept with the API's extra attributes), or None."""
    row = session.get(models.User, user_id)
    extra = json.loads(row.extra) if row is not None and row.extra else {}
    email = extra.get("email")
    return email if isinstance(email, str) else None
