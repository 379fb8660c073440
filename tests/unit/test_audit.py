"""audit: ``[audit]`` settings, the start-up check of the file, and appends by several real
processes at once (one write of an O_APPEND descriptor per line: no line torn or lost)."""
from __future__ import annotations

import json
import multiprocessing
import os

import pytest

from keystone_lite import audit, errors
from keystone_lite.settings import ConfigError, load

PROCESSES, EVENTS = 4, 300


def config(tmp_path, text: str) -> str:
    path = tmp_path / "keystone-lite.conf"
    path.write_text(f"[DEFAULT]\ndata_dir = data\n{text}")
    return str(path)


@pytest.mark.parametrize("text, destination, file", [
    ("", "log", None),
    ("[audit]\nfile = audit.jsonl\n", "file", "audit.jsonl"),
    ("[audit]\ndestination = file\n", "file", "data/audit.log"),
    ("[audit]\ndestination = none\n", "none", None),
    ("[audit]\ndestination = log\nfile = audit.jsonl\n", "log", "audit.jsonl"),
])
def test_destination_defaults_to_the_log_and_to_the_file_when_one_is_named(
        tmp_path, text, destination, file):
    loaded = load(config(tmp_path, text))
    assert loaded.audit_destination == destination
    assert loaded.audit_file == (None if file is None else str(tmp_path / file))


def test_unknown_destination_names_file_section_key_and_choices(tmp_path):
    path = config(tmp_path, "[audit]\ndestination = syslog\n")
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert str(raised.value) == (f"{path}: [audit] destination: 'syslog': choose one of: "
                                 "log, file, none")


def test_a_file_that_cannot_be_created_is_a_start_up_error(tmp_path):
    path = config(tmp_path, "[audit]\nfile = no-such-directory/audit.jsonl\n")
    with pytest.raises(ConfigError) as raised:
        audit.from_settings(load(path))
    assert f"{path}: [audit] file: cannot append to" in str(raised.value)
    assert "No such file or directory" in str(raised.value)


def test_reasons_are_a_bounded_set_and_a_403_is_a_refused_delegation():
    assert audit.reason_of(audit.refused(audit.LOCKED_OUT)) == "locked_out"
    assert audit.reason_of(errors.Forbidden()) == audit.DELEGATION_REFUSED
    assert audit.reason_of(errors.Unauthorized()) == audit.OTHER
    assert {audit.reason_of(audit.refused(reason)) for reason in audit.REASONS} == audit.REASONS


def _append(path: str, writer: int) -> None:
    auditor = audit.Auditor("file", path)
    for number in range(EVENTS):
        auditor.write("identity.authenticate", {"eventTime": "t", "writer": writer,
                                                "number": number, "padding": "x" * 2000})


def test_processes_appending_at_once_never_tear_or_lose_a_line(tmp_path):
    path = str(tmp_path / "audit.jsonl")
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_append, args=(path, writer))
               for writer in range(PROCESSES)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=60)
        assert process.exitcode == 0
    with open(path, encoding="utf-8") as handle:
        events = [json.loads(line)["payload"] for line in handle]
    assert sorted((event["writer"], event["number"]) for event in events) == [
        (writer, number) for writer in range(PROCESSES) for number in range(EVENTS)]
    assert os.stat(path).st_mode & 0o777 == 0o600
