"""Domain configurations: Keystone's domain-specific configuration API.

``/v3/domains/{id}/config[/{group}[/{option}]]`` (PUT the whole configuration; GET, PATCH,
DELETE all of it, a group or an option), ``/v3/domains/config[/{group}[/{option}]]/default``
(the defaults), and ``GET /v3/domains/{id}/config/security_compliance[/{option}]`` (the password
rules, for the default domain only). Statuses and messages are Keystone's
(keystone/resource/core.py DomainConfigManager): a group or option Keystone does not accept is a
403 "Invalid domain specific configuration: ...", a missing one a 404.

Keystone accepts only the options its domain-specific identity drivers read: ``DEFAULTS`` names
them. ``SENSITIVE`` ones (the LDAP password) are stored but never shown, not even their names.

keystone_lite has one identity backend, its SQL store: a domain's configuration is stored and
served as Keystone does, and changes nothing else. An LDAP ``driver`` in it is accepted and not
used (Keystone, too, stores a configuration without loading its driver; it reads it only with
``[identity] domain_specific_drivers_enabled``, off by default): the domain's users stay in SQL
(docs/compatibility.md).
"""
from __future__ import annotations

import json

from sqlalchemy import delete, select

from keystone_lite import errors
from keystone_lite.context import get_context
from keystone_lite.db import models
from keystone_lite.identity.admin import ident
from keystone_lite.router import json_response, no_content

# What ``GET /v3/domains/config/default`` answers, and so the options a configuration may set:
# keystone_lite's own settings where it has them (the SQL driver, no list limit), Keystone's
# defaults otherwise (keystone/conf/ldap.py).
DEFAULTS = {
    "identity": {"driver": "sql", "list_limit": None},
    "ldap": {
        "url": "ldap://localhost", "user": None, "suffix": "cn=example,cn=com",
        "query_scope": "one", "page_size": 0, "alias_dereferencing": "default",
        "debug_level": None, "chase_referrals": None,
        "user_tree_dn": None, "user_filter": None, "user_objectclass": "inetOrgPerson",
        "user_id_attribute": "cn", "user_name_attribute": "sn",
        "user_mail_attribute": "mail", "user_description_attribute": "description",
        "user_pass_attribute": "userPassword", "user_enabled_attribute": "enabled",
        "user_enabled_invert": False, "user_enabled_mask": 0, "user_enabled_default": "True",
        "user_attribute_ignore": ("default_project_id",),
        "user_default_project_id_attribute": None,
        "user_enabled_emulation": False, "user_enabled_emulation_dn": None,
        "user_enabled_emulation_use_group_config": False,
        "user_additional_attribute_mapping": (),
        "group_tree_dn": None, "group_filter": None, "group_objectclass": "groupOfNames",
        "group_id_attribute": "cn", "group_name_attribute": "ou",
        "group_members_are_ids": False, "group_member_attribute": "member",
        "group_desc_attribute": "description", "group_attribute_ignore": (),
        "group_additional_attribute_mapping": (),
        "tls_cacertfile": None, "tls_cacertdir": None, "use_tls": False,
        "tls_req_cert": "demand",
        "use_pool": True, "pool_size": 10, "pool_retry_max": 3, "pool_retry_delay": 0.1,
        "pool_connection_timeout": -1, "pool_connection_lifetime": 600,
        "use_auth_pool": True, "auth_pool_size": 100, "auth_pool_connection_lifetime": 60,
    },
}
SENSITIVE = {"identity": (), "ldap": ("password",)}
# keystone_lite has no password rules to publish: Keystone's defaults, unset.
SECURITY_COMPLIANCE = {"password_regex": None, "password_regex_description": None}
NAME_SHOWN = 255  # of a group or option name echoed in a message


def _invalid(reason: str) -> errors.Forbidden:
    return errors.Forbidden(f"Invalid domain specific configuration: {reason}.")


def _not_found(domain_id: str, group: str | None, option: str | None) -> errors.NotFound:
    what = (f"option {option} in group {group}" if option is not None
            else f"group {group}" if group is not None else "any options")
    return errors.NotFound(f"Could not find {what} in domain configuration for domain "
                           f"{domain_id}.")


