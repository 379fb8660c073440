"""Who the client is: the ``external`` (certificate; through mapping rules when configured:
keystone_lite.certificates.mapped_login), ``password``, ``token`` and
``application_credential`` (keystone_lite.token.application_credential) methods of a v3
``auth.identity`` document, and ``oauth1`` (keystone_lite.oauth1.method).

This runs before anything else the request names (its scope) is looked up: see
keystone_lite.token.body. A failed authentication is a bare 401, the same whatever failed.

Password logins are bounded: the hash runs in one of a few slots (PasswordHasher), and an
account locks after repeated failures (keystone_lite.identity.lockout). The hash runs for a
missing user, a certificate-only user and a locked account alike, so neither the answer nor
its time tells them from a wrong password.
"""
from __future__ import annotations

import dataclasses
import logging

from keystone_lite import errors, metrics
from keystone_lite.certificates import records as certificates
from keystone_lite.context import get_context
from keystone_lite.db import models, session as db_session
from keystone_lite.identity import store
from keystone_lite.oauth1 import method as oauth1_method
from keystone_lite.token import application_credential
from keystone_lite.token.body import domain_reference, field
from keystone_lite.token.payload import EC2_CREDENTIAL, OAUTH2_CREDENTIAL, now_us
from keystone_lite.token.service import ValidatedToken

LOG = logging.getLogger(__name__)
METHODS = ("external", "password", "token", oauth1_method.METHOD, application_credential.METHOD)


@dataclasses.dataclass(frozen=True)
class Authenticated:
    user: object  # a snapshot (see Base.snapshot) or a row of the request's session
    methods: list[str]
    parent: ValidatedToken | None  # the token presented by the ``token`` method
    access_token: object | None = None  # the OAuth1 access token of the ``oauth1`` method
    # The credential of the ``application_credential`` method (a snapshot), if used.
    application_credential: object = None
    # The client certificate of the ``external`` method, when the server exported it.
    certificate: object = None


def parse_methods(identity: dict, remote_user: str | None) -> list[str]:
    methods = field(identity, "methods", list, "auth.identity")
    if not all(isinstance(method, str) for method in methods):
        raise errors.ValidationError("Invalid type for auth.identity.methods.")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise errors.ValidationError(
            f"Unsupported authentication method: {unknown[0][:64]}; supported: "
            f"{', '.join(METHODS)}.")
    if len(set(methods)) != len(methods):
        raise errors.ValidationError("An authentication method is repeated in "
                                     "auth.identity.methods.")
    if not methods:
        if remote_user is None:
            raise no_remote_user()
        methods = ["external"]  # what the web server verified is the credential
    return methods


def no_remote_user() -> errors.Unauthorized:
    """External authentication without an identity from the web server: logged, 401."""
    LOG.info("external authentication refused: the web server verified no client "
             "certificate (no REMOTE_USER)")
    metrics.auth_failed("no_certificate")
    return errors.Unauthorized("External authentication needs a client certificate verified "
                               "by the web server.")


def presented_by_holder(token: ValidatedToken, context: dict) -> bool:
    """Whether a bound token comes over the certificate it is bound to (always true for an
    unbound one); a refusal is logged with the token's audit id."""
    if not token.payload.bound or certificates.same_certificate(
            token.certificate, certificates.presented(context)):
        return True
    LOG.warning("bound token %s refused (request id %s): presented %s", token.payload.audit_ids[0],
                context["request_id"], "without a client certificate"
                if certificates.presented(context) is None else "over another certificate")
    return False


