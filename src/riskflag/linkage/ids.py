"""Person and household ids that survive relinking.

Splink's cluster ids change whenever clusters change. A caseworker's notes, a contact history
and an objection hang on our ids, so each new cluster inherits the earlier id that most of its
members carried (each earlier id goes to at most one cluster: the one holding most of its
members), and only a cluster with no heir gets a new id, derived from its members so that a
fresh relink of the same data gives the same ids. Merges and splits are logged.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from riskflag.core import sql


@dataclass(frozen=True)
class Stable:
    """TEMP table (cluster_id, id, kept): each cluster's id, which the caller joins and drops;
    and how many ids were kept, new, merged and split."""

    table: str
    kept: int
    new: int
    merges: int
    splits: int

    def counts(self) -> dict[str, int]:
        return {"kept": self.kept, "new": self.new, "merges": self.merges, "splits": self.splits}


def stable_ids(
    con: duckdb.DuckDBPyConnection,
    clusters: str,
    previous: str | None,
    run_id: str,
    prefix: str,
    log: str,
) -> Stable:
    """Ids for the clusters of table `clusters` (item, cluster_id), keeping the ids of
    `previous` (SQL: item, id; None on a first run); this run's merges and splits are appended
    to the table `log`."""
    prev = previous or "(SELECT NULL::VARCHAR AS item, NULL::VARCHAR AS id)"
    clusters, log, prefix_ = sql.ident(clusters), sql.ident(log), sql.string(prefix)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _overlap AS
        SELECT c.cluster_id, p.id, count(*) AS n FROM {clusters} c JOIN ({prev}) p USING (item) GROUP BY ALL
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _heir AS
        WITH best_cluster AS (
            SELECT * FROM _overlap QUALIFY row_number() OVER (PARTITION BY id ORDER BY n DESC, cluster_id) = 1
        )
        SELECT cluster_id, id FROM best_cluster
        QUALIFY row_number() OVER (PARTITION BY cluster_id ORDER BY n DESC, id) = 1
    """)
    # a new id comes from the cluster's first member (and the cluster, where two share one), so
    # that a fresh relink of the same data gives the same ids; one that an earlier run used (the
    # other half of a split) is salted instead
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _stable AS
        WITH m AS (
            SELECT c.cluster_id, h.id AS heir, min(c.item) AS first_item
            FROM {clusters} c LEFT JOIN _heir h USING (cluster_id) GROUP BY c.cluster_id, h.id
        ),
        c AS (
            SELECT cluster_id, heir, {prefix_} || substr(md5(first_item || CASE
                       WHEN count(*) OVER (PARTITION BY first_item) > 1
                       THEN '|' || CAST(cluster_id AS VARCHAR) ELSE '' END), 1, 15) AS fresh
            FROM m
        )
        SELECT cluster_id, heir IS NOT NULL AS kept,
               coalesce(heir, CASE WHEN fresh IN (SELECT id FROM ({prev}) WHERE id IS NOT NULL)
                                   THEN {prefix_} || substr(md5(fresh || '|' || ?), 1, 15)
                                   ELSE fresh END) AS id
        FROM c
        """,
        [run_id],
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {log} (run_id VARCHAR, kind VARCHAR, id VARCHAR, other_ids VARCHAR[])"
    )
    con.execute(
        f"""
        INSERT INTO {log}
        SELECT ?, 'merge', i.id, list(o.id ORDER BY o.id)
        FROM _overlap o JOIN _stable i USING (cluster_id) WHERE o.id <> i.id GROUP BY i.id
        UNION ALL
        SELECT ?, 'split', o.id, list(DISTINCT i.id ORDER BY i.id)
        FROM _overlap o JOIN _stable i USING (cluster_id)
        GROUP BY o.id HAVING count(DISTINCT o.cluster_id) > 1
        """,
        [run_id, run_id],
    )
    kept, new = con.execute(
        "SELECT count(*) FILTER (WHERE kept), count(*) FILTER (WHERE NOT kept) FROM _stable"
    ).fetchall()[0]
    merges, splits = con.execute(
        f"SELECT count(*) FILTER (WHERE kind = 'merge'), count(*) FILTER (WHERE kind = 'split') FROM {log} "
        "WHERE run_id = ?",
        [run_id],
    ).fetchall()[0]
    con.execute("DROP TABLE _overlap; DROP TABLE _heir")
    return Stable("_stable", kept, new, merges, splits)
