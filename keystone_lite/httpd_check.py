"""Find the known traps of a keystone_lite deployment in an Apache httpd configuration.

httpd accepts all of these and then misbehaves at request time, far from the line at fault:
client verification per <Location> (renegotiation: 403 AH10158, 413, HTTP/2 failures),
FakeBasicAuth next to SSLUserName (REMOTE_USER becomes the whole DN), CompatEnvVars,
optional_no_ca, insecure renegotiation, a user-name attribute the certificates lack, a missing
+ExportCertData, no verification at all, a CRL file without SSLCARevocationCheck (never checked)
or the check without a file (httpd stops), sub-interpreters (cryptography cannot be imported) and
the other module's directives left over from a mod_nss <-> mod_ssl port. docs/deployment.md
explains each one.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import os
import re

from cryptography import x509

from keystone_lite.httpd_config import PER_DIRECTORY, Config, Directive, Finding, Section

APP_SCRIPTS = ("httpdmain.py", "httpdadmin.py")
MODULES = ("mod_ssl", "mod_nss")
SEVERITIES = ("error", "warning", "info")

_LEVELS = {"none": 0, "optional_no_ca": 1, "optional": 2, "require": 3}
# mod_ssl's and mod_nss's names of subject attributes (case-sensitive) -> OID.
_DN_ATTRIBUTES = {
    "C": "2.5.4.6", "ST": "2.5.4.8", "SP": "2.5.4.8", "L": "2.5.4.7", "O": "2.5.4.10",
    "OU": "2.5.4.11", "CN": "2.5.4.3", "T": "2.5.4.12", "I": "2.5.4.43", "G": "2.5.4.42",
    "S": "2.5.4.4", "D": "2.5.4.13", "UID": "0.9.2342.19200300.100.1.1",
    "Email": "1.2.840.113549.1.9.1",
}
_SUBJECT_ATTRIBUTE = re.compile(r"SSL_CLIENT_S_DN_([A-Za-z]+)(?:_(\d+))?")
_SAN = re.compile(r"SSL_CLIENT_SAN_(Email|DNS|OTHER_msUPN)_(\d+)")
_NOT_A_NAME = re.compile(r"SSL_CLIENT_(M_SERIAL|M_VERSION|V_START|V_END|V_REMAIN|A_SIG|A_KEY|"
                         r"CERT|CERT_CHAIN_\d+|CERT_RFC4523_CEA|VERIFY|I_DN(_\w+)?)")
_UPN_OID = "1.3.6.1.4.1.311.20.2.3"

_TO_MOD_SSL = {
    "nssengine": "SSLEngine on",
    "nsscertificatedatabase": "SSLCertificateFile and SSLCertificateKeyFile (export the key "
                              "and certificate with pk12util)",
    "nssnickname": "SSLCertificateFile and SSLCertificateKeyFile",
    "nssverifyclient": "SSLVerifyClient, at the VirtualHost level",
    "nssusername": "SSLUserName",
    "nssoptions": "SSLOptions, without FakeBasicAuth and CompatEnvVars",
    "nssprotocol": "SSLProtocol -all +TLSv1.2 +TLSv1.3",
    "nssciphersuite": "SSLCipherSuite with OpenSSL cipher names",
    "nssrenegotiation": "delete it: mod_ssl has nothing to set (it allows only secure "
                        "renegotiation by default); never SSLInsecureRenegotiation on",
    "nssrequiresafenegotiation": "delete it: mod_ssl always requires safe renegotiation",
    "nssrequiressl": "SSLRequireSSL",
    "nssrequire": "Require expr",
    "nssrenegbuffersize": "SSLRenegBufferSize",
    "nssocsp": "SSLOCSPEnable",
    "nsspassphrasedialog": "SSLPassPhraseDialog",
    "nsssessiontickets": "SSLSessionTickets",
    "nssenforcevalidcerts": "delete it: mod_ssl has no counterpart",
}
_TO_MOD_NSS = {
    "sslengine": "NSSEngine on",
    "sslcertificatefile": "import the certificate into the NSS database (pk12util) and name it "
                          "with NSSNickname",
    "sslcertificatekeyfile": "import the key into the NSS database (pk12util)",
    "sslcertificatechainfile": "import the chain into the NSS database (certutil -A)",
    "sslcacertificatefile": "import the client CA into the NSS database trusted for client "
                            "auth (certutil -A -t CT,,)",
    "sslcacertificatepath": "import the client CAs into the NSS database (certutil -A -t CT,,)",
    "sslverifyclient": "NSSVerifyClient, at the VirtualHost level",
    "sslverifydepth": "delete it: NSS always verifies the whole chain",
    "sslusername": "NSSUserName",
    "ssloptions": "NSSOptions",
    "sslprotocol": "NSSProtocol",
    "sslciphersuite": "NSSCipherSuite",
    "sslinsecurerenegotiation": "delete it; NSSRenegotiation on needs NSSRequireSafeNegotiation on",
    "sslrequiressl": "NSSRequireSSL",
    "sslrenegbuffersize": "NSSRenegBufferSize",
    "sslsessiontickets": "NSSSessionTickets",
    "sslcarevocationfile": "import the CRL into the NSS database (crlutil -I -i crl.der -d "
                           "DB); mod_nss has no CRL file directive",
    "sslcarevocationpath": "import the CRLs into the NSS database (crlutil -I)",
    "sslcarevocationcheck": "delete it: NSS checks the CRLs imported into its database",
}


@dataclasses.dataclass
class _Scope:
    """The main server or one <VirtualHost>; ``inherited`` holds the main server's directives."""
    vhost: Section | None
    own: list[Directive]
    inherited: list[Directive]
    module: str = "mod_ssl"

    @property
    def prefix(self) -> str:
        return "SSL" if self.module == "mod_ssl" else "NSS"

    def key(self, suffix: str) -> str:
        """This host's module's directive, e.g. key("verifyclient") -> "sslverifyclient"."""
        return self.prefix.casefold() + suffix

    def every(self, *keys: str) -> list[Directive]:
        return [d for d in self.inherited + self.own if d.key in keys]

    def server_level(self, *keys: str) -> Directive | None:
        """The last server-context occurrence: the vhost's own, else the main server's."""
        for directives in (self.own, self.inherited):
            found = [d for d in directives if d.key in keys and d.per_directory is None]
            if found:
                return found[-1]
        return None


