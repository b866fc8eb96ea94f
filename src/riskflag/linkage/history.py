"""What the linkage said at each run, so that features at a past date use the linkage as it
stood then rather than one that knows later records.

A linkage of the whole history knows things the council did not at an earlier date: a later
record joins two of a person's identities, or shows that someone had moved in with a family
months before. Features at that earlier date built from it would see households the council
could not have seen, and a model trained on them would learn from the future. So every link run
records its people and households here, as rows valid from the run's as-of date until the first
later run that no longer has them (most rows never change, so a year of nightly runs costs
little); and `replay` links the history delivered at go-live month by month, as the council knew
it at each month end, so that a new installation's training dates have their linkage too.

- `link_history_persons`: identity -> person id, linked_from .. linked_until (NULL: still so);
- `link_history_members`: `link_household_members`' rows, likewise;
- `link_history_runs`: the as-of dates recorded. A date counts as linked as it stood then only
  when a run was recorded at most STALE_DAYS before it: an older linkage would miss the people
  and moves of the weeks between.
"""

from __future__ import annotations

from datetime import date

import duckdb

from riskflag.core import sql
from riskflag.ingest import table_exists

PERSONS = ("identity_id", "person_id")
MEMBERS = ("household_id", "person_id", "uprn", "valid_from", "valid_to", "known_from", "end_known")
STALE_DAYS = 31
TABLES = {
    "link_history_persons": ("link_persons", PERSONS),
    "link_history_members": ("link_household_members", MEMBERS),
}


def record(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """Add the run at as_of to the history. A run at or before the latest recorded date (a
    rerun, or a replay starting again) first takes the history back to before as_of: what was
    recorded since was linked from records the council has not yet got to in this run's view."""
    day = sql.day(as_of)
    con.execute(f"""
        CREATE TABLE IF NOT EXISTS link_history_runs (as_of DATE);
        DELETE FROM link_history_runs WHERE as_of >= {day};
        INSERT INTO link_history_runs VALUES ({day});
    """)
    for history, (current, cols) in TABLES.items():
        names = ", ".join(cols)
        if not table_exists(con, history):
            con.execute(
                f"CREATE TABLE {history} AS SELECT {names}, {day} AS linked_from, "
                f"NULL::DATE AS linked_until FROM {current} WHERE false"
            )
        con.execute(f"""
            DELETE FROM {history} WHERE linked_from >= {day};
            UPDATE {history} SET linked_until = NULL WHERE linked_until >= {day};
        """)
        same = " AND ".join(f"h.{c} IS NOT DISTINCT FROM g.{c}" for c in cols)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _open AS SELECT {names} FROM {history} WHERE linked_until IS NULL;
            CREATE OR REPLACE TEMP TABLE _gone AS SELECT * FROM _open EXCEPT SELECT {names} FROM {current};
            UPDATE {history} h SET linked_until = {day} FROM _gone g
            WHERE h.linked_until IS NULL AND {same};
            INSERT INTO {history}
            SELECT *, {day}, NULL::DATE FROM (SELECT {names} FROM {current} EXCEPT SELECT * FROM _open);
            DROP TABLE _open; DROP TABLE _gone;
        """)


def linked_at_sql(con: duckdb.DuckDBPyConnection, dates: str) -> str:
    """SQL (as_of, point_in_time) over `dates` (a relation of as_of): whether the history holds
    the linkage as it stood at each date (a run recorded within STALE_DAYS before it)."""
    if not table_exists(con, "link_history_runs"):
        return f"SELECT as_of, false AS point_in_time FROM ({dates})"
    return f"""
        SELECT d.as_of, coalesce(bool_or(r.as_of IS NOT NULL), false) AS point_in_time
        FROM ({dates}) d LEFT JOIN link_history_runs r
          ON r.as_of <= d.as_of AND r.as_of >= d.as_of - INTERVAL {sql.integer(STALE_DAYS)} DAY
        GROUP BY d.as_of
    """