def check_group_and_option(group: str | None, option: str | None) -> None:
    """403 unless ``group`` (and ``option`` in it) may be configured."""
    if group is None:
        return
    if group not in DEFAULTS:
        raise _invalid(f"Group {group[:NAME_SHOWN]} is not supported for domain specific "
                       "configurations")
    if option is not None and option not in DEFAULTS[group] and option not in SENSITIVE[group]:
        raise _invalid(f"Option {option[:NAME_SHOWN]} in group {group} is not supported for "
                       "domain specific configurations")


def check_config(config: dict) -> None:
    """403 unless ``config`` is ``{group: {option: value, ...}, ...}`` of accepted options."""
    if not config:
        raise _invalid("No options specified")
    for group, options in config.items():
        if not options or not isinstance(options, dict):
            raise _invalid(f"The value of group {group[:NAME_SHOWN]} specified in the config "
                           "should be a dictionary of options")
        for option in options:
            check_group_and_option(group, option)


def _check_partial_update(config: dict, group: str, option: str | None) -> None:
    """A PATCH of one group (or option) names that group (or option) and nothing else."""
    if len(config) != 1 or (option is not None and len(config.get(group, ())) != 1):
        if option is not None:  # Keystone's wording, its double space included
            raise _invalid(f"Trying to update option {option} in group {group}, so that, and "
                           "only that, option must be specified  in the config")
        raise _invalid(f"Trying to update group {group}, so that, and only that, group must "
                       "be specified in the config")
    if group not in config:
        raise _invalid(f"request to update group {group}, but config provided contains group "
                       f"{next(iter(config))} instead")
    if option is not None and option not in config[group]:
        raise _invalid(f"Trying to update option {option} in group {group}, but config "
                       f"provided contains option {next(iter(config[group]))} "
                       "instead")


# -- storage ---------------------------------------------------------------------------------------

def _rows(session, domain_id: str, group: str | None = None, option: str | None = None,
          shown_only: bool = False) -> list:
    model = models.DomainConfigOption
    query = select(model).where(model.domain_id == domain_id).order_by(model.group,
                                                                       model.option)
    if group is not None:
        query = query.where(model.group == group)
    if option is not None:
        query = query.where(model.option == option)
    if shown_only:
        query = query.where(model.sensitive.is_(False))
    return list(session.scalars(query))


def _write(session, domain_id: str, config: dict) -> None:
    """Set the options of ``config`` (already checked), replacing their values."""
    for group, options in config.items():
        for option, value in options.items():
            session.merge(models.DomainConfigOption(
                domain_id=domain_id, group=group, option=option,
                value=json.dumps(value, ensure_ascii=True),
                sensitive=option in SENSITIVE[group]))
    session.flush()


def delete_options(session, domain_id: str, group: str | None = None,
                   option: str | None = None) -> None:
    """Delete the domain's whole configuration, a group of it or one option (a deleted domain
    takes its configuration with it: see domains.py)."""
    model = models.DomainConfigOption
    statement = delete(model).where(model.domain_id == domain_id)
    if group is not None:
        statement = statement.where(model.group == group)
    if option is not None:
        statement = statement.where(model.option == option)
    session.execute(statement)


def _shown(rows: list, option: str | None = None) -> dict:
    """``{group: {option: value}}``, or ``{option: value}`` for one option."""
    if option is not None:
        return {row.option: json.loads(row.value) for row in rows}
    config: dict = {}
    for row in rows:
        config.setdefault(row.group, {})[row.option] = json.loads(row.value)
    return config


def _body_config(req) -> dict:
    """The body's ``config`` object; {} without one (Keystone's "No options specified")."""
    document = get_context(req.environ)["json"]
    if document is None:
        return {}
    config = document.get("config", {}) if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise errors.ValidationError("Expecting to find config in request body.")
    return config


# -- routes ----------------------------------------------------------------------------------------

