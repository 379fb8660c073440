"""The ``external`` method through mapping rules: certificate → assertion → rules → user.

With ``[cert_auth] mapping_file`` or ``mapping_id`` set, the rules alone say who a client
certificate is (``REMOTE_USER`` and ``REMOTE_DOMAIN`` are not consulted; a rule can capture
``SSL_CLIENT_SUBJECT_DN_UID`` to the same effect). The certificate is read from
``SSL_CLIENT_CERT`` (mod_ssl's ``SSLOptions +ExportCertData``; the embedded server always sets
it): without it the login is refused, since the DN strings alone lack the alternative names and
the thumbprint that rules may test, and a partial assertion would silently match other rules.

What the first matching rule's user names (keystone_lite.certificates.mapping.Outcome):

- ``id``: that user; ``name`` (in the rule's domain, else the default domain): that user;
  ``email`` alone: the one user with that email. Every other attribute the rule gives must
  agree with the user found (as Keystone's OAuth2 grant checks them), and the user must be
  enabled.
- No such user: refused, unless ``[cert_auth] provision_users = true`` and the rule does not
  say ``"type": "local"``: the user is then created on this first login, Keystone's shadow user
  (the rule's name, id and email, in the rule's domain, enabled, no password). Two first logins
  at once make one user (mapping_store.provision_user).

Groups the rules name become the user's memberships at each login (persisted, marked
``via_mapping``): their roles reach tokens through the membership like any group's
(store.roles_on), and a later login whose rules no longer name a group takes that membership
away (its tokens lose the roles at their next validation, on every node). Memberships made
through the API are never taken away. A group that does not exist is skipped and logged.

Every refusal is a bare 401 for the client and one log line with the request id saying why: for
a certificate no rule matched, the rules' trace. A steady-state login (user and memberships as
the rules say) writes nothing and reads only what the request's stamp has cached.
"""
from __future__ import annotations

import dataclasses
import logging

from cryptography import x509

from keystone_lite import errors, metrics
from keystone_lite.certificates import mapping_store
from keystone_lite.certificates.assertion import Reading, read_certificate
from keystone_lite.certificates.mapping import Outcome, Rules, evaluate
from keystone_lite.escape import printable
from keystone_lite.identity import store
from keystone_lite.tls_environ import dn_string

LOG = logging.getLogger(__name__)
NAME_MAX = 255  # users.name, groups.name, domains.name
ID_MAX = 64


class Refusal(Exception):
    """Why a certificate does not log in; ``operator``: the configuration is at fault."""

    def __init__(self, reason: str, operator: bool = False):
        super().__init__(reason)
        self.operator = operator


@dataclasses.dataclass(frozen=True)
class Resolution:
    """Who an outcome names in the store, read only: the ``user`` found (None: ``provision``
    says whom a login would create), its ``domain``, the ids of the ``groups`` that exist
    and ``notes`` on what was skipped."""

    user: object | None
    domain: object
    provision: dict | None
    group_ids: list[str]
    notes: list[str]


def direct_find(session):
    """A ``find`` (see keystone_lite.token.lookups) that remembers nothing: for the CLI."""
    def find(read, **by):
        found = read(session, **by)
        if isinstance(found, list):
            return tuple(item.snapshot() for item in found)
        return found.snapshot() if found is not None else None
    return find