@dataclasses.dataclass(frozen=True)
class _Mount:
    alias: Directive
    url: str
    script: str
    options: dict


def check(config: Config, module: str = "auto", client_certs: tuple = ()) -> list[Finding]:
    """Every finding about ``config`` (the reader's included), in reading order of the files.

    ``module`` is ``mod_ssl``, ``mod_nss`` or ``auto`` (decided per VirtualHost from its
    SSLEngine/NSSEngine line); ``client_certs`` are (name, x509.Certificate) pairs whose subjects
    must carry the SSLUserName/NSSUserName attribute.
    """
    findings = list(config.findings)
    scopes = _scopes(config, module)
    daemons_by_name = _daemons_by_server_name(scopes)
    for scope in scopes:
        findings += _directive_rules(scope, client_certs)
        findings += _revocation_findings(scope)
        findings += _mount_rules(scope, _mounts(scope.own), daemons_by_name)
    unique = list(dict.fromkeys(findings))
    order = {name: index for index, name in enumerate(config.files)}
    return sorted(unique, key=lambda f: (order.get(f.file, len(order)), f.line))


def load_client_certificate(path: str) -> x509.Certificate:
    """The first certificate in a PEM file (a combined cert+key file is fine)."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return x509.load_pem_x509_certificates(data)[0]
    except ValueError:
        raise ValueError(f"{path}: no PEM certificate in this file") from None


def summary(findings: list[Finding], config: Config) -> str:
    counts = {severity: sum(f.severity == severity for f in findings) for severity in SEVERITIES}
    files = len(dict.fromkeys(config.files))
    return (f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} "
            f"info in {files} file(s)")


# -- scopes and mounts -----------------------------------------------------------------------------

def _scopes(config: Config, module: str) -> list[_Scope]:
    main = [d for d in config.directives if d.vhost is None]
    scopes = [_Scope(None, main, [])]
    vhosts: dict[Section, list[Directive]] = {}
    for directive in config.directives:
        if directive.vhost is not None:
            vhosts.setdefault(directive.vhost, []).append(directive)
    scopes += [_Scope(vhost, own, main) for vhost, own in vhosts.items()]
    loads_nss = any(d.key == "loadmodule" and d.args[:1] == ("nss_module",) for d in main)
    for scope in scopes:
        scope.module = module if module in MODULES else _detect_module(scope, loads_nss)
    return scopes


def _detect_module(scope: _Scope, loads_nss: bool) -> str:
    engine = scope.server_level("sslengine", "nssengine")
    if engine is not None and engine.args[:1] and engine.args[0].casefold() == "on":
        return "mod_nss" if engine.key == "nssengine" else "mod_ssl"
    nss = sum(d.key.startswith("nss") for d in scope.own)
    ssl = sum(d.key.startswith("ssl") for d in scope.own)
    return "mod_nss" if nss > ssl or (nss == ssl and loads_nss) else "mod_ssl"


def _mounts(directives: list[Directive]) -> list[_Mount]:
    mounts = []
    for directive in directives:
        if directive.key == "wsgiscriptalias" and len(directive.args) >= 2 and \
                os.path.basename(directive.args[1]) in APP_SCRIPTS:
            options = dict(option.partition("=")[::2] for option in directive.args[2:])
            mounts.append(_Mount(directive, directive.args[0].rstrip("/") or "/",
                                 directive.args[1], options))
    return mounts


def _covers(section: Section, mount: _Mount) -> bool:
    """Whether a per-directory section applies to the mount's URL or script; a bad regex
    (httpd would refuse it) covers nothing."""
    try:
        return _matches(section, mount)
    except re.error:
        return False


def _matches(section: Section, mount: _Mount) -> bool:
    kind, argument = section.kind, section.argument
    if argument.startswith("~ "):
        kind, argument = kind + "match", argument[2:].strip()
    if kind == "location":
        prefix = argument.rstrip("/")
        return not prefix or mount.url == prefix or mount.url.startswith(prefix + "/")
    if kind == "locationmatch":
        return re.search(argument, mount.url + "/") is not None
    if kind == "directory":
        prefix = argument.rstrip("/")
        return mount.script.startswith(prefix + "/") or fnmatch.fnmatch(
            os.path.dirname(mount.script), prefix)
    if kind == "directorymatch":
        return re.search(argument, os.path.dirname(mount.script)) is not None
    if kind == "files":
        return fnmatch.fnmatch(os.path.basename(mount.script), argument)
    if kind == "filesmatch":
        return re.search(argument, os.path.basename(mount.script)) is not None
    return kind in ("if", "elseif", "else", "limit", "limitexcept")


def _applying(scope: _Scope, mount: _Mount, *keys: str) -> list[Directive]:
    """Directives of ``keys`` that apply to the mount, in httpd's merge order."""
    server = [d for d in scope.inherited + scope.own if d.key in keys and d.per_directory is None]
    merge_rank = {"directory": 0, "directorymatch": 0, "files": 1, "filesmatch": 1,
                  "location": 2, "locationmatch": 2}
    per_dir = [d for d in scope.inherited + scope.own if d.key in keys and d.per_directory
               and all(_covers(s, mount) for s in d.sections if s.kind in PER_DIRECTORY)]
    per_dir.sort(key=lambda d: merge_rank.get(d.per_directory.kind, 3))
    return server + per_dir


