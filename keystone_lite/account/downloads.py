"""The ``clouds.yaml`` and ``openrc`` the account page offers: certificate login for the
``openstack`` command with keystoneauth1's ``v3oauth2mtlsclientcredential`` plugin (OAuth 2.0
mutual TLS, the user's id as client id: docs/certificates.md), the way tests/compat runs it.

Only ids and URLs go in, each quoted for its format (JSON strings are YAML double-quoted
scalars; ``shlex.quote`` for the shell), never a user or project name.
"""
from __future__ import annotations

import json
import shlex

CLOUD = "keystone-lite"
# Where the files go: openstacksdk expands ``~`` in cert, key and cacert; the shell, $HOME.
DIRECTORY = "~/.config/openstack"
CERTIFICATE, KEY, CA = (f"{CLOUD}.crt", f"{CLOUD}.key", f"{CLOUD}-ca.crt")


def _endpoints(base_url: str) -> tuple[str, str]:
    auth_url = f"{base_url}/v3"
    return auth_url, f"{auth_url}/OS-OAUTH2/token"


def clouds_yaml(base_url: str, user_id: str) -> str:
    """``~/.config/openstack/clouds.yaml``; then ``openstack --os-cloud keystone-lite ...``."""
    auth_url, oauth2_endpoint = _endpoints(base_url)
    quoted = json.dumps
    return (
        "# Certificate login for the openstack command (keystone_lite account page).\n"
        f"# Save as {DIRECTORY}/clouds.yaml; put your certificate, its key and the CA\n"
        f"# certificate in {DIRECTORY}/{CERTIFICATE}, {KEY} and {CA} (see the account page).\n"
        f"# Then: openstack --os-cloud {CLOUD} token issue\n"
        "clouds:\n"
        f"  {CLOUD}:\n"
        "    auth_type: v3oauth2mtlsclientcredential\n"
        "    auth:\n"
        f"      auth_url: {quoted(auth_url)}\n"
        f"      oauth2_endpoint: {quoted(oauth2_endpoint)}\n"
        f"      oauth2_client_id: {quoted(user_id)}\n"
        f"    cert: {quoted(f'{DIRECTORY}/{CERTIFICATE}')}\n"
        f"    key: {quoted(f'{DIRECTORY}/{KEY}')}\n"
        f"    cacert: {quoted(f'{DIRECTORY}/{CA}')}\n"
        "    identity_api_version: 3\n"
    )


def openrc(base_url: str, user_id: str) -> str:
    """A file to ``source``: the same login as ``clouds_yaml``, in OS_* variables."""
    auth_url, oauth2_endpoint = _endpoints(base_url)
    directory = '"$HOME/.config/openstack'
    lines = [
        "# Certificate login for the openstack command (keystone_lite account page).",
        "# Usage: . ./openrc && openstack token issue",
        "unset OS_CLOUD OS_TOKEN OS_PASSWORD OS_USERNAME OS_PROJECT_NAME OS_PROJECT_ID",
        "export OS_AUTH_TYPE=v3oauth2mtlsclientcredential",
        f"export OS_AUTH_URL={shlex.quote(auth_url)}",
        f"export OS_OAUTH2_ENDPOINT={shlex.quote(oauth2_endpoint)}",
        f"export OS_OAUTH2_CLIENT_ID={shlex.quote(user_id)}",
        f'export OS_CERT={directory}/{CERTIFICATE}"',
        f'export OS_KEY={directory}/{KEY}"',
        f'export OS_CACERT={directory}/{CA}"',
        "export OS_IDENTITY_API_VERSION=3",
    ]
    return "\n".join(lines) + "\n"
