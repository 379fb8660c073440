"""Read an Apache httpd configuration the way httpd does, far enough to check it.

httpd itself can only say whether a file parses; the traps of a client-certificate deployment
(per-directory verification, FakeBasicAuth, sub-interpreters...) are in what parses fine. This
reader follows ``Include``/``IncludeOptional`` (globs, directories, relative to ``ServerRoot``),
expands ``${VAR}`` from ``Define`` lines, ``-D`` names and the environment, joins backslash
continuations, skips comments and false ``<IfDefine>`` blocks, and records for every directive the
sections it sits in. ``<IfModule>`` and the other ``<If...>`` tests are taken as true: the checker
must see what a host with the module loaded would run.
"""
from __future__ import annotations

import dataclasses
import glob
import os
import re

# Sections that only decide whether their content is read: not a scope of their own.
CONDITIONALS = frozenset({"ifdefine", "ifmodule", "ifversion", "iffile", "ifdirective",
                          "ifsection"})
# Sections whose content applies to part of the URL or file space (per-directory context).
PER_DIRECTORY = frozenset({"location", "locationmatch", "directory", "directorymatch", "files",
                           "filesmatch", "if", "elseif", "else", "proxy", "proxymatch",
                           "limit", "limitexcept"})
_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")
_MAX_INCLUDE_DEPTH = 32


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem at one place: ``severity`` is ``error``, ``warning`` or ``info``."""
    file: str
    line: int
    severity: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}: {self.severity}: {self.message}"
        return f"{text} — {self.fix}" if self.fix else text


@dataclasses.dataclass(frozen=True)
class Section:
    name: str
    argument: str
    file: str
    line: int

    @property
    def kind(self) -> str:
        return self.name.casefold()


@dataclasses.dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[str, ...]
    file: str
    line: int
    sections: tuple[Section, ...] = ()

    @property
    def key(self) -> str:
        return self.name.casefold()

    @property
    def vhost(self) -> Section | None:
        return next((s for s in self.sections if s.kind == "virtualhost"), None)

    @property
    def per_directory(self) -> Section | None:
        """The innermost <Location>, <Directory>, <Files>... around the directive, if any."""
        return next((s for s in reversed(self.sections) if s.kind in PER_DIRECTORY), None)

    def inside(self, kind: str, argument_pattern: str) -> bool:
        """Whether an enclosing ``kind`` section's argument matches the regex (case-blind)."""
        return any(s.kind == kind and re.fullmatch(argument_pattern, s.argument, re.I)
                   for s in self.sections)


@dataclasses.dataclass
class Config:
    directives: list[Directive]
    findings: list[Finding]
    files: list[str]


def read_config(path: str, defines: dict | None = None, environ: dict | None = None,
                server_root: str | None = None) -> Config:
    """Parse ``path`` and everything it includes.

    ``defines`` are ``-D``/``Define`` names and values given from outside; ``environ`` is what
    ``${VAR}`` falls back to, as httpd falls back to its process environment. Relative includes
    resolve against ``ServerRoot`` (the directive, else ``server_root``, else the directory of
    ``path``), then against the including file's directory: httpd only uses the first, the
    second lets a site file be checked on its own. Problems found while reading (unreadable or missing includes, unbalanced sections,
    undefined variables, ``Error`` directives reached) are returned as findings, never raised,
    except that an unreadable ``path`` itself raises OSError.
    """
    reader = _Reader(defines or {}, environ or {},
                     server_root or os.path.dirname(os.path.abspath(path)))
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    reader.read_text(text, path, depth=0)
    return Config(reader.directives, reader.findings, reader.files)


def read_string(text: str, filename: str = "<string>", defines: dict | None = None,
                environ: dict | None = None, server_root: str | None = None) -> Config:
    """Like read_config for text in memory; ``filename`` names it in findings."""
    reader = _Reader(defines or {}, environ or {}, server_root or os.getcwd())
    reader.read_text(text, filename, depth=0)
    return Config(reader.directives, reader.findings, reader.files)


