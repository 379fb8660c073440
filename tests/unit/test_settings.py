"""settings: defaults, path resolution, one ConfigError per bad value, and find_config_file."""
from __future__ import annotations

import os

import pytest

from keystone_lite import settings
from keystone_lite.settings import ConfigError, find_config_file, load


def write(directory, text: str, name: str = "keystone-lite.conf") -> str:
    path = os.path.join(str(directory), name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def assert_names(error: ConfigError, path: str, *parts: str) -> None:
    message = str(error)
    assert path in message, message
    for part in parts:
        assert part in message, message


# -- defaults and paths ---------------------------------------------------------------------------

def test_empty_file_gives_the_documented_defaults(tmp_path):
    path = write(tmp_path, "")
    loaded = load(path)
    assert loaded.config_file == path
    assert loaded.data_dir == "/var/lib/keystone-lite"
    assert loaded.admin_token is None
    assert (loaded.admin_role, loaded.service_role, loaded.admin_project_name) == (
        "admin", "service", "admin")
    assert loaded.max_request_body_size == 114688
    assert loaded.database_connection == "sqlite:////var/lib/keystone-lite/keystone-lite.db"
    assert (loaded.token_provider, loaded.token_expiration) == ("fernet", 3600)
    assert loaded.allow_expired_window == 172800
    assert loaded.key_repository == "/var/lib/keystone-lite/fernet-keys"
    assert loaded.max_active_keys == 3
    assert loaded.user_attribute == "SSL_CLIENT_S_DN_UID"
    assert loaded.trusted_issuers == ()
    assert loaded.default_domain_id == "default"
    assert (loaded.argon2_time_cost, loaded.argon2_memory_cost) == (3, 65536)
    assert loaded.enforce_scope is False  # Keystone's default policies
    assert (loaded.max_concurrent_password_hashes, loaded.password_hash_wait) == (4, 3.0)
    assert (loaded.lockout_failure_attempts, loaded.lockout_duration) == (6, 1800)
    assert loaded.password_expires_days == 0
    assert loaded.cache_memory_mb == 64


def test_shipped_config_file_loads(tmp_path):
    shipped = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "etc", "keystone-lite.conf")
    assert load(shipped).token_provider == "fernet"