def _options(directives: list[Directive]) -> set[str]:
    """SSLOptions/NSSOptions merged as httpd does: +/- adjust, a bare list replaces."""
    result: set[str] = set()
    for directive in directives:
        if any(word[:1] not in "+-" for word in directive.args):
            result = set()
        for word in directive.args:
            name = word.lstrip("+-").casefold()
            if word.startswith("-"):
                result.discard(name)
            else:
                result.add(name)
    return result


def _has_option(directive: Directive, name: str) -> bool:
    return any(word.lstrip("+").casefold() == name.casefold() for word in directive.args
               if not word.startswith("-"))


def _level(directive: Directive | None) -> int:
    if directive is None or not directive.args:
        return 0
    return _LEVELS.get(directive.args[0].casefold(), 0)


# -- rules on single directives --------------------------------------------------------------------

def _directive_rules(scope: _Scope, client_certs: tuple) -> list[Finding]:
    findings = []
    base = _level(scope.server_level(scope.key("verifyclient")))
    user_names = scope.every(scope.key("username"))
    safe = any(d.args[:1] and d.args[0].casefold() == "on"
               for d in scope.every("nssrequiresafenegotiation"))
    for d in scope.own:
        foreign = _foreign_module_findings(scope, d) if scope.vhost is not None else []
        if foreign:
            findings += foreign
            continue
        value = d.args[0].casefold() if d.args else ""
        if d.key in ("sslverifyclient", "nssverifyclient"):
            findings += _verify_findings(d, value, base)
        elif d.key in ("ssloptions", "nssoptions"):
            findings += _options_findings(d, user_names)
        elif d.key == "sslinsecurerenegotiation" and value == "on":
            findings.append(_at(d, "error", "SSLInsecureRenegotiation on also renegotiates with "
                                "clients that lack RFC 5746 support, which opens the TLS "
                                "renegotiation prefix attack (CVE-2009-3555)",
                                "delete it: nothing needs renegotiation when SSLVerifyClient is "
                                "at the VirtualHost level"))
        elif d.key == "nssrenegotiation" and value == "on" and not safe:
            findings.append(_at(d, "error", "NSSRenegotiation on without NSSRequireSafeNegotiation "
                                "on also renegotiates with clients that lack RFC 5746 support "
                                "(CVE-2009-3555)", "add NSSRequireSafeNegotiation on, or "
                                "NSSRenegotiation off"))
        elif d.key in ("sslusername", "nssusername"):
            findings += _user_name_findings(d, client_certs)
        elif d.key == "wsgipassauthorization" and value == "on":
            findings.append(_at(d, "info", "WSGIPassAuthorization On is not needed: REMOTE_USER "
                                "comes from the user-name directive and keystone_lite reads "
                                "X-Auth-Token, not Authorization (only OAuth1 consumers sign "
                                "in Authorization)",
                                "delete it unless OAuth1 consumers use this server (with "
                                "FakeBasicAuth it would hand the app the faked "
                                "'Authorization: Basic <DN>:password' header)"))
    return findings


