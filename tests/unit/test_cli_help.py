"""Every option and argument of every command of keystone-lite-manage and keystone-lite has help
text: ``--help`` is where a newcomer looks first."""
from __future__ import annotations

import argparse

import pytest

from keystone_lite.cli import manage, serve


def commands(parser: argparse.ArgumentParser, path=()):
    """(command path, parser) of the parser and of every sub-command under it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def undocumented(parser) -> list[str]:
    return [action.option_strings[0] if action.option_strings else action.dest
            for action in parser._actions
            if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
            and not (action.help or "").strip()]


@pytest.mark.parametrize("build", [manage.build_parser, serve.build_parser],
                         ids=["keystone-lite-manage", "keystone-lite"])
def test_every_option_of_every_command_has_help(build):
    missing = {" ".join(path): names for path, parser in commands(build())
               if (names := undocumented(parser))}
    assert missing == {}


@pytest.mark.parametrize("command", ["serve", "quickstart"])
def test_serve_and_quickstart_help_describe_port_and_health_options(command, capsys):
    with pytest.raises(SystemExit):
        serve.main([command, "--help"])
    text = capsys.readouterr().out
    for option in ("--port", "--verify-client", "--health-port", "--health-host",
                   "--config-file"):
        assert option in text
    assert "(default: 5443" in text
