"""Settings: read keystone-lite.conf once at start-up into an immutable object.

Every bad value is reported as ``ConfigError`` naming the file, the section and the key, so an
operator never has to guess which line broke the service.
"""
from __future__ import annotations

import configparser
import dataclasses
import json
import os
import re
import urllib.parse
from typing import TYPE_CHECKING

import sqlalchemy.exc
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from keystone_lite.certificates.mapping import Rules

CONFIG_ENV_VAR = "KEYSTONE_LITE_CONFIG"
# configparser copies [DEFAULT] into every section, which would hide a key put in the wrong
# section; naming another default section makes [DEFAULT] an ordinary section.
_NO_DEFAULT_SECTION = "\0 no default section"


class ConfigError(Exception):
    """The configuration file is missing, unreadable or holds a bad value."""


@dataclasses.dataclass(frozen=True)
class Settings:
    config_file: str
    data_dir: str
    admin_token: str | None
    admin_role: str
    admin_project_name: str
    service_role: str
    max_request_body_size: int
    database_connection: str
    token_provider: str
    token_expiration: int
    allow_expired_window: int
    key_repository: str
    max_active_keys: int
    credential_key_repository: str  # Fernet keys of credential blobs (identity/credential_keys)
    credential_auth_ttl: int  # minutes an EC2 or S3 signature stays usable (ec2/tokens.py)
    user_attribute: str
    trusted_issuers: tuple[str, ...]
    default_domain_id: str
    argon2_time_cost: int
    argon2_memory_cost: int
    public_endpoint: str | None
    admin_endpoint: str | None
    repeated_user_attribute: str
    bind_tokens: bool  # tokens earned with a certificate may be presented over it only
    enforce_scope: bool  # False keeps Keystone's default policies (keystone_lite/policy.py)
    max_concurrent_password_hashes: int
    password_hash_wait: float
    lockout_failure_attempts: int
    lockout_duration: int
    password_expires_days: int
    cache_memory_mb: int
    oauth1_request_token_duration: int  # seconds; 0: request tokens never expire
    oauth1_access_token_duration: int  # seconds; 0: access tokens never expire
    return_all_endpoints_if_no_filter: bool  # OS-EP-FILTER (TokenService.catalog)
    limit_enforcement_model: str  # unified limits (keystone_lite/identity/limits.py)
    crl_file: str | None  # CRLs checked by cert_auth and the embedded server (certificates/crl.py)
    ca_file: str | None  # CA certificates of client certificates: they sign crl_file's CRLs
    # Certificate logins through mapping rules (keystone_lite/certificates): a JSON rules file
    # (checked at start-up into ``mapping_rules``) or the id of a stored mapping; neither: the
    # certificate's user_attribute names the user. provision_users: create mapped users who do
    # not exist yet (shadow users).
    mapping_file: str | None
    mapping_id: str | None
    provision_users: bool
    mapping_rules: Rules | None = None
    # OpenStack Keystone's Fernet keys: its live tokens validate here (token/keystone_tokens.py)
    keystone_key_repository: str | None = None
    keystone_auth_methods: tuple[str, ...] = ()  # Keystone's [auth] methods, in its order
    # Audit events (keystone_lite/audit.py): "log", "file" (audit_file) or "none".
    audit_destination: str = "none"
    audit_file: str | None = None
    # Prometheus metrics (keystone_lite/metrics.py): on/off, and the directory that several
    # processes of one server share (prometheus_client's multiprocess mode); None: one process.
    metrics_enabled: bool = True
    metrics_multiprocess_dir: str | None = None

    @property
    def maps_certificates(self) -> bool:
        """Whether mapping rules say who a certificate is (keystone_lite.certificates)."""
        return self.mapping_rules is not None or self.mapping_id is not None


def _text(value):
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


def _optional_text(value):
    return value.strip() or None


def _int(minimum, maximum=None):
    def convert(value):
        number = int(value)
        if number < minimum:
            raise ValueError(f"must be at least {minimum}")
        if maximum is not None and number > maximum:
            raise ValueError(f"must be at most {maximum}")
        return number
    return convert


