"""The account app, mounted at ``/account`` of the main app (``/main/account``).

- ``GET /account``: the page (keystone_lite.account.page) of the user the client certificate
  makes its holder, found as the ``external`` login finds them (mapping rules included) but
  read only: looking never provisions a user or changes a group.
- ``POST /account/revoke``: revoke every token of that user, by moving the user's revision
  (keystone_lite.identity.store.move_revision): one UPDATE, whatever the number of tokens, and
  nothing stored per token. Then 303 back to the page. Refused with 403 without the page's form
  token or from another origin (keystone_lite.account.forms).
- ``GET /account/clouds.yaml``, ``/account/openrc``: certificate login for the openstack
  command (keystone_lite.account.downloads).

Errors are Keystone's JSON, except for a browser (``Accept`` names ``text/html``), which gets a
page saying what is wrong and, for a 401, how to present a certificate (``AccountErrors``, the
outermost filter of the pipeline, which also adds page.HEADERS to every response).
"""
from __future__ import annotations

import datetime
import logging

import webob
from cryptography import x509

from keystone_lite import errors
from keystone_lite.account import downloads, forms, page
from keystone_lite.certificates import records as certificates
from keystone_lite.certificates.mapped_login import Refusal, direct_find
from keystone_lite.context import get_context
from keystone_lite.escape import printable
from keystone_lite.identity import store
from keystone_lite.token.authentication import Authenticator

LOG = logging.getLogger(__name__)
NO_CERTIFICATE = ("Your browser presented no client certificate, so this page cannot tell who "
                  "you are.")
NOT_A_USER = ("The client certificate you presented was verified, but it logs in no enabled "
              "user. The operator's log says why, under this request's id "
              "(X-Openstack-Request-Id).")
CERTIFICATE_REVOKED = "The client certificate you presented is revoked."
DOWNLOADS = {"clouds.yaml": (downloads.clouds_yaml, "application/yaml"),
             "openrc": (downloads.openrc, "text/plain")}
FORM_REFUSED = ("The form was refused: it did not come from this page (a missing or expired "
                "form token, or another site). Reload the account page and try again.")


