"""Person ids that survive relinking.

Splink's cluster ids change whenever clusters change. A caseworker's notes, a contact history
and an objection hang on our person id, so each new cluster inherits the earlier id that most
of its identities carried (each earlier id goes to at most one cluster: the one holding most
of its identities), and only a cluster with no heir gets a new id, derived from its members so
that a fresh relink of the same data gives the same ids. Merges and splits are logged.
"""

from __future__ import annotations

import duckdb

from riskflag.ingest.warehouse import table_exists


def assign_ids(con: duckdb.DuckDBPyConnection, clusters: str, run_id: str) -> dict[str, int]:
    """Write link_persons (identity_id, person_id) from `clusters` (identity_id, cluster_id),
    keeping earlier ids; append this run's merges and splits to link_id_changes."""
    prev = (
        "link_persons"
        if table_exists(con, "link_persons")
        else "(SELECT NULL::VARCHAR AS identity_id, NULL::VARCHAR AS person_id)"
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _overlap AS
        SELECT c.cluster_id, p.person_id, count(*) AS n
        FROM {clusters} c JOIN {prev} p USING (identity_id) GROUP BY ALL
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _heir AS
        WITH best_cluster AS (
            SELECT * FROM _overlap
            QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY n DESC, cluster_id) = 1
        )
        SELECT cluster_id, person_id FROM best_cluster
        QUALIFY row_number() OVER (PARTITION BY cluster_id ORDER BY n DESC, person_id) = 1
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ids AS
        SELECT c.cluster_id,
               coalesce(h.person_id, 'P' || substr(md5(min(c.identity_id)), 1, 15)) AS person_id,
               h.person_id IS NOT NULL AS kept
        FROM {clusters} c LEFT JOIN _heir h USING (cluster_id) GROUP BY c.cluster_id, h.person_id
    """)
    con.execute("""
        CREATE TABLE IF NOT EXISTS link_id_changes (
            run_id VARCHAR, kind VARCHAR, person_id VARCHAR, other_ids VARCHAR[])
    """)
    con.execute(
        """
        INSERT INTO link_id_changes
        SELECT ?, 'merge', i.person_id, list(o.person_id ORDER BY o.person_id)
        FROM _overlap o JOIN _ids i USING (cluster_id) WHERE o.person_id <> i.person_id
        GROUP BY i.person_id
        UNION ALL
        SELECT ?, 'split', o.person_id, list(DISTINCT i.person_id ORDER BY i.person_id)
        FROM _overlap o JOIN _ids i USING (cluster_id)
        GROUP BY o.person_id HAVING count(DISTINCT o.cluster_id) > 1
        """,
        [run_id, run_id],
    )
    con.execute(f"""
        CREATE OR REPLACE TABLE link_persons AS
        SELECT c.identity_id, i.person_id FROM {clusters} c JOIN _ids i USING (cluster_id)
        ORDER BY c.identity_id
    """)
    kept, new = con.execute(
        "SELECT count(*) FILTER (WHERE kept), count(*) FILTER (WHERE NOT kept) FROM _ids"
    ).fetchall()[0]
    merges, splits = con.execute(
        "SELECT count(*) FILTER (WHERE kind = 'merge'), count(*) FILTER (WHERE kind = 'split') "
        "FROM link_id_changes WHERE run_id = ?",
        [run_id],
    ).fetchall()[0]
    con.execute("DROP TABLE _overlap; DROP TABLE _heir; DROP TABLE _ids")
    return {"kept": kept, "new": new, "merges": merges, "splits": splits}