class Authenticator:
    def __init__(self, services):
        self.settings = services.settings
        self.tokens = services.tokens
        self.services = services  # .passwords is read at each use (tests put a counting one)
        self.lockout = services.lockout
        # [cert_auth] mapping_file / mapping_id: the rules say who a certificate is (the rule
        # engine is imported only then: deployments without rules never load it).
        self.mapper = None
        if self.settings.maps_certificates:
            from keystone_lite.certificates.mapped_login import CertificateMapper
            self.mapper = CertificateMapper(self.settings)

    def authenticate(self, req, session, find, identity: dict) -> Authenticated:
        """Run every requested method; all must succeed and name the same user, who must also
        be the certificate's user when the web server verified one. 401 otherwise."""
        context = get_context(req.environ)
        methods = parse_methods(identity, context["remote_user"])
        if oauth1_method.METHOD in methods:
            return self.oauth1(req, session, methods)
        users, parent, credential = [], None, None
        for method in methods:
            if method == "external":
                users.append(self.external_user(find, context, session, req.environ))
            elif method == "password":
                users.append(self.password_user(session, find, field(
                    identity, "password", dict, "auth.identity")))
            elif method == application_credential.METHOD:
                verified = application_credential.authenticate(self.services, session, find, field(
                    identity, application_credential.METHOD, dict, "auth.identity"))
                users.append(verified.user)
                credential = verified.credential
            else:
                parent = self.parent_token(context, session, field(identity, "token", dict,
                                                                   "auth.identity"))
                users.append(parent.user)
        if context["remote_user"] is not None and "external" not in methods:
            # As Keystone: a verified certificate is always a credential, so a password or
            # token of someone else presented over it is refused rather than silently honoured.
            users.append(self.external_user(find, context, session, req.environ))
        certificate = certificates.presented(context)
        if certificate is not None and self.tokens.certificate_revoked(
                session, self.tokens.stamp(context), certificate):
            # Whatever else comes with it: a revoked certificate is no one's credential.
            LOG.warning("login refused (request id %s): the client certificate %s is revoked",
                        context["request_id"], certificate.thumbprint)
            metrics.auth_failed("certificate_revoked")
            raise errors.Unauthorized("The client certificate is revoked.")
        if any(user.id != users[0].id for user in users):
            metrics.auth_failed("user_mismatch")
            raise errors.Unauthorized()
        return Authenticated(users[0], methods, parent, application_credential=credential,
                             certificate=certificate if "external" in methods else None)

    def external_user(self, find, context, session, environ):
        """The certificate's user: through the mapping rules when configured
        (keystone_lite.certificates.mapped_login), else the user named REMOTE_USER in the
        default domain or REMOTE_DOMAIN."""
        name = context["remote_user"]
        if name is None:
            raise no_remote_user()
        if self.mapper is not None:
            return self.mapper.login(session, find, environ, context["request_id"])
        domain_id = self.settings.default_domain_id
        if context["remote_domain"]:
            domain = find(store.find_domain, name=context["remote_domain"])
            if domain is None:
                LOG.info("external authentication refused: no domain named %r (REMOTE_DOMAIN)",
                         context["remote_domain"])
                metrics.auth_failed("unknown_user")
                raise errors.Unauthorized()
            domain_id = domain.id
        user = find(store.find_user, name=name, domain_id=domain_id)
        if user is None or not user.enabled:
            # The client only learns "401": which names exist is for the operator's eyes.
            LOG.info("external authentication refused: %s user %r in domain %r",
                     "no" if user is None else "disabled", name, domain_id)
            metrics.auth_failed("unknown_user" if user is None else "user_disabled")
            raise errors.Unauthorized()
        return user

    def password_user(self, session, find, password_doc):
        """The user whose password this is, read from the store itself: snapshots carry no
        password hash (and argon2 costs far more than the read).

        The user's domain is looked up by ``find``, which remembers only what exists: a
        client inventing domain names leaves nothing behind.
        """
        user_doc = field(password_doc, "user", dict, "auth.identity.password")
        password = field(user_doc, "password", str, "auth.identity.password.user")
        user_id = field(user_doc, "id", str, "auth.identity.password.user", required=False)
        if user_id is not None:
            user = store.find_user(session, user_id=user_id)
        else:
            name = field(user_doc, "name", str, "auth.identity.password.user")
            domain_ref = field(user_doc, "domain", dict, "auth.identity.password.user",
                               required=False)
            domain = find(store.find_domain, **(
                domain_reference(domain_ref, "auth.identity.password.user.domain")
                if domain_ref is not None else {"domain_id": self.settings.default_domain_id}))
            user = domain and store.find_user(session, name=name, domain_id=domain.id)
        password_hash = user.password_hash if user is not None else None
        locked, failures = self.lockout.standing(session, user.id) if user else (False, 0)
        user = user and user.snapshot()
        # The hash and the lockout's own write come next: the request holds no connection
        # meanwhile (it may wait for a hashing slot, and the write needs a connection).
        db_session.release_reads(session)
        # Verify even without a user, or for a locked one, so that timing tells nothing.
        if not self.services.passwords.verify(password_hash, password) or locked:
            if user is not None:
                self.lockout.failed(user.id)
            metrics.auth_failed("bad_password")
            raise errors.Unauthorized()
        if failures:
            self.lockout.succeeded(user.id)
        if self.services.passwords.needs_rehash(password_hash):
            # Imported from Keystone: argon2 from now on (the same password, same revision).
            store.replace_hash(session, models.User.password_hash, user.id, password_hash,
                               self.services.passwords.hash(password))
        if not user.enabled:
            metrics.auth_failed("user_disabled")
            raise errors.Unauthorized()
        if user.password_expires_at is not None and user.password_expires_at <= now_us():
            # As Keystone; only someone who knows the password learns it.
            metrics.auth_failed("password_expired")
            raise errors.Unauthorized(f"The password is expired and needs to be changed for "
                                      f"user: {user.id}.")
        return user

    def parent_token(self, context, session, token_doc) -> ValidatedToken:
        token_id = field(token_doc, "id", str, "auth.identity.token")
        try:
            parent = self.tokens.validate(self.tokens.stamp(context), token_id, session=session)
        except errors.TokenNotFound:
            metrics.auth_failed("invalid_token")
            raise errors.Unauthorized() from None
        if not presented_by_holder(parent, context):
            metrics.auth_failed("invalid_token")
            raise errors.Unauthorized()
        if EC2_CREDENTIAL in parent.payload.methods:
            # As Keystone: it stands on a signature, and must not become another token.
            raise errors.Forbidden("A token made from an EC2 or S3 signature cannot be "
                                   "exchanged for another token.")
        if OAUTH2_CREDENTIAL in parent.payload.methods:
            # As Keystone, which counts its "methods": [] among the delegated tokens.
            raise errors.Forbidden("You are not authorized to perform the requested action: "
                                   "Using a delegated token to create another token is not "
                                   "allowed.")
        if oauth1_method.is_delegated(parent):
            raise errors.Forbidden("Using OAuth-scoped token to create another token. Create a "
                                   "new OAuth-scoped token instead")
        return parent

    @staticmethod
    def oauth1(req, session, methods: list[str]) -> Authenticated:
        """The consumer's signature is the credential: it acts for the user who delegated, so
        a client certificate it presents (its own) is not compared with that user."""
        if methods != [oauth1_method.METHOD]:
            raise errors.ValidationError("The oauth1 method cannot be combined with others.")
        access_token = oauth1_method.authenticate(req, session)
        return Authenticated(oauth1_method.user_of(session, access_token), methods, None,
                             access_token=access_token)