class AccountController:
    def __init__(self, services):
        self.services = services
        self.authenticator = Authenticator(services)
        self.form_tokens = forms.FormTokens(forms.key_source(services))

    def routes(self):
        return [
            (r"/", {"GET": self.show}),
            (r"/revoke", {"POST": self.revoke}),
            # Alternatives the fuzzer reads as literals; the handler takes exact names only.
            (r"/(?P<name>clouds.yaml|openrc)", {"GET": self.download}),
        ]

    # GET /account
    def show(self, req, session):
        user = self.user_of(req, session)
        context = get_context(req.environ)
        cert = context["cert"] or {}
        presented = cert.get("presented")
        domain = store.find_domain(session, domain_id=user.domain_id)
        account = page.Account(
            user_name=user.name, user_id=user.id,
            domain_name=domain.name if domain else "", domain_id=user.domain_id,
            subject_dn=cert.get("subject_dn") or (presented and presented.subject_dn),
            issuer_dn=cert.get("issuer_dn") or (presented and presented.issuer_dn),
            not_after=presented and presented.not_after,
            thumbprint=cert.get("sha256"),
            **grants(session, user.id))
        html = page.account_page(
            account, base=req.script_name,
            form_token=self.form_tokens.issue(user.id, binding(context)),
            revoked="revoked" in req.GET, now=datetime.datetime.now(datetime.timezone.utc))
        return webob.Response(html, content_type="text/html", charset="utf-8")

    # POST /account/revoke
    def revoke(self, req, session):
        if not forms.same_origin(req):
            LOG.warning("account form refused (request id %s): origin %s, referer %s",
                        get_context(req.environ)["request_id"],
                        printable(repr(req.headers.get("Origin"))),
                        printable(repr(req.headers.get("Referer"))))
            raise errors.Forbidden(FORM_REFUSED)
        user = self.user_of(req, session)
        context = get_context(req.environ)
        if not self.form_tokens.check(user.id, binding(context), req.POST.get("csrf_token")):
            LOG.warning("account form refused (request id %s): no valid form token for user %s",
                        context["request_id"], user.id)
            raise errors.Forbidden(FORM_REFUSED)
        store.move_revision(session, store.find_user(session, user_id=user.id))
        self.services.audit.changed(req, session, "updated", "user", user.id,
                                    who={"user_id": user.id, "name": user.name},
                                    tokens_revoked=True)
        LOG.info("user %s revoked all their tokens from the account page (request id %s)",
                 user.id, context["request_id"])
        return webob.Response(status=303, location=f"{req.script_name}?revoked",
                              content_type=None, charset=None)

    # GET /account/clouds.yaml, /account/openrc
    def download(self, req, session, name):
        if name not in DOWNLOADS:
            raise errors.NotFound("The resource could not be found.")
        render, content_type = DOWNLOADS[name]
        user = self.user_of(req, session)
        response = webob.Response(render(errors.base_url(req), user.id),
                                  content_type=content_type, charset="utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def user_of(self, req, session):
        """The enabled user the request's client certificate logs in, read only; 401 with
        what is wrong otherwise (the reason for the log, not for the client)."""
        context = get_context(req.environ)
        if context["remote_user"] is None:
            raise errors.Unauthorized(NO_CERTIFICATE)
        presented = certificates.presented(context)
        tokens = self.services.tokens
        if presented is not None and tokens.certificate_revoked(
                session, tokens.stamp(context), presented):
            raise errors.Unauthorized(CERTIFICATE_REVOKED)
        find = direct_find(session)
        mapper = self.authenticator.mapper
        try:
            if mapper is None:
                return self.authenticator.external_user(find, context, session, req.environ)
            return mapped_user(mapper, session, find, req.environ)
        except errors.Unauthorized:
            raise errors.Unauthorized(NOT_A_USER) from None
        except Refusal as refusal:
            LOG.info("account page: the certificate logs in no user (request id %s): %s",
                     context["request_id"], printable(str(refusal), 2000))
            raise errors.Unauthorized(NOT_A_USER) from None


def mapped_user(mapper, session, find, environ):
    """The user the mapping rules give the certificate, if they exist already (a first login
    provisions them: the page does not)."""
    pem = environ.get("SSL_CLIENT_CERT")
    if not pem:
        raise Refusal("the web server passed no client certificate (SSL_CLIENT_CERT)")
    _reading, outcome = mapper.explain(find, x509.load_pem_x509_certificate(pem.encode("ascii")))
    if not outcome.matched:
        raise Refusal(f"no mapping rule matches: {outcome.summary()}")
    user = mapper.resolve(session, find, outcome).user
    if user is None:
        raise Refusal("the rules name a user who does not exist yet; a first login with a "
                      "token request provisions them")
    return user


def binding(context: dict) -> str:
    """What ties a form token to the certificate besides its user: its thumbprint, else its
    subject and issuer (a web server that does not export the certificate)."""
    cert = context["cert"] or {}
    return cert.get("sha256") or f"{cert.get('subject_dn')}|{cert.get('issuer_dn')}"


def grants(session, user_id: str) -> dict:
    """The page's ``projects``, ``domains`` and ``system`` (page.Grant), sorted by name."""
    domain_names = {}

    def domain_name(domain_id):
        if domain_id not in domain_names:
            found = store.find_domain(session, domain_id=domain_id)
            domain_names[domain_id] = found.name if found else domain_id
        return domain_names[domain_id]

    def names(target_type, target_id):
        return tuple(role.name for role in store.roles_on(session, user_id, target_type,
                                                          target_id))

    projects = sorted(store.projects_for_user(session, user_id),
                      key=lambda project: (project.name, project.id))
    system = names("system", "all")
    return {
        "projects": [page.Grant(project.name, project.id, domain_name(project.domain_id),
                                names("project", project.id)) for project in projects],
        "domains": [page.Grant(domain.name, domain.id, "", names("domain", domain.id))
                    for domain in store.domains_for_user(session, user_id)],
        "system": page.Grant("system", "all", "", system) if system else None,
    }


class AccountErrors:
    """Outermost filter of the account pipeline: page.HEADERS on every response, and errors as
    a page for a browser (Keystone's JSON for everyone else)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        req = webob.Request(environ)
        try:
            response = req.get_response(self.app)
        except errors.KeystoneError as error:
            if error.code >= 500:
                raise  # catch_errors logs it, with the detail
            response = errors.render(error, req)
            if wants_html(req):
                response.content_type, response.charset = "text/html", "utf-8"
                response.text = page.error_page(error.code, error.title, error.message,
                                                get_context(environ)["request_id"])
        response.headers.update(page.HEADERS)
        return response(environ, start_response)


def wants_html(req) -> bool:
    """A browser: it names text/html in Accept (curl and the OpenStack clients do not)."""
    return "text/html" in req.headers.get("Accept", "")