def _revocation_findings(scope: _Scope) -> list[Finding]:
    """A CRL without SSLCARevocationCheck is read and never used; the check without a CRL
    stops httpd. Per virtual host, as mod_ssl merges both from the main server."""
    if scope.module != "mod_ssl" or (scope.vhost is None and not _engine_on(scope)):
        return []
    crls = [d for d in scope.every("sslcarevocationfile", "sslcarevocationpath")
            if d.per_directory is None]
    check = scope.server_level("sslcarevocationcheck")
    mode = check.args[0].casefold() if check is not None and check.args else "none"
    if crls and mode == "none":
        crl = crls[-1]
        said = f"with SSLCARevocationCheck {check.args[0]}" if check is not None else (
            "without SSLCARevocationCheck")
        return [_at(crl, "error", f"{crl.name} {said}: mod_ssl reads the CRLs and checks none "
                    "of them (the check is none by default since httpd 2.4), so revoked client "
                    "certificates are accepted", "add SSLCARevocationCheck chain next to it")]
    if not crls and mode in ("chain", "leaf"):
        return [_at(check, "error", f"SSLCARevocationCheck {check.args[0]} without "
                    "SSLCARevocationFile or SSLCARevocationPath: httpd refuses to start "
                    "(AH01899 CRL checking has been enabled, but neither SSLCARevocationFile "
                    "nor SSLCARevocationPath is configured)", "add SSLCARevocationFile with "
                    "the CRL of every CA that issues client certificates "
                    "(keystone-lite-manage pki crl makes one for the dev CA)")]
    return []


