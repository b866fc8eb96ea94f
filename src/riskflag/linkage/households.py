"""Households: the people living at one UPRN at a date (link_households,
link_household_members), with ids that survive relinking."""

from __future__ import annotations

import duckdb

from riskflag.core import sql
from riskflag.ingest import table_exists
from riskflag.linkage.ids import stable_ids


def build_households(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """link_households and link_household_members. A household is the people living at one UPRN
    at a date: stays at a UPRN that overlap, one after another, are one household; when the last
    of them has left and someone else moves in, that is a new household. Household ids survive
    relinking as person ids do (see ids.py), from the people who lived there."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _stays AS
        WITH s AS (
            SELECT person_id, uprn, valid_from, coalesce(valid_to, DATE '9999-12-31') AS until, known_from,
                   end_known
            FROM link_residence WHERE valid_to IS NULL OR valid_to > valid_from
        ),
        g AS (
            SELECT *, max(until) OVER (PARTITION BY uprn ORDER BY valid_from, person_id
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before_end
            FROM s
        )
        SELECT *, uprn || ':' || sum(CASE WHEN before_end IS NULL OR valid_from >= before_end THEN 1 END)
                  OVER (PARTITION BY uprn ORDER BY valid_from, person_id ROWS UNBOUNDED PRECEDING)
                  AS cluster_id
        FROM g
    """)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _items AS "
        "SELECT person_id || '@' || uprn AS item, cluster_id FROM _stays"
    )
    previous = "SELECT person_id || '@' || uprn AS item, household_id AS id FROM link_household_members"
    ids = stable_ids(
        con,
        "_items",
        previous if table_exists(con, "link_household_members") else None,
        run_id,
        "H",
        "link_household_changes",
    )
    con.execute(f"""
        CREATE OR REPLACE TABLE link_household_members AS
        SELECT h.id AS household_id, s.person_id, s.uprn, s.valid_from,
               NULLIF(s.until, DATE '9999-12-31') AS valid_to, s.known_from, s.end_known
        FROM _stays s JOIN {sql.ident(ids.table)} h USING (cluster_id)
        ORDER BY household_id, valid_from, person_id
    """)
    con.execute("""
        CREATE OR REPLACE TABLE link_households AS
        SELECT household_id, any_value(uprn) AS uprn, min(valid_from) AS valid_from,
               CASE WHEN bool_or(valid_to IS NULL) THEN NULL ELSE max(valid_to) END AS valid_to,
               count(DISTINCT person_id) AS people
        FROM link_household_members GROUP BY household_id ORDER BY uprn, valid_from
    """)
    con.execute(f"DROP TABLE _stays; DROP TABLE _items; DROP TABLE {sql.ident(ids.table)}")
    return ids.counts()