class CertificateMapper:
    """Built once per process from the settings; ``login`` runs in a request's transaction."""

    def __init__(self, settings):
        self.file_rules = settings.mapping_rules
        self.mapping_id = settings.mapping_id
        self.provision = settings.provision_users
        self.default_domain_id = settings.default_domain_id
        self._parsed: dict = {}  # (id, rules text, schema version) -> Rules: the latest only

    def rules(self, find) -> Rules:
        """The rules in force: the file's, or the stored mapping's (parsed once per text)."""
        if self.file_rules is not None:
            return self.file_rules
        mapping = find(mapping_store.find_mapping, mapping_id=self.mapping_id)
        if mapping is None:
            raise Refusal(f"the mapping {self.mapping_id!r} named by [cert_auth] mapping_id does "
                          f"not exist (PUT /v3/OS-FEDERATION/mappings/{self.mapping_id} "
                          "creates it)", operator=True)
        key = (mapping.id, mapping.rules, mapping.schema_version)
        rules = self._parsed.get(key)
        if rules is None:
            try:
                rules = mapping_store.rules_of(mapping)
            except ValueError as error:
                raise Refusal(f"the stored mapping {mapping.id!r} is not valid: {error}",
                              operator=True) from None
            self._parsed = {key: rules}
        return rules

    def explain(self, find, certificate: x509.Certificate) -> tuple[Reading, Outcome]:
        reading = read_certificate(certificate)
        return reading, evaluate(self.rules(find), reading.assertion)

    def login(self, session, find, environ: dict, request_id: str | None):
        """The user the client certificate maps to (a snapshot or a row of ``session``),
        created and given its groups as the rules say; Unauthorized, logged, otherwise."""
        try:
            return self._login(session, find, environ)
        except Refusal as refusal:
            log = LOG.warning if refusal.operator else LOG.info
            log("certificate login refused by the mapping rules (request id %s): %s",
                request_id, printable(str(refusal), 2000))
            metrics.auth_failed("mapping_refused")
            raise errors.Unauthorized() from None

    def _login(self, session, find, environ: dict):
        pem = environ.get("SSL_CLIENT_CERT")
        if not pem:
            raise Refusal("the web server passed no client certificate (SSL_CLIENT_CERT): mapping "
                          "rules read the certificate itself (Apache: SSLOptions "
                          "+ExportCertData)", operator=True)
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise Refusal("SSL_CLIENT_CERT is not a PEM certificate") from None
        _reading, outcome = self.explain(find, certificate)
        if not outcome.matched:
            raise Refusal(f"no rule gives a user for the certificate of subject "
                          f"{dn_string(certificate.subject)!r}, issuer "
                          f"{dn_string(certificate.issuer)!r}: {outcome.summary()}")
        resolution = self.resolve(session, find, outcome)
        for note in resolution.notes:
            LOG.warning("certificate login: %s", printable(note, 500))
        user = resolution.user
        if user is None:
            user = self._provision(session, resolution)
        held = find(mapping_store.memberships_of, user_id=user.id) or ()
        mapping_store.sync_mapped_groups(session, user.id, resolution.group_ids, held)
        return user

    def _provision(self, session, resolution: Resolution):
        wanted = resolution.provision
        user = mapping_store.provision_user(session, name=wanted["name"],
                                            domain_id=resolution.domain.id,
                                            user_id=wanted.get("id"), email=wanted.get("email"))
        if user is None or (wanted.get("id") and user.id != wanted["id"]):
            # The id is another user's, or the name is taken by a user with another id.
            raise Refusal(f"cannot provision user {wanted['name']!r} in domain "
                          f"{resolution.domain.name!r}: " + (
                              f"id {wanted['id']!r} belongs to another user" if user is None
                              else f"that name belongs to user {user.id}, not {wanted['id']}"))
        if not user.enabled:
            raise Refusal(f"user {user.name!r} ({user.id}) is disabled")
        LOG.info("certificate login provisioned user %r (%s) in domain %r",
                 printable(user.name), user.id, printable(resolution.domain.name))
        return user

    def resolve(self, session, find, outcome: Outcome) -> Resolution:
        """Who ``outcome`` names in the store (reads only); Refusal when it names no usable
        user."""
        wanted = outcome.user or {}
        for key, limit in (("name", NAME_MAX), ("email", NAME_MAX), ("id", ID_MAX)):
            _check_text(wanted.get(key), f"user {key}", limit)
        if not any(wanted.get(key) for key in ("id", "name", "email")):
            raise Refusal("the matching rules name no user (a rule's local part needs a user "
                          "with name, id or email)")
        domain_ref = outcome.user_domain
        domain = self._domain(find, domain_ref)
        user = self._find_user(session, find, wanted, domain, explicit=domain_ref is not None)
        group_ids, notes = self._groups(find, outcome.groups)
        if user is not None:
            if not user.enabled:
                raise Refusal(f"user {user.name!r} ({user.id}) is disabled")
            return Resolution(user, domain, None, group_ids, notes)
        described = _describe(wanted, domain)
        if not self.provision:
            raise Refusal(f"no user {described}, and [cert_auth] provision_users is off")
        if wanted.get("type") == "local":
            raise Refusal(f"no user {described}, and the rule's user is of type local (it must "
                          "exist already)")
        if not wanted.get("name"):
            raise Refusal(f"no user {described}, and a user is provisioned only with a name")
        if not domain.enabled:
            raise Refusal(f"no user {described}, and domain {domain.name!r} is disabled")
        provision = {key: wanted[key] for key in ("name", "id", "email") if wanted.get(key)}
        return Resolution(None, domain, provision, group_ids, notes)

    def _domain(self, find, ref: dict | None):
        if ref is None:
            domain = find(store.find_domain, domain_id=self.default_domain_id)
        else:
            for key in ("id", "name"):
                _check_text(ref.get(key), f"domain {key}", NAME_MAX)
            domain = find(store.find_domain, **(
                {"domain_id": ref["id"]} if "id" in ref else {"name": ref["name"]}))
            if domain is not None and "id" in ref and "name" in ref and \
                    domain.name != ref["name"]:
                raise Refusal(f"domain {ref['id']!r} is named {domain.name!r}, not "
                              f"{ref['name']!r}")
        if domain is None:
            raise Refusal(f"no domain {_reference(ref or {'id': self.default_domain_id})}")
        return domain

    @staticmethod
    def _find_user(session, find, wanted: dict, domain, explicit: bool):
        if wanted.get("id"):
            user = find(store.find_user, user_id=wanted["id"])
            if user is not None and explicit and user.domain_id != domain.id:
                raise Refusal(f"user {wanted['id']!r} is in domain {user.domain_id!r}, not in "
                              f"{domain.name!r} as the rule says")
        elif wanted.get("name"):
            user = find(store.find_user, name=wanted["name"], domain_id=domain.id)
        else:
            found = find(mapping_store.users_with_email, email=wanted["email"],
                         domain_id=domain.id if explicit else None)
            if len(found) > 1:
                raise Refusal(f"{len(found)} users have the email {wanted['email']!r}")
            user = found[0] if found else None
        if user is None:
            return None
        if wanted.get("name") and user.name != wanted["name"]:
            raise Refusal(f"user {user.id} is named {user.name!r}, not {wanted['name']!r} as "
                          "the rule says")
        if wanted.get("email") and (wanted.get("id") or wanted.get("name")):
            email = mapping_store.email_of(store.find_user(session, user_id=user.id))
            if email != wanted["email"]:
                raise Refusal(f"user {user.name!r} ({user.id}) has the email {email!r}, not "
                              f"{wanted['email']!r} as the rule says")
        return user

    @staticmethod
    def _groups(find, groups: list[dict]) -> tuple[list[str], list[str]]:
        ids, notes = [], []
        for group in groups:
            found = None
            if "id" in group:
                found = find(mapping_store.find_group, group_id=group["id"])
            elif len(group["name"]) <= NAME_MAX:
                ref = group["domain"]
                domain = find(store.find_domain, **(
                    {"domain_id": ref["id"]} if "id" in ref else {"name": ref["name"]}))
                found = domain and find(mapping_store.find_group, name=group["name"],
                                        domain_id=domain.id)
            if found is None:
                notes.append(f"the mapping names group {group_reference(group)}, which does "
                             "not exist: skipped")
            elif found.id not in ids:
                ids.append(found.id)
        return ids, notes


def _check_text(value, what: str, limit: int) -> None:
    """Refuse a mapped value no user could have: too long, or padded with spaces (the
    assertion holds no non-printing character; see keystone_lite.certificates.assertion)."""
    if value is None:
        return
    if not value.strip() or value != value.strip() or len(value) > limit:
        raise Refusal(f"the rules give the {what} {printable(repr(value), 80)}, which no "
                      f"{what.split()[0]} can have (empty, padded with spaces or over {limit} "
                      "characters)")


def _describe(wanted: dict, domain) -> str:
    parts = [f"{key} {wanted[key]!r}" for key in ("id", "name", "email") if wanted.get(key)]
    return f"with {' and '.join(parts)} in domain {domain.name!r}"


def _reference(ref: dict) -> str:
    return " ".join(f"{key} {value!r}" for key, value in ref.items())


def group_reference(group: dict) -> str:
    """A group as an outcome names it, for people: ``id 'g1'``, ``'ops' of domain name 'x'``."""
    if "id" in group:
        return f"id {group['id']!r}"
    return f"{group['name']!r} of domain {_reference(group['domain'])}"
