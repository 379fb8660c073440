"""What keystone-lite-manage's listing and showing commands print: a table, or JSON.

``--format table`` (the default) is for people: aligned columns, or ``field  value`` lines for
one record. ``--format json`` is for scripts: a list of objects, or one object, with the same
keys (None stays null, booleans stay booleans).
"""
from __future__ import annotations

import json

FORMATS = ("table", "json")


def add_format_option(parser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="table for people (default), json for scripts")


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "-"
    return str(value)


def print_records(records: list[dict], columns: list[str], output_format: str,
                  empty: str) -> None:
    """One line a record under a header line, or ``empty`` when there are none (a JSON
    ``[]`` for scripts)."""
    if output_format == "json":
        print(json.dumps(records, indent=2))
        return
    if not records:
        print(empty)
        return
    rows = [columns] + [[_cell(record.get(column)) for column in columns] for record in records]
    widths = [max(len(row[index]) for row in rows) for index in range(len(columns))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def print_record(record: dict, output_format: str) -> None:
    if output_format == "json":
        print(json.dumps(record, indent=2))
        return
    width = max(map(len, record))
    for key, value in record.items():
        print(f"{key.ljust(width)}  {_cell(value)}")