def split_words(text: str) -> list[str]:
    """Split a directive's arguments as httpd does: whitespace, with "..." or '...' quoting."""
    words, index = [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        quote = text[index] if text[index] in "\"'" else None
        word, index = [], index + (1 if quote else 0)
        while index < len(text):
            char = text[index]
            if quote and char == "\\" and index + 1 < len(text) and text[index + 1] == quote:
                word.append(quote)
                index += 2
                continue
            if (quote and char == quote) or (not quote and char.isspace()):
                index += 1
                break
            word.append(char)
            index += 1
        words.append("".join(word))
    return words


def logical_lines(text: str):
    """Yield (first line number, text) with backslash continuations joined."""
    pending, start = [], 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        yield start, "".join(pending)
        pending = []
    if pending:
        yield start, "".join(pending)


def _name_and_rest(text: str) -> tuple[str, str]:
    parts = text.strip().split(None, 1) or [""]
    return parts[0], parts[1] if len(parts) > 1 else ""


class _Reader:
    def __init__(self, defines: dict, environ: dict, server_root: str):
        self.defines = dict(defines)
        self.environ = environ
        self.server_root = server_root
        self.directives: list[Directive] = []
        self.findings: list[Finding] = []
        self.files: list[str] = []
        self.stack: list[tuple[Section, bool]] = []  # (section, content skipped)
        self.undefined_reported: set[str] = set()
        self.reading: list[str] = []

    @property
    def skipping(self) -> bool:
        return any(skipped for _, skipped in self.stack)

    def read_text(self, text: str, filename: str, depth: int) -> None:
        self.files.append(filename)
        self.reading.append(os.path.realpath(filename))
        opened_here = len(self.stack)
        for number, line in logical_lines(text):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if not self.skipping:
                stripped = self._expand(stripped, filename, number)
            if stripped.startswith("</"):
                self._close(stripped, filename, number, opened_here)
            elif stripped.startswith("<"):
                self._open(stripped, filename, number)
            elif not self.skipping:
                self._directive(stripped, filename, number, depth)
        while len(self.stack) > opened_here:
            section, _ = self.stack.pop()
            self._problem(section.file, section.line, "error",
                          f"<{section.name}> is not closed in this file",
                          f"add </{section.name}>; httpd refuses to start")
        self.reading.pop()

    def _expand(self, line: str, filename: str, number: int) -> str:
        def replace(match):
            name = match.group(1)
            if name in self.defines and self.defines[name] is not None:
                return self.defines[name]
            if name in self.environ:
                return self.environ[name]
            if name not in self.undefined_reported:
                self.undefined_reported.add(name)
                self._problem(filename, number, "warning",
                              f"${{{name}}} is not defined here; httpd leaves it as it is "
                              "(AH00111)", f"Define {name} before this line, export it "
                              "in httpd's environment (Debian: /etc/apache2/envvars) or pass "
                              f"--define {name}=VALUE to the check")
            return match.group(0)
        return _VARIABLE.sub(replace, line)

    def _open(self, line: str, filename: str, number: int) -> None:
        body = line[1:-1] if line.endswith(">") else line[1:]
        name, argument = _name_and_rest(body)
        words = split_words(argument)
        section = Section(name, " ".join(words), filename, number)
        skipped = (not self.skipping and section.kind == "ifdefine"
                   and not self._defined(section.argument))
        self.stack.append((section, skipped))

    def _defined(self, argument: str) -> bool:
        negated = argument.startswith("!")
        return (argument.lstrip("!") in self.defines) != negated

    def _close(self, line: str, filename: str, number: int, opened_here: int) -> None:
        name = line[2:].rstrip(">").strip()
        if len(self.stack) > opened_here and self.stack[-1][0].kind == name.casefold():
            self.stack.pop()
            return
        self._problem(filename, number, "error",
                      f"</{name}> does not close the section open here",
                      "balance the <...> and </...> lines; httpd refuses to start")

    def _directive(self, line: str, filename: str, number: int, depth: int) -> None:
        name, rest = _name_and_rest(line)
        args = tuple(split_words(rest))
        key = name.casefold()
        if key == "define" and args:
            self.defines[args[0]] = args[1] if len(args) > 1 else ""
        elif key == "undefine" and args:
            self.defines.pop(args[0], None)
        elif key == "serverroot" and args:
            self.server_root = args[0]
        elif key == "error":
            self._problem(filename, number, "error", "Error directive reached: "
                          + " ".join(args), "httpd refuses to start with this message")
        elif key in ("include", "includeoptional") and args:
            self._include(args[0], key == "includeoptional", filename, number, depth)
            return
        sections = tuple(section for section, _ in self.stack)
        self.directives.append(Directive(name, args, filename, number, sections))

    def _include(self, pattern: str, optional: bool, filename: str, number: int,
                 depth: int) -> None:
        matches = self._resolve(pattern, filename)
        if not matches and not optional:
            self._problem(filename, number, "error", f"Include {pattern} matches no file",
                          "fix the path or use IncludeOptional; httpd refuses to start")
        if depth >= _MAX_INCLUDE_DEPTH:
            self._problem(filename, number, "error", "Include nested too deeply",
                          "remove the include loop")
            return
        for path in matches:
            if os.path.realpath(path) in self.reading:
                self._problem(filename, number, "error", f"{path} includes itself",
                              "remove the include loop")
                continue
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            except OSError as exc:
                self._problem(filename, number, "error", f"cannot read {path}: {exc.strerror}",
                              "make it readable by the user running the check and by httpd")
                continue
            self.read_text(text, path, depth + 1)

    def _resolve(self, pattern: str, filename: str) -> list[str]:
        """Files an include names, sorted as httpd reads them."""
        bases = [""] if os.path.isabs(pattern) else [
            self.server_root, os.path.dirname(os.path.abspath(filename))]
        for base in bases:
            full = os.path.join(base, pattern)
            if glob.has_magic(full):
                found = sorted(path for path in glob.glob(full) if os.path.isfile(path))
            elif os.path.isdir(full):
                found = sorted(os.path.join(root, name) for root, _, names in os.walk(full)
                               for name in names)
            else:
                found = [full] if os.path.isfile(full) else []
            if found:
                return found
        return []

    def _problem(self, filename: str, number: int, severity: str, message: str,
                 fix: str) -> None:
        self.findings.append(Finding(filename, number, severity, message, fix))