def _engine_on(scope: _Scope) -> bool:
    engine = scope.server_level("sslengine")
    return engine is not None and bool(engine.args) and engine.args[0].casefold() == "on"


def _verify_findings(d: Directive, value: str, base: int) -> list[Finding]:
    if value not in _LEVELS:
        return [_at(d, "error", f"{d.name} {value} is not one of none, optional, require",
                    "httpd refuses to start; use require")]
    findings = []
    nss = d.key == "nssverifyclient"
    if value == "optional_no_ca":
        findings.append(_at(d, "error", f"{d.name} optional_no_ca: mod_nss does not support it "
                            "and refuses to start" if nss else
                            "SSLVerifyClient optional_no_ca accepts a certificate from any CA: "
                            "with SSLUserName, anyone who mints a certificate with UID=admin "
                            "logs in as admin", f"use {d.name} require and trust only your "
                            "client CA"))
    section = d.per_directory
    if section is not None and _LEVELS[value] > base:
        where = f"inside <{section.name} {section.argument}>".replace(" >", ">")
        if nss:
            findings.append(_at(d, "error", f"{d.name} {value} {where} forces a TLS "
                                "renegotiation: refused unless NSSRenegotiation is on "
                                "('Re-negotation request failed: returned error -12176'), "
                                "clients that refuse renegotiation get 403, request bodies over "
                                "NSSRenegBufferSize (128 KiB) get 413",
                                f"move {d.name} {value} to the <VirtualHost> on a dedicated port"))
        else:
            findings.append(_at(d, "error", f"{d.name} {value} {where} asks for the certificate "
                                "after the handshake (TLS 1.2 renegotiation, TLS 1.3 "
                                "post-handshake auth): Python clients get 403 (AH10158), HTTP/2 "
                                "and browsers fail, request bodies over 128 KiB get 413",
                                f"move {d.name} {value} to the <VirtualHost> on a dedicated "
                                "port, or SSLVerifyClient optional there with Require expr "
                                "%{SSL_CLIENT_VERIFY} == 'SUCCESS' in this section"))
    return findings


def _options_findings(d: Directive, user_names: list[Directive]) -> list[Finding]:
    findings = []
    nss = d.key == "nssoptions"
    if _has_option(d, "FakeBasicAuth") and user_names:
        user_name = user_names[-1]
        if nss:
            findings.append(_at(d, "error", f"+FakeBasicAuth with {user_name.name} "
                                f"{' '.join(user_name.args)}: mod_nss skips NSSUserName while "
                                "FakeBasicAuth is on; releases before 1.0.14-2 set REMOTE_USER "
                                "again later, RHEL 7's mod_nss since 1.0.14-2 (rhbz#1347298) "
                                "does not, and REMOTE_USER is then not the user name",
                                "drop +FakeBasicAuth: NSSUserName alone sets REMOTE_USER (the "
                                "mod_nss manual says otherwise, its code does not need it)"))
        else:
            findings.append(_at(d, "error", f"+FakeBasicAuth with {user_name.name} "
                                f"{' '.join(user_name.args)}: mod_ssl then ignores SSLUserName "
                                "and REMOTE_USER becomes the whole subject DN, which is no "
                                "keystone_lite user name", "drop +FakeBasicAuth: SSLUserName "
                                "alone sets REMOTE_USER"))
    if _has_option(d, "CompatEnvVars"):
        if nss:
            findings.append(_at(d, "warning", "NSSOptions CompatEnvVars does nothing in mod_nss "
                                "and is a configuration error once ported to mod_ssl",
                                "delete it"))
        else:
            findings.append(_at(d, "error", "SSLOptions CompatEnvVars was removed in httpd 2.4: "
                                "httpd refuses to start (AH00526: SSLOptions: Illegal option "
                                "'CompatEnvVars')", "delete it; +StdEnvVars gives the "
                                "SSL_CLIENT_* variables"))
    return findings


