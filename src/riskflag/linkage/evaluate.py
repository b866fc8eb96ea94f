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

from pathlib import Path

import duckdb

from riskflag.errors import UserError
from riskflag.ingest.warehouse import table_exists
from riskflag.linkage.mentions import SOURCES

# every source whose records carry a free-text address
ADDRESS_SOURCES = (*(s for s, spec in SOURCES.items() if spec.address), "asb_incidents")


def _pairwise_and_bcubed(con: duckdb.DuckDBPyConnection, items: str) -> dict[str, float]:
    """items: (item, cluster, truth) rows, one per item."""
    row = con.execute(f"""
        WITH i AS ({items}),
        ct AS (SELECT cluster, truth, count(*) AS n FROM i GROUP BY ALL),
        c AS (SELECT cluster, count(*) AS n FROM i GROUP BY ALL),
        t AS (SELECT truth, count(*) AS n FROM i GROUP BY ALL)
        SELECT (SELECT sum(n * (n - 1) / 2) FROM ct), (SELECT sum(n * (n - 1) / 2) FROM c),
               (SELECT sum(n * (n - 1) / 2) FROM t),
               (SELECT sum(ct.n * ct.n / c.n) FROM ct JOIN c USING (cluster)) / (SELECT count(*) FROM i),
               (SELECT sum(ct.n * ct.n / t.n) FROM ct JOIN t USING (truth)) / (SELECT count(*) FROM i),
               (SELECT count(*) FROM i)
    """).fetchall()[0]
    tp, pred, true, bp, br, n = row
    p = float(tp / pred) if pred else 1.0
    r = float(tp / true) if true else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "items": int(n),
        "pairwise_precision": round(p, 5),
        "pairwise_recall": round(r, 5),
        "pairwise_f1": round(f1, 5),
        "bcubed_precision": round(float(bp or 0), 5),
        "bcubed_recall": round(float(br or 0), 5),
    }


def _clusters_at(con: duckdb.DuckDBPyConnection, threshold: float) -> None:
    """_cl (identity_id, cluster_id): the link stage's clustering of the plausible pairs at
    `threshold` (at the configured threshold, the people the run published)."""
    from riskflag.linkage.people import anchored_clusters

    nodes = con.execute("SELECT identity_id, dob FROM link_identities").df()
    edges = con.execute(
        "SELECT identity_id_l, identity_id_r, match_weight FROM link_pairs WHERE plausible "
        "AND match_probability >= ?",
        [threshold],
    ).df()
    con.register("_cl_df", anchored_clusters(nodes, edges))
    con.execute("CREATE OR REPLACE TEMP TABLE _cl AS SELECT * FROM _cl_df")
    con.unregister("_cl_df")


def evaluate_linkage(
    con: duckdb.DuckDBPyConnection, truth: Path, thresholds: tuple[float, ...] = (0.9, 0.95, 0.99, 0.999)
) -> dict:
    for name in ("record_keys.parquet", "residence.parquet"):
        if not (truth / name).is_file():
            raise UserError(f"{truth}: not a synthetic council's truth folder (no {name})")
    for table in ("link_mentions", "link_pairs", "link_residence", "link_addresses"):
        if not table_exists(con, table):
            raise UserError(f"the warehouse has no {table}: run `riskflag link run` first")
    keys = f"read_parquet('{truth / 'record_keys.parquet'}')"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _truth AS
        SELECT m.identity_id, m.source, m._file, m._row, m.slot, m.seen_on,
               CASE WHEN m.slot = 1 THEN k.person_id
                    WHEN m.slot IN (2, 11) AND m.source <> 'childrens_services' THEN k.person2_id
                    ELSE -1 END AS truth
        FROM link_mentions m JOIN {keys} k ON k.file = m._file AND k.row = m._row
    """)
    out: dict = {"thresholds": {}}
    for th in thresholds:
        _clusters_at(con, th)
        records = _pairwise_and_bcubed(
            con,
            "SELECT t._file || ':' || t._row || ':' || t.slot AS item, c.cluster_id AS cluster, t.truth "
            "FROM _truth t JOIN _cl c USING (identity_id) WHERE t.truth >= 0",
        )
        identities = _pairwise_and_bcubed(
            con,
            "SELECT DISTINCT t.identity_id || ':' || t.truth AS item, c.cluster_id AS cluster, t.truth "
            "FROM _truth t JOIN _cl c USING (identity_id) WHERE t.truth >= 0",
        )
        out["thresholds"][str(th)] = {"records": records, "identities": identities}
    out["households"] = _households(con, truth)
    out["addresses"] = _addresses(con, keys)
    return out


def _households(con: duckdb.DuckDBPyConnection, truth: Path) -> dict[str, float]:
    """B-cubed of (UPRN, month) per record: where linkage and residence put the person at the
    record's date, against where the simulation had them."""
    res = f"read_parquet('{truth / 'residence.parquet'}')"
    items = f"""
        SELECT t._file || ':' || t._row || ':' || t.slot AS item,
               r.uprn || ':' || strftime(t.seen_on, '%Y-%m') AS cluster,
               CAST(tr.uprn AS VARCHAR) || ':' || strftime(t.seen_on, '%Y-%m') AS truth
        FROM _truth t JOIN link_persons p USING (identity_id)
        JOIN link_residence r ON r.person_id = p.person_id AND r.valid_from <= t.seen_on
             AND (r.valid_to IS NULL OR t.seen_on < r.valid_to)
        JOIN {res} tr ON tr.person_id = t.truth
             AND CAST(tr.from_date AS DATE) <= t.seen_on
        WHERE t.truth >= 0
        QUALIFY row_number() OVER (PARTITION BY t._file, t._row, t.slot ORDER BY tr.from_date DESC) = 1
    """
    return _pairwise_and_bcubed(con, items)


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
