"""The load tests' report: what they served (requests by kind and status, errors), printed at the
end of the run whatever the verbosity, so a passing run still shows its numbers."""
from __future__ import annotations

import pytest

_REPORT = pytest.StashKey[list]()


@pytest.fixture
def load_report(request) -> list:
    """A list the test appends its one-line summary to."""
    return request.config.stash.setdefault(_REPORT, [])


def pytest_terminal_summary(terminalreporter):
    lines = terminalreporter.config.stash.get(_REPORT, [])
    if lines:
        terminalreporter.section("load tests: requests served")
        for line in lines:
            terminalreporter.write_line(line)