def _user_name_findings(d: Directive, client_certs: tuple) -> list[Finding]:
    name = d.args[0] if d.args else ""
    nss = d.key == "nssusername"
    unset = "REMOTE_USER stays empty" + ("" if nss else " (AH02227 Failed to set r->user)")
    fix = "use SSL_CLIENT_S_DN_UID (or SSL_CLIENT_S_DN_CN) and issue certificates that carry it"
    subject = _SUBJECT_ATTRIBUTE.fullmatch(name)
    san = None if nss else _SAN.fullmatch(name)
    if name == "SSL_CLIENT_S_DN":
        return [_at(d, "warning", f"{d.name} SSL_CLIENT_S_DN makes REMOTE_USER the whole subject "
                    "DN, which is no keystone_lite user name", fix)]
    if subject is not None and subject.group(1) not in _DN_ATTRIBUTES:
        spelled = {key.casefold(): key for key in _DN_ATTRIBUTES}.get(subject.group(1).casefold())
        hint = f"; attribute names are case-sensitive: SSL_CLIENT_S_DN_{spelled}" if spelled else ""
        return [_at(d, "error", f"{d.name} {name} is not a variable "
                    f"{'mod_nss' if nss else 'mod_ssl'} sets: {unset}{hint}", fix)]
    if subject is None and san is None:
        if _NOT_A_NAME.fullmatch(name):
            return [_at(d, "warning", f"{d.name} {name} does not name the user", fix)]
        return [_at(d, "error", f"{d.name} {name} is not a variable "
                    f"{'mod_nss' if nss else 'mod_ssl'} sets: {unset}", fix)]
    findings = []
    for cert_name, certificate in client_certs:
        if not _carries(certificate, subject, san):
            findings.append(_at(d, "error", f"{d.name} {name}, but {cert_name} (subject "
                                f"{certificate.subject.rfc4514_string()}) lacks that attribute: "
                                f"{unset} for its holder", "issue client certificates with "
                                "UID=<user name> in the subject, or name an attribute they "
                                "carry"))
    return findings


def _carries(certificate: x509.Certificate, subject, san) -> bool:
    if subject is not None:
        oid = x509.ObjectIdentifier(_DN_ATTRIBUTES[subject.group(1)])
        return len(certificate.subject.get_attributes_for_oid(oid)) > int(subject.group(2) or 0)
    try:
        names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    kind, index = san.group(1), int(san.group(2))
    if kind == "Email":
        values = names.get_values_for_type(x509.RFC822Name)
    elif kind == "DNS":
        values = names.get_values_for_type(x509.DNSName)
    else:
        values = [name for name in names.get_values_for_type(x509.OtherName)
                  if name.type_id.dotted_string == _UPN_OID]
    return len(values) > index


def _foreign_module_findings(scope: _Scope, d: Directive) -> list[Finding]:
    foreign, table, other = (("nss", _TO_MOD_SSL, "mod_nss") if scope.module == "mod_ssl"
                             else ("ssl", _TO_MOD_NSS, "mod_ssl"))
    guard = r"(nss_module|mod_nss\.c)" if other == "mod_nss" else r"(ssl_module|mod_ssl\.c)"
    if not d.key.startswith(foreign) or d.inside("ifmodule", guard):
        return []
    fix = table.get(d.key, f"use the {scope.module} counterpart or delete it")
    return [_at(d, "error", f"{d.name} is a {other} directive in a {scope.module} virtual host: "
                f"httpd refuses to start unless {other} is loaded, and then it sets nothing "
                "for this host", fix)]


# -- rules on the keystone_lite mounts -------------------------------------------------------------

