"""Values made safe for where they go.

A council's records can hold text that a spreadsheet would run as a formula
(`=HYPERLINK("http://...")`): opened by a caseworker, it could send data away. One rule says what
looks like a formula (OWASP's: a cell starting with = + - @ tab or carriage return that is not a
plain number); validation quarantines such text on the way in, and every CSV riskflag writes for
people passes its cells through `spreadsheet_safe` on the way out.
"""

from __future__ import annotations

import re

FORMULA_PATTERN = r"^(?![+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$)[=+\-@\t\r]"
_FORMULA = re.compile(FORMULA_PATTERN)


def formula_like(value: str) -> bool:
    return _FORMULA.match(value) is not None


def spreadsheet_safe(value: str) -> str:
    """Prefix a formula-like cell with an apostrophe, which spreadsheets show as text."""
    return "'" + value if formula_like(value) else value
