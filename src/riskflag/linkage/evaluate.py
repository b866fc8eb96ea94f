"""Linkage against the synthetic council's truth. Only `riskflag evaluate linkage` reads the
truth folder; nothing in the link stage does.

Person quality is reported two ways, because they answer different questions:

- over records (every source row and slot that names someone): what a caseworker sees. A
  council-tax account repeated monthly counts once per month, as its records do;
- over identities (each distinct spelling of a person at a place, once): how well the model
  does on the hard cases, without the repetition.

Pairwise precision and recall count pairs of items put together; B-cubed averages, per item,
the share of its cluster that is truly its own (precision) and of its own that is in its
cluster (recall). Households are scored with B-cubed on (UPRN, month) of each record.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from riskflag.core import sql
from riskflag.errors import UserError
from riskflag.ingest import table_exists
from riskflag.linkage.mentions import SOURCES
from riskflag.linkage.people import cluster

# every source whose records carry a free-text address
ADDRESS_SOURCES = (*(s for s, spec in SOURCES.items() if spec.address), "asb_incidents")


def _pairwise_and_bcubed(con: duckdb.DuckDBPyConnection, items: str) -> dict[str, float]:
    """items: (cluster, truth, w) rows; w items that share the row's cluster and truth (the rows
    of one record that name the same person)."""
    row = con.execute(f"""
        WITH i AS ({items}),
        ct AS (SELECT cluster, truth, sum(w) AS n FROM i GROUP BY ALL),
        c AS (SELECT cluster, sum(w) AS n FROM i GROUP BY ALL),
        t AS (SELECT truth, sum(w) AS n FROM i GROUP BY ALL)
        SELECT (SELECT sum(n * (n - 1) / 2) FROM ct), (SELECT sum(n * (n - 1) / 2) FROM c),
               (SELECT sum(n * (n - 1) / 2) FROM t),
               (SELECT sum(ct.n * ct.n / c.n) FROM ct JOIN c USING (cluster)) / (SELECT sum(w) FROM i),
               (SELECT sum(ct.n * ct.n / t.n) FROM ct JOIN t USING (truth)) / (SELECT sum(w) FROM i),
               (SELECT sum(w) FROM i)
    """).fetchall()[0]
    tp, pred, true, bp, br, n = row
    p = float(tp / pred) if pred else 1.0
    r = float(tp / true) if true else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "items": int(n or 0),
        "pairwise_precision": round(p, 5),
        "pairwise_recall": round(r, 5),
        "pairwise_f1": round(f1, 5),
        "bcubed_precision": round(float(bp or 0), 5),
        "bcubed_recall": round(float(br or 0), 5),
    }


def _clusters_at(con: duckdb.DuckDBPyConnection, threshold: float) -> str:
    """TEMP table (identity_id, cluster_id), its name returned: the link stage's clustering of
    the scored pairs at `threshold`, with the run's overrides (at the configured threshold, the
    people it published)."""
    nodes = con.execute("SELECT identity_id, dob FROM link_identities").df()
    pairs = con.execute(
        "SELECT identity_id_l, identity_id_r, match_weight, match_probability, plausible FROM link_pairs"
    ).df()
    overrides = (
        con.execute("SELECT * FROM link_overrides").df() if table_exists(con, "link_overrides") else None
    )
    con.register("_cl_df", cluster(nodes, pairs, threshold, overrides))
    con.execute("CREATE OR REPLACE TEMP TABLE _cl AS SELECT * FROM _cl_df")
    con.unregister("_cl_df")
    return "_cl"


def _truth(con: duckdb.DuckDBPyConnection, keys: str) -> str:
    """TEMP table, its name returned: link_mentions with the simulated person each names (-1:
    one the truth does not follow), from the truth's keys of the records (relation `keys`)."""
    records = " UNION ALL ".join(
        f"SELECT {sql.string(s)} AS source, CAST({spec.record} AS VARCHAR) AS record, _file, _row "
        f"FROM history_{s}"
        for s, spec in SOURCES.items()
        if table_exists(con, f"history_{s}")
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _record_truth AS
        SELECT r.source, r.record, mode(k.person_id ORDER BY k.person_id) AS p1,
               mode(k.person2_id ORDER BY k.person2_id) AS p2
        FROM ({records}) r JOIN {keys} k ON k.file = r._file AND k.row = r._row GROUP BY ALL
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _truth AS
        SELECT m.*, CASE WHEN m.slot = 1 THEN t.p1
                         WHEN m.slot IN (2, 11) AND m.source <> 'childrens_services' THEN t.p2
                         ELSE -1 END AS truth
        FROM link_mentions m JOIN _record_truth t USING (source, record)
    """)
    return "_truth"


def evaluate_linkage(
    con: duckdb.DuckDBPyConnection, truth: Path, thresholds: tuple[float, ...] = (0.9, 0.95, 0.99, 0.999)
) -> dict[str, Any]:
    for name in ("record_keys.parquet", "residence.parquet"):
        if not (truth / name).is_file():
            raise UserError(f"{truth}: not a synthetic council's truth folder (no {name})")
    for table in ("link_mentions", "link_pairs", "link_residence", "link_addresses", "link_runs"):
        if not table_exists(con, table):
            raise UserError(f"the warehouse has no {table}: run `riskflag link run` first")
    keys = f"read_parquet({sql.path(truth / 'record_keys.parquet')})"
    known = sql.ident(_truth(con, keys))
    out: dict[str, Any] = {"thresholds": {}}
    for th in thresholds:
        cl = sql.ident(_clusters_at(con, th))
        rows = _pairwise_and_bcubed(
            con,
            "SELECT c.cluster_id AS cluster, t.truth, t.records AS w "
            f"FROM {known} t JOIN {cl} c USING (identity_id) WHERE t.truth >= 0",
        )
        identities = _pairwise_and_bcubed(
            con,
            "SELECT DISTINCT t.identity_id, c.cluster_id AS cluster, t.truth, 1 AS w "
            f"FROM {known} t JOIN {cl} c USING (identity_id) WHERE t.truth >= 0",
        )
        out["thresholds"][str(th)] = {"records": rows, "identities": identities}
    out["households"] = _households(con, truth, known)
    out["addresses"] = _addresses(con, keys)
    return out


def _month_start(day: date, months: int) -> date:
    """The first day of the month `months` after day's month (before it, when negative)."""
    m = day.year * 12 + day.month - 1 + months
    return date(m // 12, m % 12 + 1, 1)


def _households(con: duckdb.DuckDBPyConnection, truth: Path, known: str) -> dict[str, Any]:
    """B-cubed of households at the last eight quarter ends: each person the records name and
    the simulation had living in the borough then is an item; the truth groups them by the home
    they lived in, linkage by the household its person was in (the person holding most of their
    records). This is the grouping the risk model's features rest on.

    The truth is read at the end of each quarter's last day (its home on the next day): the
    simulation records a move made during a month as a home from the first of the next month,
    while that month's own records (a council-tax snapshot at the month's end) already show the
    new home, so reading the truth on the day itself marked right placements wrong."""
    res = f"read_parquet({sql.path(truth / 'residence.parquet')})"
    as_of = con.execute("SELECT max(as_of) FROM link_runs").fetchall()[0][0]
    quarters = [_month_start(as_of, -3 * k) - timedelta(days=1) for k in range(8)]
    dates = ", ".join(f"({sql.day(d)})" for d in quarters)
    items = f"""
        WITH d(day) AS (VALUES {dates}),
        owner AS (
            SELECT t.truth, arg_max(p.person_id, t.n) AS person_id FROM (
                SELECT truth, identity_id, sum(records) AS n FROM {known} WHERE truth >= 0 GROUP BY ALL
            ) t JOIN link_persons p USING (identity_id) GROUP BY t.truth
        ),
        lived AS (
            SELECT tr.person_id AS truth, CAST(tr.uprn AS VARCHAR) AS uprn,
                   CAST(tr.from_date AS DATE) AS start,
                   CAST(tr.from_date AS DATE) + to_months(CAST(tr.to_month - tr.from_month AS INTEGER))
                   AS stop
            FROM {res} tr
        )
        SELECT coalesce(h.household_id, 'none:' || o.truth) || '@' || d.day AS cluster,
               l.uprn || '@' || d.day AS truth, 1 AS w
        FROM owner o CROSS JOIN d
        JOIN lived l ON l.truth = o.truth AND l.start <= d.day + 1 AND d.day + 1 < l.stop
        LEFT JOIN link_household_members h ON h.person_id = o.person_id AND h.valid_from <= d.day
             AND (h.valid_to IS NULL OR d.day < h.valid_to)
        QUALIFY row_number() OVER (PARTITION BY o.truth, d.day ORDER BY h.valid_from DESC NULLS LAST) = 1
    """
    return _pairwise_and_bcubed(con, items) | {"dates": [d.isoformat() for d in sorted(quarters)]}


def _addresses(con: duckdb.DuckDBPyConnection, keys: str) -> dict[str, float]:
    parts = []
    for s in ADDRESS_SOURCES:
        if table_exists(con, f"history_{s}"):
            parts.append(f"SELECT _file, _row, address, postcode FROM history_{s} WHERE address IS NOT NULL")
    row = con.execute(f"""
        WITH r AS ({" UNION ALL ".join(parts)})
        SELECT count(*) FILTER (WHERE k.address_uprn >= 0),
               count(*) FILTER (WHERE k.address_uprn >= 0 AND CAST(a.uprn AS BIGINT) = k.address_uprn),
               count(*) FILTER (WHERE k.address_uprn < 0),
               count(*) FILTER (WHERE k.address_uprn < 0 AND a.uprn IS NOT NULL)
        FROM r JOIN {keys} k ON k.file = r._file AND k.row = r._row
        LEFT JOIN link_addresses a ON a.address = r.address AND a.postcode IS NOT DISTINCT FROM r.postcode
    """).fetchall()[0]
    in_b, right, out_b, wrong = row
    return {
        "records_in_borough": int(in_b),
        "matched_to_true_uprn": round(right / in_b, 5) if in_b else 1.0,
        "records_out_of_borough": int(out_b),
        "out_of_borough_matched": round(wrong / out_b, 5) if out_b else 0.0,
    }


def compare_runs(con: duckdb.DuckDBPyConnection, other: Path) -> dict[str, float]:
    """How far the links in con's warehouse agree with those of another warehouse's run (an
    incremental run against a full relink of the same data, say). Needs no truth.

    A record agrees when the person it is in here holds exactly the records that its person
    holds there (counted in rows, as caseworkers see them); a person is unchanged when the same
    identities make them up in both, and keeps their id when both runs gave it the same one."""
    con.execute(f"ATTACH {sql.path(other)} AS other (READ_ONLY)")
    try:
        agree = con.execute("""
            WITH a AS (SELECT source, record, slot, identity_id, records, p.person_id
                       FROM link_mentions JOIN link_persons p USING (identity_id)),
            b AS (SELECT source, record, slot, identity_id, p.person_id
                  FROM other.link_mentions JOIN other.link_persons p USING (identity_id)),
            ab AS (SELECT a.records, a.person_id AS pa, b.person_id AS pb
                   FROM a JOIN b USING (source, record, slot, identity_id)),
            na AS (SELECT pa, sum(records) AS n FROM ab GROUP BY pa),
            nb AS (SELECT pb, sum(records) AS n FROM ab GROUP BY pb),
            nab AS (SELECT pa, pb, sum(records) AS n FROM ab GROUP BY pa, pb)
            SELECT sum(nab.n) FILTER (WHERE nab.n = na.n AND nab.n = nb.n) / sum(nab.n), sum(nab.n)
            FROM nab JOIN na USING (pa) JOIN nb USING (pb)
        """).fetchall()[0]
        kept = con.execute("""
            WITH a AS (SELECT person_id, list(identity_id ORDER BY identity_id) AS members
                       FROM link_persons GROUP BY person_id),
            b AS (SELECT person_id, list(identity_id ORDER BY identity_id) AS members
                  FROM other.link_persons GROUP BY person_id)
            SELECT count(*), count(*) FILTER (WHERE a.person_id = b.person_id) FROM a JOIN b USING (members)
        """).fetchall()[0]
    finally:
        con.execute("DETACH other")
    return {
        "records_agreeing": round(float(agree[0] or 0), 5),
        "record_rows_compared": int(agree[1] or 0),
        "unchanged_people": int(kept[0]),
        "unchanged_people_keeping_id": round(kept[1] / kept[0], 5) if kept[0] else 1.0,
    }
