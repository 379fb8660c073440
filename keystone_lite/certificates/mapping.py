"""Keystone's mapping rules: parse and check a rules document, evaluate it against an assertion.

The language is the one of Keystone's federation mappings, which Keystone's OAuth2 mTLS grant
also reads (``[oauth2] oauth2_cert_dn_mapping_id``; keystone/federation/utils.py)::

    {"rules": [{"local": [{"user": {"name": "{0}", "domain": {"name": "Default"}}},
                          {"groups": "{1}", "domain": {"name": "Default"}}],
                "remote": [{"type": "SSL_CLIENT_SUBJECT_DN_UID"},
                           {"type": "SSL_CLIENT_SUBJECT_DN_OU"},
                           {"type": "SSL_CLIENT_ISSUER_DN_CN", "any_one_of": ["Corp CA"]}]}]}

Evaluation, as Keystone's ``RuleProcessor``:

- An assertion value is split on ``;`` into several values (a list is taken as it is).
- A rule matches when every one of its ``remote`` conditions holds; a condition on a key the
  assertion lacks never holds (``not_any_of`` included).
- ``any_one_of``: some value equals one of the listed ones (``"regex": true``: one of the listed
  regular expressions is found in some value, ``re.search``: anchor with ``^...$`` to match
  whole values). ``not_any_of``: no value does.
- A remote without either *captures* its values for the rule's ``local`` part: the first
  capturing remote is ``{0}``, the next ``{1}``... ``whitelist``/``blacklist`` (with optional
  ``regex``) capture only the values listed / not listed.
- Every matching rule contributes its ``local`` objects: the user is the first one named (later
  ones are ignored, as Keystone does), groups add up, and a ``domain`` object (one without
  ``groups``) is the user's domain when the user names none.

Stricter than Keystone, so that a mistake is a one-line error when the rules are loaded rather
than a failed login: placeholders must refer to a capturing remote of their rule; the value
lists hold strings, and regular expressions must compile; a ``groups`` object needs its
``domain``; ``projects`` (Keystone's auto-provisioned projects) is refused as unsupported. A
placeholder of a scalar field (a user's name, id, email, a domain) whose capture holds several
values, or none, makes the whole evaluation fail rather than guess (Keystone would write the
list's ``repr``); in ``groups`` and ``group_ids`` a placeholder alone (or alone as an item of a
list literal) stands for all its values, and a list literal is read before values are put in
it (Keystone substitutes first, so a value could add names to the list).
"""
from __future__ import annotations

import ast
import dataclasses
import re
from typing import Mapping, Sequence

from keystone_lite.escape import printable

SCHEMA_VERSIONS = ("1.0", "2.0", "3.0")  # Keystone's; projects (2.0, 3.0) are refused anyway
DEFAULT_SCHEMA_VERSION = "1.0"
CONDITIONS = ("any_one_of", "not_any_of")
FILTERS = ("whitelist", "blacklist")
USER_TYPES = ("ephemeral", "local")
_REMOTE_KEYS = ("type", *CONDITIONS, *FILTERS, "regex")
_LOCAL_KEYS = ("user", "group", "groups", "group_ids", "domain")
_UNSUPPORTED_LOCAL = {
    "projects": "Keystone's auto-provisioned projects are not supported: grant roles to "
                "groups and map users to the groups",
    "projects_json": "Keystone's auto-provisioned projects are not supported",
}
_USER_KEYS = ("id", "name", "email", "domain", "type")
_PLACEHOLDER = re.compile(r"\{(\d+)\}")
_LIST_FIELDS = ("groups", "group_ids")  # a lone placeholder there stands for all its values
_SHOWN_VALUES = 5  # values quoted per key in a trace line


@dataclasses.dataclass(frozen=True, eq=False)
class Remote:
    """One ``remote`` condition: ``kind`` is a CONDITIONS or FILTERS name, or None (capture)."""

    type: str
    kind: str | None
    values: tuple[str, ...]
    regex: bool
    patterns: tuple[re.Pattern, ...]

    @property
    def captures(self) -> bool:
        return self.kind not in CONDITIONS


@dataclasses.dataclass(frozen=True, eq=False)
class Rule:
    local: tuple[dict, ...]
    remote: tuple[Remote, ...]


