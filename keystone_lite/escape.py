"""Client-controlled text made safe for a log line or an error message.

A header name, a method, a certificate's UID or DN is the client's text: written raw, a CR/LF
forges a log line, ESC drives the operator's terminal, NUL cuts the line for some readers and
U+202E reverses what follows. ``printable`` keeps printable text as it is (so ``zoë`` stays
readable) and writes every other character as a Python escape (``\\r``, ``\\x1b``, ``\\u202e``).
"""
from __future__ import annotations

LIMIT = 200  # header names may be kilobytes long; the start is enough to tell what it was


def printable(text: str, limit: int = LIMIT) -> str:
    """``text`` with every non-printable character escaped, cut to ``limit`` characters.

    Backslashes are left alone, so text that is already escaped (a ``repr``) passes unchanged.
    """
    cut = text[:limit]
    if not cut.isprintable():
        cut = "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
                      for char in cut)
    return cut + ("..." if len(text) > limit else "")
