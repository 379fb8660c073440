"""docs/application-credentials.md, run as written: a certificate-only user creates an
application credential with curl, a script without a certificate uses it (OAuth 2.0 grant,
Keystone auth request), the user revokes it. The real curl against ``keystone-lite serve
--verify-client optional``; the ``openstack`` blocks run where the command is installed (``tox
-e compat`` runs them: tests/compat/test_application_credentials.py)."""
from __future__ import annotations

import shutil

import pytest

import walkthrough

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")


def test_the_walkthrough_works_as_written(tmp_path):
    walkthrough.application_credentials(tmp_path,
                                        with_openstack=shutil.which("openstack") is not None)
