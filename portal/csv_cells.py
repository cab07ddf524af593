"""Cells of the CSV files the portal writes, safe to open in a spreadsheet (docs/security.md).

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (and skips a
leading tab or carriage return before doing so): a topic or a rule name typed by a customer, a
bot or a maker could then run commands or send data away when an analyst opens the export.
OWASP's answer: such a text cell starts with a single quote, which the spreadsheet shows as
text. Numbers are written as they are: -5 is a number, not a formula.
"""

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = frozenset("=+-@\t\r")


def safe_cell(value: Any) -> Any:
    """Text that a spreadsheet would run, quoted; numbers, None and other text unchanged."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(safe_cell(value) for value in row)
