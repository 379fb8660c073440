"""The account page's HTML: rendered here, every piece of text through ``html.escape``.

No script, no external file: the one style sheet is inline and allowed by its hash in the
Content-Security-Policy (``HEADERS``), which forbids everything else.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
from html import escape

from keystone_lite.account import downloads

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:54rem;margin:2rem auto;padding:0 1rem}
section{background:#fff;border:1px solid #d8dbe2;border-radius:6px;padding:1rem 1.25rem;
margin:1rem 0}
h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.15rem;margin:0 0 .6rem}
dl{display:grid;grid-template-columns:13rem 1fr;gap:.3rem 1rem;margin:0}
dt{color:#5a6172}dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;
border-bottom:1px solid #e4e6eb;overflow-wrap:anywhere}
code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f4f5f7;padding:.6rem;overflow-x:auto}
.notice{background:#e8f5e9;border-color:#9ccc9f}.problem{background:#fdecea;border-color:#e6a19a}
button{font:inherit;padding:.45rem 1rem;border-radius:4px;border:1px solid #b3261e;
background:#b3261e;color:#fff;cursor:pointer}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
# Every response of the account app carries these (views.AccountHeaders).
HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
}


@dataclasses.dataclass(frozen=True)
class Grant:
    target: str  # the project's or domain's name, or "system"
    target_id: str
    domain: str  # the project's domain name ("" for a domain or the system)
    roles: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Account:
    """What the page shows: the certificate's user and where they hold roles."""

    user_name: str
    user_id: str
    domain_name: str
    domain_id: str
    subject_dn: str | None
    issuer_dn: str | None
    not_after: int | None  # µs since the epoch; None when the server exported no certificate
    thumbprint: str | None
    projects: list[Grant]
    domains: list[Grant]
    system: Grant | None


def document(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="referrer" content="same-origin">'
            f"<title>{escape(title)} · keystone_lite</title><style>{STYLE}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def account_page(account: Account, *, base: str, form_token: str, revoked: bool,
                 now: datetime.datetime) -> str:
    """``base``: the account app's own path (``/main/account``), for its links and form."""
    parts = [f"<h1>Your account: {escape(account.user_name)}</h1>"]
    if revoked:
        parts.append('<section class="notice" id="revoked"><p>Every token issued to you until '
                     'now is revoked, on every node. Your certificate still logs you in: the '
                     '<code>openstack</code> command gets a new token by itself.</p></section>')
    parts += [_identity(account, now), _grants(account), _command_line(account, base),
              _revoke(base, form_token)]
    return document(f"Account of {account.user_name}", "".join(parts))


def _row(label: str, value: str | None, code: bool = False) -> str:
    if value is None:
        shown = "<i>not exported by the web server</i>"
    else:
        shown = f"<code>{escape(value)}</code>" if code else escape(value)
    return f"<dt>{escape(label)}</dt><dd>{shown}</dd>"


def _identity(account: Account, now: datetime.datetime) -> str:
    expiry = None
    if account.not_after is not None:
        moment = datetime.datetime.fromtimestamp(account.not_after / 1e6, datetime.timezone.utc)
        days = (moment - now).days
        expiry = f"{moment:%Y-%m-%d %H:%M} UTC ({_days(days)})"
    return ('<section id="identity"><h2>Who your certificate makes you</h2><dl>'
            + _row("User name", account.user_name)
            + _row("User id", account.user_id, code=True)
            + _row("Domain", f"{account.domain_name} ({account.domain_id})")
            + _row("Certificate subject", account.subject_dn)
            + _row("Certificate issuer", account.issuer_dn)
            + _row("Certificate expires", expiry)
            + _row("SHA-256 thumbprint", account.thumbprint, code=True)
            + "</dl></section>")


def _days(days: int) -> str:
    if days < 0:
        return "expired"
    return "in less than a day" if days == 0 else f"in {days} day{'s' * (days != 1)}"


def _grants(account: Account) -> str:
    rows = [_grant_row(grant.target, grant.domain, grant.target_id, grant.roles)
            for grant in account.projects]
    body = ('<table id="projects"><thead><tr><th>Project</th><th>Domain</th><th>Id</th>'
            f'<th>Roles</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            if rows else "<p>You hold no role on any enabled project: ask an administrator "
            "for one (<code>keystone-lite-manage role assignment</code>).</p>")
    for grant in account.domains:
        body += (f"<p>On domain <b>{escape(grant.target)}</b>: "
                 f"{escape(', '.join(grant.roles))}</p>")
    if account.system is not None:
        body += f"<p>On the system: {escape(', '.join(account.system.roles))}</p>"
    return f'<section id="grants"><h2>Your projects and roles</h2>{body}</section>'