def routes(controller) -> list:
    """The defaults' routes come first: ``/domains/config/config/default`` is the default of a
    group named config, not the group default of a domain named config (as in Keystone)."""
    handlers = DomainConfigHandlers(controller)
    group, option = ident("group"), ident("option")
    config = rf"/domains/{ident('domain_id')}/config"
    return [
        (r"/domains/config/default", {"GET": handlers.default}),
        (rf"/domains/config/{group}/default", {"GET": handlers.default}),
        (rf"/domains/config/{group}/{option}/default", {"GET": handlers.default}),
        (config, {"GET": handlers.show, "PUT": handlers.create, "PATCH": handlers.update,
                  "DELETE": handlers.delete}),
        (rf"{config}/{group}", {"GET": handlers.show, "PATCH": handlers.update,
                                "DELETE": handlers.delete}),
        (rf"{config}/{group}/{option}", {"GET": handlers.show, "PATCH": handlers.update,
                                         "DELETE": handlers.delete}),
    ]


def _config_response(config: dict, status: int = 200):
    return json_response({"config": config}, status=status)


class DomainConfigHandlers:
    def __init__(self, controller):
        self.controller = controller

    def _domain(self, req, session, rule: str, domain_id: str) -> str:
        """The policy check, then the domain's 404; returns the domain's id."""
        _base, rows = self.controller.authorize_on(req, session, rule, domain=domain_id)
        return rows["domain"].id

    def show(self, req, session, domain_id, group=None, option=None):
        if group == "security_compliance":
            return self._security_compliance(req, session, domain_id, option)
        domain = self._domain(req, session, "identity:get_domain_config", domain_id)
        check_group_and_option(group, option)
        rows = _rows(session, domain, group, option, shown_only=True)
        if not rows:
            raise _not_found(domain, group, option)
        return _config_response(_shown(rows, option))

    def create(self, req, session, domain_id):
        """PUT: the configuration becomes the body's; 201 when the domain had none, else
        200."""
        domain = self._domain(req, session, "identity:create_domain_config", domain_id)
        config = _body_config(req)
        check_config(config)
        had_one = bool(_rows(session, domain))
        delete_options(session, domain)
        _write(session, domain, config)
        return _config_response(_shown(_rows(session, domain, shown_only=True)),
                                status=200 if had_one else 201)

    def update(self, req, session, domain_id, group=None, option=None):
        """PATCH: the body's options are set, others kept; a group's (an option's) PATCH sets
        that group (option) only, which must be configured already. Answers the whole
        configuration."""
        domain = self._domain(req, session, "identity:update_domain_config", domain_id)
        config = _body_config(req)
        if option is not None:  # the body names the option's value only
            config = {group: config}
        check_config(config)
        check_group_and_option(group, option)
        if group is not None:
            _check_partial_update(config, group, option)
            if not _rows(session, domain, group, option):
                raise _not_found(domain, group, option)
        _write(session, domain, config)
        return _config_response(_shown(_rows(session, domain, shown_only=True)))

    def delete(self, req, session, domain_id, group=None, option=None):
        domain = self._domain(req, session, "identity:delete_domain_config", domain_id)
        check_group_and_option(group, option)
        if group is not None and not _rows(session, domain, group):
            raise _not_found(domain, group, None)
        if option is not None and not _rows(session, domain, group, option):
            raise _not_found(domain, group, option)
        delete_options(session, domain, group, option)
        return no_content()

    def default(self, req, session, group=None, option=None):
        self.controller.authorize(req, "identity:get_domain_config_default")
        check_group_and_option(group, option)
        if option is not None:
            if option not in DEFAULTS[group]:
                raise _invalid(f"Reading the default for option {option} in group {group} is "
                               "not supported")
            return _config_response({option: DEFAULTS[group][option]})
        groups = DEFAULTS if group is None else {group: DEFAULTS[group]}
        return _config_response({name: dict(options) for name, options in groups.items()})

    def _security_compliance(self, req, session, domain_id, option):
        """The password rules users of the default domain must follow (any valid token may
        read them, as in Keystone)."""
        domain = self._domain(req, session,
                              "identity:get_security_compliance_domain_config", domain_id)
        if domain != self.controller.settings.default_domain_id:
            raise _invalid("Reading security compliance information for any domain other "
                           "than the default domain is not allowed or supported")
        if option is None:
            return _config_response({"security_compliance": dict(SECURITY_COMPLIANCE)})
        if option not in SECURITY_COMPLIANCE:
            raise _invalid("Reading security compliance values other than password_regex and "
                           "password_regex_description is not allowed")
        return _config_response({option: SECURITY_COMPLIANCE[option]})