def test_relative_data_dir_is_resolved_against_the_config_files_directory(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    path = write(tmp_path, "[DEFAULT]\ndata_dir = data\n")
    loaded = load(path)
    assert loaded.data_dir == str(tmp_path / "data")
    assert loaded.key_repository == str(tmp_path / "data" / "fernet-keys")
    assert loaded.database_connection == f"sqlite:///{tmp_path}/data/keystone-lite.db"


def test_relative_config_file_path_is_resolved_against_its_directory_not_the_cwd(
        tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    write(tmp_path / "etc", "[DEFAULT]\ndata_dir = ../data\n")
    monkeypatch.chdir(tmp_path)
    loaded = load("etc/keystone-lite.conf")
    assert loaded.data_dir == str(tmp_path / "data")
    assert loaded.config_file == str(tmp_path / "etc" / "keystone-lite.conf")


def test_relative_sqlite_path_is_resolved_against_the_config_files_directory(
        tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    path = write(tmp_path, "[database]\nconnection = sqlite:///db/kl.sqlite\n")
    assert load(path).database_connection == f"sqlite:///{tmp_path}/db/kl.sqlite"


def test_relative_key_repository_is_resolved_against_the_config_files_directory(tmp_path):
    path = write(tmp_path, "[fernet_tokens]\nkey_repository = keys\n")
    assert load(path).key_repository == str(tmp_path / "keys")


@pytest.mark.parametrize("url", [
    "sqlite:////srv/kl.db", "sqlite://", "sqlite:///:memory:",
    "postgresql+psycopg://kl:kl@127.0.0.1:5432/kl",
])
def test_absolute_or_non_file_database_urls_are_kept(tmp_path, url):
    path = write(tmp_path, f"[database]\nconnection = {url}\n")
    assert load(path).database_connection == url


def test_trusted_issuers_are_one_per_line(tmp_path):
    path = write(tmp_path, "[cert_auth]\ntrusted_issuers =\n    CN=a CA,O=x\n\n    CN=b CA\n")
    assert load(path).trusted_issuers == ("CN=a CA,O=x", "CN=b CA")


def test_percent_sign_in_a_value_is_taken_literally(tmp_path):
    path = write(tmp_path, "[DEFAULT]\nadmin_token = 100%(secret)s\n")
    assert load(path).admin_token == "100%(secret)s"


# -- bad values: the message names the file, the section and the key ------------------------------

@pytest.mark.parametrize("section, key, value", [
    ("token", "expiration", "soon"),
    ("token", "expiration", "0"),
    ("token", "expiration", "-5"),
    ("token", "allow_expired_window", "-1"),
    ("fernet_tokens", "max_active_keys", "1"),
    ("DEFAULT", "max_request_body_size", "big"),
    ("identity", "argon2_memory_cost", "8"),
    ("identity", "max_concurrent_password_hashes", "0"),
    ("identity", "password_hash_wait", "nan"),
    ("identity", "password_hash_wait", "-1"),
    ("security_compliance", "lockout_failure_attempts", "-1"),
    ("security_compliance", "lockout_duration", "forever"),
    ("security_compliance", "password_expires_days", "-1"),
    ("cache", "memory_mb", "0"),
])
def test_bad_integer_names_file_section_and_key(tmp_path, section, key, value):
    path = write(tmp_path, f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert_names(raised.value, path, f"[{section}] {key}")


@pytest.mark.parametrize("value, bound", [("true", True), ("off", False)])
def test_bind_tokens_is_a_boolean_off_by_default(tmp_path, value, bound):
    assert load(write(tmp_path, "")).bind_tokens is False
    assert load(write(tmp_path, f"[cert_auth]\nbind_tokens = {value}\n")).bind_tokens is bound


def test_bad_bind_tokens_names_file_section_and_key(tmp_path):
    path = write(tmp_path, "[cert_auth]\nbind_tokens = sometimes\n")
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert_names(raised.value, path, "[cert_auth] bind_tokens")


def test_expiration_zero_says_the_minimum(tmp_path):
    path = write(tmp_path, "[token]\nexpiration = 0\n")
    with pytest.raises(ConfigError, match="at least 1"):
        load(path)


def test_unknown_provider_names_file_section_key_and_the_choices(tmp_path):
    path = write(tmp_path, "[token]\nprovider = pki\n")
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert_names(raised.value, path, "[token] provider", "'pki'", "fernet", "uuid")


def test_unknown_section_names_file_and_section(tmp_path):
    path = write(tmp_path, "[tokens]\nprovider = uuid\n")
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert_names(raised.value, path, "[tokens]", "unknown section")


@pytest.mark.parametrize("text, named", [
    ("[token]\nprovder = uuid\n", "[token] provder"),
    ("[DEFAULT]\ndebug = true\n", "[DEFAULT] debug"),
    ("[cert_auth]\ntrusted_issuer = CN=x\n", "[cert_auth] trusted_issuer"),
])
def test_unknown_key_names_file_section_and_key(tmp_path, text, named):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert_names(raised.value, path, named, "unknown key")


def test_key_of_another_section_is_unknown_even_when_also_set_in_default(tmp_path):
    # [DEFAULT] values are inherited by every section; that must not hide a misplaced key.
    path = write(tmp_path, "[DEFAULT]\ndata_dir = /srv/kl\n\n[token]\ndata_dir = /elsewhere\n")
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert_names(raised.value, path, "[token] data_dir", "unknown key")


@pytest.mark.parametrize("attribute", ["HTTP_REMOTE_USER", "HTTP_X_SSL_CLIENT_S_DN_UID",
                                       "remote_user", "X_REMOTE_USER", "SSL_CLIENT_"])
def test_user_attribute_not_set_by_the_server_names_file_section_and_key(tmp_path, attribute):
    path = write(tmp_path, f"[cert_auth]\nuser_attribute = {attribute}\n")
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert_names(raised.value, path, "[cert_auth] user_attribute", repr(attribute))


@pytest.mark.parametrize("attribute", ["REMOTE_USER", "SSL_CLIENT_S_DN_CN",
                                       "SSL_CLIENT_S_DN_UID"])
def test_user_attribute_set_by_the_server_is_accepted(tmp_path, attribute):
    path = write(tmp_path, f"[cert_auth]\nuser_attribute = {attribute}\n")
    assert load(path).user_attribute == attribute


@pytest.mark.parametrize("section, key", [
    ("DEFAULT", "data_dir"), ("database", "connection"), ("fernet_tokens", "key_repository"),
    ("token", "provider"), ("cert_auth", "user_attribute"), ("identity", "default_domain_id"),
])
def test_empty_required_value_names_file_section_and_key(tmp_path, section, key):
    path = write(tmp_path, f"[{section}]\n{key} =\n")
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert_names(raised.value, path, f"[{section}] {key}")


def test_missing_file_names_the_file(tmp_path):
    path = str(tmp_path / "absent.conf")
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert_names(raised.value, path, "cannot read")


def test_unreadable_file_names_the_file(tmp_path):
    # Tests run as root, whom chmod 000 does not stop; a directory cannot be read as a file.
    path = str(tmp_path / "keystone-lite.conf")
    os.mkdir(path)
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert_names(raised.value, path, "cannot read")


@pytest.mark.parametrize("text", [
    "data_dir = /srv\n",  # no section header
    "[token\nprovider = uuid\n",
    "[token]\nprovider = uuid\nprovider = fernet\n",
    "<?xml version='1.0'?><config/>\n",
])
def test_not_an_ini_file_names_the_file(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert_names(raised.value, path, "not a valid INI file")


def test_binary_file_names_the_file(tmp_path):
    path = str(tmp_path / "keystone-lite.conf")
    with open(path, "wb") as handle:
        handle.write(b"[token]\nprovider = \xff\xfe\n")
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert_names(raised.value, path, "not a valid INI file")


# -- find_config_file -----------------------------------------------------------------------------

def test_environment_variable_wins_over_the_paste_ini(monkeypatch):
    monkeypatch.setenv(settings.CONFIG_ENV_VAR, "/etc/from-env.conf")
    assert find_config_file("/etc/from-paste.conf") == "/etc/from-env.conf"


def test_paste_ini_path_is_used_without_the_environment_variable(monkeypatch):
    monkeypatch.delenv(settings.CONFIG_ENV_VAR, raising=False)
    assert find_config_file("/etc/from-paste.conf") == "/etc/from-paste.conf"


def test_empty_environment_variable_falls_back_to_the_paste_ini(monkeypatch):
    monkeypatch.setenv(settings.CONFIG_ENV_VAR, "")
    assert find_config_file("/etc/from-paste.conf") == "/etc/from-paste.conf"


def test_neither_environment_variable_nor_paste_ini_is_a_config_error(monkeypatch):
    monkeypatch.delenv(settings.CONFIG_ENV_VAR, raising=False)
    with pytest.raises(ConfigError, match=settings.CONFIG_ENV_VAR):
        find_config_file(None)


def test_token_expiration_beyond_a_year_is_refused_naming_file_section_and_key(tmp_path):
    path = tmp_path / "keystone-lite.conf"
    path.write_text("[token]\nexpiration = 99999999999\n")
    with pytest.raises(ConfigError) as raised:
        settings.load(str(path))
    assert str(path) in str(raised.value) and "[token] expiration" in str(raised.value)