@dataclasses.dataclass(frozen=True, eq=False)
class Rules:
    """Checked rules; ``document`` is the ``rules`` list as given (what the API shows)."""

    rules: tuple[Rule, ...]
    document: list
    schema_version: str = DEFAULT_SCHEMA_VERSION


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What an evaluation gave.

    ``matched``: some rule matched and its ``local`` part could be filled in. ``rule_index``:
    the rule that named the user (else the first that matched); ``matched_rules``: all that
    matched. ``user``: the first user named, placeholders filled (keys ``name``, ``id``,
    ``email``, ``domain`` (``{"id"}`` or ``{"name"}``), ``type``, as the rule gave them).
    ``groups``: ``{"id": ...}`` or ``{"name": ..., "domain": {...}}`` each. ``domain``: the
    domain of a ``domain`` local object. ``trace``: one line per rule tried, and why.
    """

    matched: bool
    rule_index: int | None = None
    user: dict | None = None
    groups: list = dataclasses.field(default_factory=list)
    domain: dict | None = None
    trace: list = dataclasses.field(default_factory=list)
    matched_rules: tuple[int, ...] = ()

    @property
    def user_domain(self) -> dict | None:
        """The user's domain: the one the user names, else the ``domain`` object's."""
        return (self.user or {}).get("domain") or self.domain

    def summary(self, limit: int = 1000) -> str:
        """The trace on one line, for a log."""
        return printable("; ".join(self.trace), limit)


# -- parsing -----------------------------------------------------------------------------------

def parse_rules(document) -> Rules:
    """Check a rules document: ``{"rules": [...], "schema_version"?}`` or the bare list of
    rules (what ``openstack mapping create --rules FILE`` reads). Raises ValueError with a
    one-line reason naming where (``rules[0].remote[1]: ...``)."""
    version = DEFAULT_SCHEMA_VERSION
    if isinstance(document, dict):
        _only(document, ("rules", "schema_version"), "the mapping")
        if "rules" not in document:
            raise ValueError("the mapping has no 'rules'")
        version = document.get("schema_version", DEFAULT_SCHEMA_VERSION)
        if version not in SCHEMA_VERSIONS:
            raise ValueError(f"schema_version: {_quote(version)} is not one of "
                             f"{', '.join(SCHEMA_VERSIONS)}")
        document = document["rules"]
    if not isinstance(document, list) or not document:
        raise ValueError("rules: must be a non-empty list of rules")
    rules = tuple(_rule(rule, f"rules[{index}]") for index, rule in enumerate(document))
    return Rules(rules, document, version)


def _rule(rule, where: str) -> Rule:
    if not isinstance(rule, dict):
        raise ValueError(f"{where}: must be an object with 'local' and 'remote'")
    _only(rule, ("local", "remote"), where)
    for key in ("local", "remote"):
        if key not in rule:
            raise ValueError(f"{where}: '{key}' is missing")
    remotes = rule["remote"]
    if not isinstance(remotes, list) or not remotes:
        raise ValueError(f"{where}.remote: must be a non-empty list")
    remote = tuple(_remote(item, f"{where}.remote[{index}]")
                   for index, item in enumerate(remotes))
    locals_ = rule["local"]
    if not isinstance(locals_, list):
        raise ValueError(f"{where}.local: must be a list")
    captures = sum(item.captures for item in remote)
    for index, item in enumerate(locals_):
        _local(item, f"{where}.local[{index}]", captures)
    return Rule(tuple(locals_), remote)


def _remote(remote, where: str) -> Remote:
    if not isinstance(remote, dict):
        raise ValueError(f"{where}: must be an object with 'type'")
    _only(remote, _REMOTE_KEYS, where)
    kind_of = remote.get("type")
    if not isinstance(kind_of, str) or not kind_of:
        raise ValueError(f"{where}.type: must be a non-empty string (an assertion key such as "
                         "SSL_CLIENT_SUBJECT_DN_CN)")
    kinds = [kind for kind in (*CONDITIONS, *FILTERS) if kind in remote]
    if len(kinds) > 1:
        raise ValueError(f"{where}: give one of {', '.join(kinds)}, not several")
    regex = remote.get("regex", False)
    if not isinstance(regex, bool):
        raise ValueError(f"{where}.regex: must be true or false")
    if not kinds:
        if "regex" in remote:
            raise ValueError(f"{where}.regex: only goes with any_one_of, not_any_of, whitelist "
                             "or blacklist")
        return Remote(kind_of, None, (), False, ())
    kind = kinds[0]
    values = remote[kind]
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise ValueError(f"{where}.{kind}: must be a list of strings")
    patterns = ()
    if regex:
        patterns = tuple(_compile(value, f"{where}.{kind}[{index}]")
                         for index, value in enumerate(values))
    return Remote(kind_of, kind, tuple(values), regex, patterns)


def _compile(pattern: str, where: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(f"{where}: {_quote(pattern)} is not a regular expression: "
                         f"{error}") from None


def _local(local, where: str, captures: int) -> None:
    if not isinstance(local, dict):
        raise ValueError(f"{where}: must be an object")
    for key in local:
        if key in _UNSUPPORTED_LOCAL:
            raise ValueError(f"{where}.{key}: {_UNSUPPORTED_LOCAL[key]}")
    _only(local, _LOCAL_KEYS, where)
    if "user" in local:
        _user(local["user"], f"{where}.user")
    if "group" in local:
        _group(local["group"], f"{where}.group")
    for key in _LIST_FIELDS:
        if key in local and not isinstance(local[key], str):
            raise ValueError(f"{where}.{key}: must be a string (a name, a list such as "
                             "\"['a', 'b']\", or a placeholder such as \"{0}\")")
    if "groups" in local and "domain" not in local:
        raise ValueError(f"{where}: 'groups' needs a 'domain' in the same object")
    if "domain" in local:
        _domain(local["domain"], f"{where}.domain")
    _check_placeholders(local, where, captures)


def _user(user, where: str) -> None:
    if not isinstance(user, dict):
        raise ValueError(f"{where}: must be an object")
    _only(user, _USER_KEYS, where)
    for key in ("id", "name", "email"):
        if key in user and not isinstance(user[key], str):
            raise ValueError(f"{where}.{key}: must be a string")
    if "domain" in user:
        _domain(user["domain"], f"{where}.domain")
    if "type" in user and user["type"] not in USER_TYPES:
        raise ValueError(f"{where}.type: must be one of {', '.join(USER_TYPES)}")


def _group(group, where: str) -> None:
    if not isinstance(group, dict):
        raise ValueError(f"{where}: must be an object")
    if set(group) == {"id"}:
        if not isinstance(group["id"], str):
            raise ValueError(f"{where}.id: must be a string")
        return
    if set(group) != {"name", "domain"}:
        raise ValueError(f"{where}: must be {{\"id\": ...}} or {{\"name\": ..., \"domain\": "
                         "...}")
    if not isinstance(group["name"], str):
        raise ValueError(f"{where}.name: must be a string")
    _domain(group["domain"], f"{where}.domain")


def _domain(domain, where: str) -> None:
    if not isinstance(domain, dict):
        raise ValueError(f"{where}: must be an object with 'id' or 'name'")
    _only(domain, ("id", "name"), where)
    if not domain:
        raise ValueError(f"{where}: give 'id' or 'name'")
    for key, value in domain.items():
        if not isinstance(value, str):
            raise ValueError(f"{where}.{key}: must be a string")


def _check_placeholders(node, where: str, captures: int) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _check_placeholders(value, f"{where}.{key}", captures)
    elif isinstance(node, str):
        for match in _PLACEHOLDER.finditer(node):
            if int(match.group(1)) >= captures:
                has = (f"captures {captures} value{'s' if captures > 1 else ''} "
                       f"({{0}}{f'..{{{captures - 1}}}' if captures > 1 else ''})"
                       if captures else "captures nothing (every remote has any_one_of or "
                       "not_any_of)")
                raise ValueError(f"{where}: {match.group()} refers to no remote: the rule "
                                 f"{has}")


def _only(document: dict, allowed: tuple, where: str) -> None:
    for key in document:
        if key not in allowed:
            raise ValueError(f"{where}: unknown key {_quote(key)}; allowed: "
                             f"{', '.join(allowed)}")


def _quote(value) -> str:
    return printable(repr(value), 80)


# -- evaluation --------------------------------------------------------------------------------

class _Unusable(Exception):
    """A matched rule whose ``local`` part cannot be filled in (the message says why)."""


def evaluate(rules: Rules, assertion: Mapping[str, str | Sequence[str]]) -> Outcome:
    """Evaluate ``rules`` against ``assertion`` (``{key: "v1;v2"}`` or ``{key: [values]}``);
    never raises for what the assertion holds."""
    values = {key: (value.split(";") if isinstance(value, str) else list(value))
              for key, value in assertion.items() if isinstance(value, (str, list, tuple))}
    trace: list[str] = []
    produced: list[tuple[int, dict]] = []
    matched: list[int] = []
    for index, rule in enumerate(rules.rules):
        captured, reasons = _match(rule, values)
        if captured is None:
            trace.append(f"rule {index}: no match: {reasons}")
            continue
        try:
            filled = [_fill(local, captured, f"rule {index} local[{number}]")
                      for number, local in enumerate(rule.local)]
        except _Unusable as error:
            trace.append(f"rule {index}: matches ({reasons}), but {error}: refused")
            return Outcome(False, trace=trace)
        trace.append(f"rule {index}: matches: {reasons}")
        matched.append(index)
        produced += [(index, local) for local in filled]
    if not matched:
        trace.append("no rule matched")
        return Outcome(False, trace=trace)
    return _combine(produced, matched, trace)


def _match(rule: Rule, values: dict[str, list[str]]):
    """(captured value lists, explanation) when every remote holds, else (None, why not)."""
    captured, reasons = [], []
    for remote in rule.remote:
        present = values.get(remote.type)
        if not present:
            return None, f"{remote.type} is not in the certificate"
        shown = _shown(present)
        if remote.kind in CONDITIONS:
            hits = _hits(remote, present)
            listed = _shown(remote.values, as_list=True)
            if remote.kind == "any_one_of" and not hits:
                return None, f"{remote.type} {shown} {'matches' if remote.regex else 'is'} " \
                             f"none of {listed}"
            if remote.kind == "not_any_of" and hits:
                return None, f"{remote.type} {_shown(hits)} " \
                             f"{'matches' if remote.regex else 'is'} one of the excluded {listed}"
            reasons.append(f"{remote.type} {shown} " + (
                f"{'matches' if remote.regex else 'is'} one of {listed}"
                if remote.kind == "any_one_of" else
                f"{'matches' if remote.regex else 'is'} none of the excluded {listed}"))
            continue
        if remote.kind is not None:
            hits = _hits(remote, present)
            kept = hits if remote.kind == "whitelist" else [
                value for value in present if value not in hits]
        else:
            kept = present
        reasons.append(f"{{{len(captured)}}} = {_shown(kept)} from {remote.type}"
                       + (f" ({remote.kind})" if remote.kind else ""))
        captured.append(kept)
    return captured, "; ".join(reasons)


def _hits(remote: Remote, present: list[str]) -> list[str]:
    if remote.regex:
        return [value for value in present
                if any(pattern.search(value) for pattern in remote.patterns)]
    listed = set(remote.values)
    return [value for value in present if value in listed]


def _fill(node, captured: list[list[str]], where: str, key: str | None = None):
    """``node`` with its placeholders replaced; list fields become lists of names."""
    if isinstance(node, dict):
        return {name: _fill(value, captured, f"{where}.{name}", name)
                for name, value in node.items()}
    if not isinstance(node, str):
        return node
    if key in _LIST_FIELDS:
        # The template is read as a list before anything is put in it: a value holding
        # "', '" can then never add a name of its own choosing.
        names = []
        for item in _as_list(node):
            lone = _PLACEHOLDER.fullmatch(item)
            names += captured[int(lone.group(1))] if lone else [
                _substitute(item, captured, where)]
        return names
    return _substitute(node, captured, where)


def _substitute(text: str, captured: list[list[str]], where: str) -> str:
    def one(match: re.Match) -> str:
        found = captured[int(match.group(1))]
        if len(found) != 1:
            raise _Unusable(f"{where} needs one value for {match.group()}, which has "
                            f"{len(found)}{' ' + _shown(found) if found else ''}")
        return found[0]
    return _PLACEHOLDER.sub(one, text)


def _as_list(text: str) -> list[str]:
    """Keystone's ``groups`` string: a Python list literal of names (``"['a', '{0}']"``), else
    one name."""
    if text.startswith("["):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            parsed = None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            return parsed
    return [text]


def _combine(produced: list[tuple[int, dict]], matched: list[int], trace: list[str]
             ) -> Outcome:
    """Keystone's ``_transform``: the first user, every group, the first lone domain."""
    user = domain = None
    user_rule = None
    groups: list[dict] = []
    for index, local in produced:
        if "user" in local:
            if user is None:
                user, user_rule = local["user"], index
            else:
                trace.append(f"rule {index} names another user, ignored (the first one "
                             "named counts)")
        if "group" in local:
            groups.append(dict(local["group"]))
        if "groups" in local:
            groups += [{"name": name, "domain": dict(local["domain"])}
                       for name in local["groups"]]
        if "group_ids" in local:
            groups += [{"id": group_id} for group_id in local["group_ids"]]
        if "domain" in local and "groups" not in local and domain is None:
            domain = dict(local["domain"])
    unique = []
    for group in groups:
        if group not in unique:
            unique.append(group)
    return Outcome(True, user_rule if user_rule is not None else matched[0], user, unique,
                   domain, trace, tuple(matched))


def _shown(values, as_list: bool = False) -> str:
    """Values for a trace line: quoted, escaped, the first few only; one value alone is shown
    bare unless ``as_list``."""
    quoted = [printable(repr(value), 120) for value in values[:_SHOWN_VALUES]]
    more = f", ... ({len(values)} in all)" if len(values) > _SHOWN_VALUES else ""
    if not as_list and len(values) == 1:
        return quoted[0]
    return f"[{', '.join(quoted)}{more}]"
