"""The only place riskflag turns a name or a value into SQL text.

Values belong in bound parameters (`con.execute(sql, [value])`); where SQL cannot take a
parameter (a `SET`, an `ATTACH`, a name, a literal inside generated SQL), the value goes through
one of these, so that a council folder called "St John's" or a code with a quote in it is still
read as what it is. Keep the SQL they build portable: standard quoting, `DATE 'YYYY-MM-DD'`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from os import PathLike


def ident(name: str) -> str:
    """A column or table name, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def string(value: str) -> str:
    """A text literal, single-quoted."""
    return "'" + value.replace("'", "''") + "'"


def path(value: str | PathLike[str]) -> str:
    """A file or folder path as a text literal (for `read_csv`, `ATTACH`, `SET temp_directory`)."""
    return string(str(value))


def day(value: date) -> str:
    """A date literal."""
    if not isinstance(value, date):
        raise TypeError(f"expected a date, got {type(value).__name__}")
    return f"DATE '{value.isoformat()}'"


def integer(value: int) -> str:
    """An integer literal (a window's length, a thread count): refuses anything else."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an int, got {type(value).__name__}")
    return str(value)


def dates_table(values: Iterable[date], column: str = "as_of") -> str:
    """A one-column relation of distinct dates, sorted, for joining against."""
    rows = ", ".join(f"({day(d)})" for d in sorted(set(values)))
    if not rows:
        return f"SELECT NULL::DATE AS {ident(column)} WHERE false"
    return f"SELECT * FROM (VALUES {rows}) t({ident(column)})"