def _grant_row(name: str, domain: str, target_id: str, roles: tuple[str, ...]) -> str:
    return (f"<tr><td>{escape(name)}</td><td>{escape(domain)}</td>"
            f"<td><code>{escape(target_id)}</code></td><td>{escape(', '.join(roles))}</td></tr>")


def _command_line(account: Account, base: str) -> str:
    directory = downloads.DIRECTORY
    p12 = "YOUR-CERTIFICATE.p12"
    steps = "\n".join([
        f"mkdir -p {directory} && cd {directory}",
        f"openssl pkcs12 -in {p12} -clientcert -nokeys -out {downloads.CERTIFICATE}",
        f"openssl pkcs12 -in {p12} -nocerts -nodes -out {downloads.KEY}",
        f"chmod 600 {downloads.KEY}",
        f"openssl pkcs12 -in {p12} -cacerts -nokeys -out {downloads.CA}",
        f"openstack --os-cloud {downloads.CLOUD} token issue",
    ])
    return ('<section id="cli"><h2>The <code>openstack</code> command</h2>'
            "<p>Log in with this certificate from a shell: download "
            f'<a href="{escape(base)}/clouds.yaml" download>clouds.yaml</a> (save it in '
            f"<code>{directory}/</code>) or "
            f'<a href="{escape(base)}/openrc" download>openrc</a> (then <code>. ./openrc</code>), '
            "and put the certificate from the PKCS#12 file you imported into your browser "
            f"beside it:</p><pre>{escape(steps)}</pre>"
            f"<p>The login uses OAuth 2.0 mutual TLS with your user id "
            f"<code>{escape(account.user_id)}</code> as client id; its tokens are bound to "
            "your certificate.</p></section>")


def _revoke(base: str, form_token: str) -> str:
    return ('<section id="revoke"><h2>Revoke all my tokens</h2>'
            "<p>If a token of yours may have leaked, or you leave a shared machine: every token "
            "issued to you until now stops working at once, on every node, whoever holds it. "
            "Your certificate keeps working; to stop it, ask the operator to revoke it.</p>"
            f'<form method="post" action="{escape(base)}/revoke">'
            f'<input type="hidden" name="csrf_token" value="{escape(form_token)}">'
            '<button type="submit" id="revoke-all">Revoke all my tokens</button></form>'
            "</section>")


def error_page(status: int, title: str, message: str, request_id: str | None) -> str:
    """The page a browser gets instead of Keystone's JSON error: what is wrong, and for a
    401 how to present a certificate."""
    parts = [f"<h1>{status} {escape(title)}</h1>",
             f'<section class="problem" id="problem"><p>{escape(message)}</p>']
    if request_id:
        parts.append(f"<p>Request id, for the operator's log: <code>{escape(request_id)}"
                     "</code></p>")
    parts.append("</section>")
    if status == 401:
        parts.append(_certificate_help())
    return document(f"{status} {title}", "".join(parts))


def _certificate_help() -> str:
    return (
        '<section id="help"><h2>How to present your certificate</h2>'
        "<p>This page knows you by the client certificate your browser presents when it "
        "connects. Your operator gave you a PKCS#12 file (<code>NAME.p12</code>, made by "
        "<code>keystone-lite-manage pki client NAME</code>) and the CA certificate "
        "(<code>ca.crt</code>).</p><ol>"
        "<li>Import the PKCS#12 file: Chromium and Chrome: Settings → Privacy and security → "
        "Security → Manage certificates → Your certificates → Import; Firefox: Settings → "
        "Privacy &amp; Security → Certificates → View Certificates → Your Certificates → "
        "Import; on the command line: <code>pk12util -d sql:$HOME/.pki/nssdb -i NAME.p12"
        "</code>.</li>"
        "<li>Trust the CA for websites if the browser warned about this site: the "
        "Authorities tab, Import, <code>ca.crt</code>.</li>"
        "<li>Restart the browser, open this page again and choose the certificate when "
        "asked. A browser asks once per site and remembers the answer: if you chose none "
        "before, restart the browser.</li></ol>"
        "<p>A certificate that was presented but refused (revoked, expired, of another CA, "
        "for a user that does not exist) is named in the message above.</p></section>")