def _mount_rules(scope: _Scope, mounts: list[_Mount], daemons_by_name: dict) -> list[Finding]:
    findings = []
    daemons = {d.args[0] for d in scope.every("wsgidaemonprocess") if d.args}
    daemons |= daemons_by_name.get(_server_name(scope), set())
    groups = {id(mount): _process_group(scope, mount) for mount in mounts}
    for mount in mounts:
        if not _ops_only(scope, mount):
            findings += _verification_findings(scope, mount)
            findings += _environ_findings(scope, mount)
        group = groups[id(mount)]
        sharing = [m for m in mounts if group and groups[id(m)] == group]
        findings += _interpreter_findings(scope, mount, group, sharing)
        if not group:
            findings.append(_at(mount.alias, "warning", f"WSGIScriptAlias {mount.url} has no "
                                "process group: keystone_lite runs embedded in every httpd "
                                "worker, loaded once per worker and restarted with httpd",
                                "add WSGIDaemonProcess keystone-lite-... and "
                                "process-group=keystone-lite-... on this line"))
        elif group not in daemons and group != "%{GLOBAL}":
            findings.append(_at(mount.alias, "error", f"process group {group!r} of "
                                f"{mount.url} names no WSGIDaemonProcess: every request fails "
                                f"(No WSGI daemon process called '{group}' has been "
                                "configured)", f"add WSGIDaemonProcess {group} in this "
                                "VirtualHost or at server level"))
        elif len(sharing) > 1 and mount is sharing[-1]:
            urls = " and ".join(m.url for m in sharing)
            findings.append(_at(mount.alias, "warning", f"{urls} share the daemon process "
                                f"group {group!r}: one process pool, sized and restarted "
                                "together", "one WSGIDaemonProcess per app (keystone-lite-main, "
                                "keystone-lite-admin)"))
    return findings


def _server_name(scope: _Scope) -> str | None:
    """The ServerName a VirtualHost goes by (its own, else the main server's)."""
    named = scope.server_level("servername")
    return named.args[0].casefold() if named is not None and named.args else None


def _daemons_by_server_name(scopes: list[_Scope]) -> dict[str, set[str]]:
    """mod_wsgi lets a VirtualHost use the daemon process groups defined in another one with
    the same ServerName (e.g. a plain-HTTP health VirtualHost beside the TLS one)."""
    found: dict = {}
    for scope in scopes:
        if scope.vhost is not None:
            found.setdefault(_server_name(scope), set()).update(
                d.args[0] for d in scope.own if d.key == "wsgidaemonprocess" and d.args)
    return found


# Paths a plain-HTTP operations VirtualHost may open (keystone_lite.ops_listener.OPS_PATHS).
_OPS_PATHS = ("/healthcheck", "/metrics")
# Paths of the API: a section granting any of them opens the API, not just the ops paths.
_API_PROBES = ("/", "/v3", "/v3/auth/tokens", "/v3/users", "/v2.0/tokens", "/main/v3",
               "/admin/v3/users", "/healthcheck/../v3")


def _ops_only(scope: _Scope, mount: _Mount) -> bool:
    """A VirtualHost without TLS that denies the whole mount and grants only the operations
    paths (the shipped health VirtualHost): nothing there needs a client certificate."""
    engine = scope.server_level("sslengine", "nssengine")
    if engine is not None and engine.args[:1] and engine.args[0].casefold() == "on":
        return False
    requires = [d for d in scope.own if d.key == "require" and d.per_directory is not None]
    denied = [d for d in requires if _words(d) == ["all", "denied"]
              and d.per_directory.kind == "location"
              and d.per_directory.argument.rstrip("/") in ("", mount.url.rstrip("/"))]
    granted = [d for d in requires if d not in denied]
    return bool(denied) and all(_words(d) == ["all", "granted"] and _grants_only_ops(
        d.per_directory) for d in granted)


def _words(directive: Directive) -> list[str]:
    return [word.casefold() for word in directive.args]


def _grants_only_ops(section: Section) -> bool:
    if section.kind == "location":
        return section.argument.rstrip("/") in _OPS_PATHS
    if section.kind == "locationmatch":
        try:
            pattern = re.compile(section.argument)
        except re.error:
            return False
        return not any(pattern.search(path) for path in _API_PROBES)
    return False