def _seconds(minimum, maximum):
    def convert(value):
        number = float(value)
        if not minimum <= number <= maximum:  # also refuses nan
            raise ValueError(f"must be between {minimum} and {maximum} seconds")
        return number
    return convert


# Token lifetimes: a year at most, so that expiry times stay far inside what dates can hold.
_YEAR = 366 * 24 * 3600


def _bool(value):
    """Booleans as oslo.config spells them."""
    word = value.strip().lower()
    if word in ("true", "yes", "on", "1"):
        return True
    if word in ("false", "no", "off", "0"):
        return False
    raise ValueError("must be true or false")


def _lines(value):
    return tuple(line.strip() for line in value.splitlines() if line.strip())


def _methods(value):
    """A comma-separated list of auth method names (Keystone's [auth] methods)."""
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names or len(set(names)) != len(names) or not all(
            re.fullmatch(r"[a-z0-9_]+", name) for name in names):
        raise ValueError(f"{value!r} is not a comma-separated list of distinct method names, "
                         "such as Keystone's [auth] methods")
    return names


def _choice(*choices):
    def convert(value):
        if value.strip() not in choices:
            raise ValueError(f"{value.strip()!r}: choose one of: {', '.join(choices)}")
        return value.strip()
    return convert


# What a base URL may hold: RFC 3986 characters only, so it can go into a header as it is (no
# space, quote, control or non-ASCII character).
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")


def _endpoint(value):
    """An absolute http(s) base URL without query, fragment or credentials, or None; the
    trailing slash is dropped (links append ``/v3/``)."""
    text = value.strip()
    if not text:
        return None
    parts = urllib.parse.urlsplit(text)
    if not _URL_CHARACTERS.fullmatch(text) or parts.scheme not in ("http", "https") or (
            not parts.hostname or parts.query or parts.fragment or "@" in parts.netloc
            or "?" in text or "#" in text):
        raise ValueError(f"{text!r} is not an http(s) base URL such as "
                         "https://keystone.example.com/main/")
    parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    return text.rstrip("/")


