"""Values made safe for where they go.

A council's records can hold text that a spreadsheet would run as a formula
(`=HYPERLINK("http://...")`): opened by a caseworker, it could send data away. Every CSV that
riskflag writes for people passes its cells through `spreadsheet_safe`.
"""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """Prefix a formula-like cell with an apostrophe, which spreadsheets show as text (OWASP)."""
    if value.startswith(FORMULA_START) and not _number(value):
        return "'" + value
    return value


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
