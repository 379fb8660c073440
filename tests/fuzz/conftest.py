"""Fixtures of the fuzz tests, and the report of how many examples each fuzz target ran.

The report is printed at the end of the run; with ``KEYSTONE_LITE_FUZZ_REPORT=path`` it is also
written there as JSON ({target: {"examples": n, "responses": {"2xx": n, ...}}}).
"""
from __future__ import annotations

import json
import os

import pytest

import fuzz_support


@pytest.fixture
def fuzz_context(make_deployment) -> fuzz_support.FuzzContext:
    """A fresh Fernet deployment with the fuzzers' victims and tokens."""
    return fuzz_support.build_context(make_deployment())


def pytest_terminal_summary(terminalreporter):
    counts = fuzz_support.EXAMPLES
    if not counts:
        return
    responses = fuzz_support.RESPONSES
    kinds = ("2xx", "3xx", "4xx", "5xx")
    terminalreporter.section("fuzz examples per target")
    terminalreporter.write_line("examples  responses: " + "".join(f"{kind:>7}" for kind in kinds)
                                + "  target")
    for target, count in sorted(counts.items()):
        classes = "".join(f"{responses[target, kind]:7d}" for kind in kinds)
        terminalreporter.write_line(f"{count:8d}{'':11}{classes}  {target}")
    terminalreporter.write_line(f"{sum(counts.values()):8d} examples in all, {len(counts)} "
                                f"targets, {sum(responses.values())} responses")
    report = os.environ.get("KEYSTONE_LITE_FUZZ_REPORT")
    if report:
        with open(report, "w", encoding="utf-8") as handle:
            json.dump({target: {"examples": count, "responses": {
                kind: responses[target, kind] for kind in kinds if responses[target, kind]}}
                for target, count in sorted(counts.items())}, handle, indent=1)