# (section, key) -> (Settings field, converter, default). "{data_dir}" in a default is filled in.
_SCHEMA = {
    ("DEFAULT", "data_dir"): ("data_dir", _text, "/var/lib/keystone-lite"),
    ("DEFAULT", "admin_token"): ("admin_token", _optional_text, ""),
    ("DEFAULT", "admin_role"): ("admin_role", _text, "admin"),
    ("DEFAULT", "admin_project_name"): ("admin_project_name", _text, "admin"),
    ("DEFAULT", "service_role"): ("service_role", _text, "service"),
    ("DEFAULT", "max_request_body_size"): ("max_request_body_size", _int(1024), "114688"),
    ("database", "connection"): (
        "database_connection", _text, "sqlite:///{data_dir}/keystone-lite.db"),
    ("token", "provider"): ("token_provider", _text, "fernet"),
    ("token", "expiration"): ("token_expiration", _int(1, _YEAR), "3600"),
    ("token", "allow_expired_window"): ("allow_expired_window", _int(0, _YEAR), "172800"),
    ("fernet_tokens", "key_repository"): ("key_repository", _text, "{data_dir}/fernet-keys"),
    ("fernet_tokens", "max_active_keys"): ("max_active_keys", _int(2), "3"),
    # Unset: "credential-keys" beside the token keys (Keystone's /etc/keystone/credential-keys).
    ("credential", "key_repository"): ("credential_key_repository", _optional_text, ""),
    ("credential", "auth_ttl"): ("credential_auth_ttl", _int(1, 1440), "15"),
    ("cert_auth", "user_attribute"): ("user_attribute", _text, "SSL_CLIENT_S_DN_UID"),
    ("cert_auth", "trusted_issuers"): ("trusted_issuers", _lines, ""),
    ("identity", "default_domain_id"): ("default_domain_id", _text, "default"),
    ("identity", "argon2_time_cost"): ("argon2_time_cost", _int(1), "3"),
    ("identity", "argon2_memory_cost"): ("argon2_memory_cost", _int(1024), "65536"),
    # Base URLs of the links of each app (instead of the Host header); what a subject with two
    # user names means.
    ("DEFAULT", "public_endpoint"): ("public_endpoint", _endpoint, ""),
    ("DEFAULT", "admin_endpoint"): ("admin_endpoint", _endpoint, ""),
    ("cert_auth", "repeated_user_attribute"): (
        "repeated_user_attribute", _choice("refuse", "first"), "refuse"),
    ("cert_auth", "bind_tokens"): ("bind_tokens", _bool, "false"),
    ("cert_auth", "mapping_file"): ("mapping_file", _optional_text, ""),
    ("cert_auth", "mapping_id"): ("mapping_id", _optional_text, ""),
    ("cert_auth", "provision_users"): ("provision_users", _bool, "false"),
    # Policy mode (keystone_lite/policy.py): off = Keystone's default policies, where admin on
    # any project administers the cloud; on = only system admins and admin-project admins do.
    ("oslo_policy", "enforce_scope"): ("enforce_scope", _bool, "false"),
    # Bounded password guessing (see etc/keystone-lite.conf) and bounded caches.
    ("identity", "max_concurrent_password_hashes"): (
        "max_concurrent_password_hashes", _int(1), "4"),
    ("identity", "password_hash_wait"): ("password_hash_wait", _seconds(0, 60), "3"),
    ("security_compliance", "lockout_failure_attempts"): (
        "lockout_failure_attempts", _int(0), "6"),
    ("security_compliance", "lockout_duration"): ("lockout_duration", _int(0, _YEAR), "1800"),
    ("security_compliance", "password_expires_days"): (
        "password_expires_days", _int(0, 36_500), "0"),
    ("cache", "memory_mb"): ("cache_memory_mb", _int(1, 1_048_576), "64"),
    # Keystone's [oauth1] options and defaults (8 hours, 24 hours).
    ("oauth1", "request_token_duration"): ("oauth1_request_token_duration", _int(0, _YEAR),
                                           "28800"),
    ("oauth1", "access_token_duration"): ("oauth1_access_token_duration", _int(0, _YEAR),
                                          "86400"),
    ("endpoint_filter", "return_all_endpoints_if_no_filter"): (
        "return_all_endpoints_if_no_filter", _bool, "true"),
    ("fernet_tokens", "keystone_key_repository"): (
        "keystone_key_repository", _optional_text, ""),
    ("fernet_tokens", "keystone_auth_methods"): (
        "keystone_auth_methods", _methods,
        "external,password,token,oauth1,mapped,application_credential,ec2credential"),
    ("unified_limit", "enforcement_model"): (
        "limit_enforcement_model", _choice("flat", "strict_two_level"), "flat"),
    # Certificate revocation lists (read and checked at start-up by certificates/crl.py).
    ("cert_auth", "crl_file"): ("crl_file", _optional_text, ""),
    ("cert_auth", "ca_file"): ("ca_file", _optional_text, ""),
    # Audit events: unset destination means "file" when a file is named, else "log".
    ("audit", "destination"): (
        "audit_destination", lambda value: value.strip() and _choice("log", "file", "none")(value),
        ""),
    ("audit", "file"): ("audit_file", _optional_text, ""),
    ("metrics", "enabled"): ("metrics_enabled", _bool, "true"),
    ("metrics", "multiprocess_dir"): ("metrics_multiprocess_dir", _optional_text, ""),
}

_PATH_FIELDS = ("data_dir", "key_repository", "credential_key_repository", "crl_file",
                "ca_file", "mapping_file", "keystone_key_repository", "audit_file",
                "metrics_multiprocess_dir")
_PROVIDERS = ("fernet", "uuid")


def find_config_file(paste_config_file: str | None = None) -> str:
    """Return the config path: $KEYSTONE_LITE_CONFIG first, then the one the paste ini names."""
    path = os.environ.get(CONFIG_ENV_VAR) or paste_config_file
    if not path:
        raise ConfigError(
            f"no configuration file: set {CONFIG_ENV_VAR} or config_file in the paste ini")
    return path


