"""A corrupt keystone-lite.conf, seen where operators meet it: loading the paste app (Apache, the
embedded server) and keystone-lite-manage. Either way the error names the file, the line or the
section and key, in one line, and never repeats a line that may hold a secret.

The parsing rules themselves are unit-tested in tests/unit/test_settings.py.
"""
from __future__ import annotations

import pytest
from paste.deploy import loadapp

from builders import PASTE_INI
from keystone_lite import settings as settings_module
from keystone_lite.cli import manage
from keystone_lite.settings import ConfigError

SECRET = "s3cret-admin-token-in-a-broken-line"

# (config text, what the message must name)
BROKEN = {
    "no section header": ("data_dir = /srv/kl\n", ["line 1", "[section]"]),
    "unclosed section header": ("[token\nprovider = uuid\n", ["line 1"]),
    "line without '='": (f"[DEFAULT]\ndata_dir = data\nadmin_token {SECRET}\n",
                         ["line 3", "[DEFAULT]"]),
    "key set twice": ("[token]\nprovider = uuid\nprovider = fernet\n",
                      ["line 3", "[token] provider"]),
    "section twice": ("[token]\nprovider = uuid\n[token]\nexpiration = 60\n",
                      ["line 3", "[token]"]),
    "bad integer": ("[token]\nexpiration = an hour\n", ["[token] expiration"]),
    "integer too small": ("[fernet_tokens]\nmax_active_keys = 1\n",
                          ["[fernet_tokens] max_active_keys", "at least 2"]),
    "unknown provider": ("[token]\nprovider = pki\n", ["[token] provider", "fernet", "uuid"]),
    "misspelt key": ("[database]\nconection = sqlite://\n", ["[database] conection"]),
    "not UTF-8": ("[DEFAULT]\nadmin_token = \udcff\n", ["not UTF-8"]),
}


def write_broken(tmp_path, text: str) -> str:
    path = tmp_path / "keystone-lite.conf"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return str(path)


@pytest.mark.parametrize("case", BROKEN)
def test_loading_the_paste_app_with_a_broken_config_names_file_and_place(tmp_path, monkeypatch,
                                                                          case):
    text, named = BROKEN[case]
    path = write_broken(tmp_path, text)
    monkeypatch.setenv(settings_module.CONFIG_ENV_VAR, path)

    for app in ("main", "admin"):
        with pytest.raises(ConfigError) as raised:
            loadapp(f"config:{PASTE_INI}", name=app)
        message = str(raised.value)
        assert message.startswith(f"{path}: "), message
        for part in named:
            assert part in message, (part, message)
        assert "\n" not in message
        assert SECRET not in message


@pytest.mark.parametrize("case", BROKEN)
def test_keystone_lite_manage_with_a_broken_config_exits_1_with_one_line(tmp_path, capsys,
                                                                         case):
    text, named = BROKEN[case]
    path = write_broken(tmp_path, text)

    assert manage.main(["--config-file", path, "db_sync"]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"keystone-lite-manage db_sync: {path}: ")
    for part in named:
        assert part in captured.err
    assert SECRET not in captured.err