def _process_group(scope: _Scope, mount: _Mount) -> str | None:
    return mount.options.get("process-group") or _last_arg(
        _applying(scope, mount, "wsgiprocessgroup"))


def _verification_findings(scope: _Scope, mount: _Mount) -> list[Finding]:
    directive = f"{scope.prefix}VerifyClient"
    verify = _applying(scope, mount, scope.key("verifyclient"))
    level = _level(verify[-1] if verify else None)
    if level == 0:
        return [_at(mount.alias, "error", f"{mount.url} serves keystone_lite but no {directive} "
                    "covers it: clients are never asked for a certificate, so certificate login "
                    "cannot work", f"{directive} require at the <VirtualHost> level, with the "
                    "client CA trusted")]
    required = any("SSL_CLIENT_VERIFY" in " ".join(d.args) for d in
                   _applying(scope, mount, "require", "sslrequire", "nssrequire"))
    if level < _LEVELS["require"] and not required:
        return [_at(mount.alias, "info", f"{directive} {verify[-1].args[0]} for {mount.url}: "
                    "requests without a certificate reach keystone_lite anonymously (token and "
                    "password logins only)", "to make certificates mandatory add Require expr "
                    f"%{{SSL_CLIENT_VERIFY}} == 'SUCCESS' in <Location {mount.url}>")]
    return []


def _environ_findings(scope: _Scope, mount: _Mount) -> list[Finding]:
    options = _options(_applying(scope, mount, scope.key("options")))
    directive = f"{scope.prefix}Options"
    findings = []
    if "exportcertdata" not in options:
        findings.append(_at(mount.alias, "warning", f"{directive} for {mount.url} lack "
                            "+ExportCertData: SSL_CLIENT_CERT is not passed, so keystone_lite "
                            "has no certificate (no thumbprint)",
                            f"{directive} +StdEnvVars +ExportCertData"))
    if "stdenvvars" not in options:
        findings.append(_at(mount.alias, "warning", f"{directive} for {mount.url} lack "
                            "+StdEnvVars: SSL_CLIENT_VERIFY, SSL_CLIENT_S_DN and SSL_CLIENT_I_DN "
                            "are not passed, so [cert_auth] trusted_issuers refuses everyone "
                            "and user_attribute has nothing to read",
                            f"{directive} +StdEnvVars +ExportCertData"))
    return findings


def _interpreter_findings(scope: _Scope, mount: _Mount, group: str | None,
                          sharing: list[_Mount]) -> list[Finding]:
    """cryptography (PyO3) and SQLAlchemy's compiled modules load into one interpreter per
    process: a sub-interpreter works only while it is the only one in its process."""
    application_group = mount.options.get("application-group") or _last_arg(
        _applying(scope, mount, "wsgiapplicationgroup"))
    if application_group == "%{GLOBAL}":
        return []
    fix = "add application-group=%{GLOBAL} to this line (or WSGIApplicationGroup %{GLOBAL})"
    if not group or len(sharing) > 1:
        where = ("embedded mode puts every app in each httpd worker" if not group else
                 f"{group!r} also runs {', '.join(m.url for m in sharing if m is not mount)}")
        return [_at(mount.alias, "error", f"WSGIScriptAlias {mount.url} runs keystone_lite in a "
                    f"Python sub-interpreter and {where}: the second interpreter of a process "
                    "cannot import cryptography (PyO3 modules do not yet support "
                    "subinterpreters) nor SQLAlchemy (Interpreter change detected), so requests "
                    "fail with 500", fix)]
    return [_at(mount.alias, "warning", f"WSGIScriptAlias {mount.url} runs keystone_lite in a "
                "Python sub-interpreter: it works only while no other interpreter of the daemon "
                "process imports cryptography or SQLAlchemy, which load into one interpreter per "
                "process", fix)]


def _last_arg(directives: list[Directive]) -> str | None:
    return directives[-1].args[0] if directives and directives[-1].args else None


def _at(d: Directive, severity: str, message: str, fix: str) -> Finding:
    return Finding(d.file, d.line, severity, message, fix)