def load(path: str) -> Settings:
    """Parse ``path`` into Settings; raises ConfigError naming file, section and key."""
    parser = configparser.ConfigParser(interpolation=None, default_section=_NO_DEFAULT_SECTION)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a valid INI file: not UTF-8 text") from None
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        raise ConfigError(f"{path}: not a valid INI file: {_syntax_error(exc, text)}") from None

    _reject_unknown_keys(path, parser)
    here = os.path.dirname(os.path.abspath(path))
    values = {"config_file": os.path.abspath(path)}
    # data_dir first: other defaults refer to it.
    for (section, key), (field, convert, default) in sorted(
            _SCHEMA.items(), key=lambda item: item[1][0] != "data_dir"):
        raw = _raw_value(parser, section, key)
        if raw is None:
            raw = default.format(data_dir=values.get("data_dir", ""))
        try:
            value = convert(raw)
        except ValueError as exc:
            raise ConfigError(f"{path}: [{section}] {key}: {exc}") from None
        if field in _PATH_FIELDS and value:
            value = os.path.normpath(os.path.join(here, value))
        values[field] = value

    _place_credential_keys(path, values)
    values["database_connection"] = _absolute_sqlite_url(values["database_connection"], here)
    _check_database_url(path, values["database_connection"])
    if values["token_provider"] not in _PROVIDERS:
        raise ConfigError(
            f"{path}: [token] provider: unknown provider {values['token_provider']!r}; "
            f"choose one of: {', '.join(_PROVIDERS)}")
    attribute = values["user_attribute"]
    if not re.fullmatch(r"REMOTE_USER|SSL_CLIENT_\w+", attribute):
        raise ConfigError(
            f"{path}: [cert_auth] user_attribute: {attribute!r} is not a key the web server "
            "sets; use REMOTE_USER or an SSL_CLIENT_* variable such as SSL_CLIENT_S_DN_UID")
    values["mapping_rules"] = _mapping(path, values)
    _place_audit_file(values)
    return Settings(**values)


def _place_audit_file(values: dict) -> None:
    """[audit]: a named file means destination file; file without a name: <data_dir>/audit.log."""
    if not values["audit_destination"]:
        values["audit_destination"] = "file" if values["audit_file"] else "log"
    if values["audit_destination"] == "file" and not values["audit_file"]:
        values["audit_file"] = os.path.join(values["data_dir"], "audit.log")


def _mapping(path: str, values: dict) -> Rules | None:
    """The checked rules of ``[cert_auth] mapping_file``; the mapping options checked."""
    if values["mapping_file"] and values["mapping_id"]:
        raise ConfigError(f"{path}: [cert_auth] mapping_file and mapping_id: set one of them, "
                          "not both")
    if values["mapping_id"] is not None and len(values["mapping_id"]) > 64:
        raise ConfigError(f"{path}: [cert_auth] mapping_id: at most 64 characters (a mapping "
                          "id of /v3/OS-FEDERATION/mappings)")
    if values["provision_users"] and not (values["mapping_file"] or values["mapping_id"]):
        raise ConfigError(f"{path}: [cert_auth] provision_users: needs mapping_file or "
                          "mapping_id (only mapping rules can say who a new user is)")
    if not values["mapping_file"]:
        return None
    try:
        return load_mapping_file(values["mapping_file"])
    except ValueError as exc:
        raise ConfigError(f"{path}: [cert_auth] mapping_file: {exc}") from None


def load_mapping_file(mapping_file: str) -> Rules:
    """The checked rules of a JSON file holding the list of rules (``openstack mapping create
    --rules``'s file), ``{"rules": [...]}`` or the API's ``{"mapping": {"rules": [...]}}``;
    ValueError with one line naming the file and what is wrong."""
    # Imported here: deployments without rules never load the rule engine.
    from keystone_lite.certificates.mapping import parse_rules
    try:
        with open(mapping_file, encoding="utf-8") as handle:
            document = json.load(handle)
    except OSError as exc:
        raise ValueError(f"{mapping_file}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{mapping_file}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{mapping_file}: not JSON: {exc.msg} at line {exc.lineno} column "
                         f"{exc.colno}") from None
    if isinstance(document, dict) and set(document) == {"mapping"}:
        document = document["mapping"]
    try:
        return parse_rules(document)
    except ValueError as exc:
        raise ValueError(f"{mapping_file}: {exc}") from None


def _place_credential_keys(path: str, values: dict) -> None:
    """The credential key repository: as configured, or ``credential-keys`` beside the token
    keys; never the token keys' own directory (a rotation of one would purge the other's keys)."""
    if values["credential_key_repository"] is None:
        values["credential_key_repository"] = os.path.join(
            os.path.dirname(values["key_repository"]), "credential-keys")
    if values["credential_key_repository"] == values["key_repository"]:
        raise ConfigError(f"{path}: [credential] key_repository: must not be the token keys' "
                          "[fernet_tokens] key_repository")


def _syntax_error(exc: configparser.Error, text: str) -> str:
    """One line saying where the syntax is wrong: line, section and key when known.

    The offending line itself is left out: it may hold a secret (``admin_token``, a database
    password) and the message goes to logs and terminals.
    """
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"line {exc.lineno}: [{exc.section}] {exc.option}: set twice"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"line {exc.lineno}: section [{exc.section}] appears twice"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno}: no [section] header before the first key"
    if isinstance(exc, configparser.ParsingError) and exc.errors:
        lineno = exc.errors[0][0]
        section = _section_at(text, lineno)
        where = f"line {lineno}" + (f" in [{section}]" if section else "")
        return f"{where}: expected 'key = value', a [section] header or an indented continuation"
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _section_at(text: str, lineno: int) -> str | None:
    """The section whose header is the last one before line ``lineno`` (1-based)."""
    section = None
    for line in text.splitlines()[:lineno - 1]:
        match = re.match(r"\[([^]]+)\]", line.strip())
        if match:
            section = match.group(1)
    return section


def _raw_value(parser, section, key):
    return parser.get(section, key, fallback=None)


def _reject_unknown_keys(path, parser):
    known_sections = {section for section, _ in _SCHEMA}
    for section in parser.sections():
        if section not in known_sections:
            raise ConfigError(f"{path}: [{section}]: unknown section; known sections: "
                              f"{', '.join(sorted(known_sections))}")
        for key in sorted(parser[section]):
            if (section, key) not in _SCHEMA:
                raise ConfigError(f"{path}: [{section}] {key}: unknown key")


_DATABASES = ("sqlite", "postgresql")


def _check_database_url(path, url):
    """A URL SQLAlchemy parses, of a supported database, whose driver is installed.

    Messages never repeat the URL: it may hold the database password.
    """
    where = f"{path}: [database] connection"
    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(f"{where}: not a database URL; e.g. sqlite:////var/lib/keystone-lite/"
                          "keystone-lite.db or postgresql+psycopg://user:password@host/db"
                          ) from None
    backend = parsed.get_backend_name()
    if backend not in _DATABASES:
        raise ConfigError(f"{where}: unsupported database {backend!r}; choose one of: "
                          f"{', '.join(_DATABASES)}")
    try:
        parsed.get_dialect().import_dbapi()
    except (sqlalchemy.exc.NoSuchModuleError, ImportError) as exc:
        hint = ("; use postgresql+psycopg://... with pip install 'keystone_lite[postgresql]'"
                if backend == "postgresql" else "")
        raise ConfigError(f"{where}: driver {parsed.get_driver_name()!r} is not available: "
                          f"{exc}{hint}") from None


def _absolute_sqlite_url(url, here):
    """Relative SQLite paths are relative to the config file, not to the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
        path = url[len(prefix):]
        if path and path != ":memory:":
            return prefix + os.path.normpath(os.path.join(here, path))
    return url
