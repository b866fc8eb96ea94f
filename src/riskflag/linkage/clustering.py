"""People from the scored pairs and the analyst's overrides: link_persons (with ids stable
between runs, ids.py), link_overrides and the link_person_xref view."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from riskflag.core import sql
from riskflag.ingest import table_exists
from riskflag.linkage import people
from riskflag.linkage.ids import stable_ids


@dataclass(frozen=True)
class Clusters:
    """TEMP table (identity_id, cluster_id): this run's people, before they have ids."""

    table: str


def cluster(
    con: duckdb.DuckDBPyConnection, cluster_at: float, overrides: pd.DataFrame, changed: str | None
) -> Clusters:
    """People from link_pairs and the overrides.

    Clustering decides each connected part of the graph of links on its own, so an incremental
    run (`changed`: the TEMP table of identities new, changed or gone, which this drops)
    re-forms only the parts that hold one of those, or one in a decision the analyst has
    changed, together with everyone who was in a person with one of those; every other person
    is kept as the last run formed it. The result is the full clustering."""
    if changed is None:
        nodes = con.execute("SELECT identity_id, dob FROM link_features ORDER BY identity_id").df()
        pairs = con.execute("SELECT * FROM link_pairs").df()
        con.register("_c", people.cluster(nodes, pairs, cluster_at, overrides))
        con.execute(
            "CREATE OR REPLACE TEMP TABLE clusters AS "
            "SELECT identity_id, CAST(cluster_id AS VARCHAR) AS cluster_id FROM _c"
        )
        con.unregister("_c")
        return Clusters("clusters")
    con.register("_o", overrides)
    affected = _affected(con, cluster_at, changed)
    nodes = con.execute(
        f"SELECT identity_id, dob FROM link_features SEMI JOIN {affected} USING (identity_id) "
        "ORDER BY identity_id"
    ).df()
    pairs = con.execute(f"""
        SELECT p.* FROM link_pairs p SEMI JOIN {affected} l ON l.identity_id = p.identity_id_l
        SEMI JOIN {affected} r ON r.identity_id = p.identity_id_r
    """).df()
    con.register("_c", people.cluster(nodes, pairs, cluster_at, overrides))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE clusters AS
        SELECT identity_id, 'N' || cluster_id AS cluster_id FROM _c
        UNION ALL
        SELECT p.identity_id, 'K' || p.person_id FROM link_persons p
        SEMI JOIN link_features USING (identity_id) ANTI JOIN {affected} USING (identity_id)
    """)
    con.unregister("_c")
    con.unregister("_o")
    con.execute(f"DROP TABLE {affected}; DROP TABLE {sql.ident(changed)}; DROP TABLE _edges")
    return Clusters("clusters")


def _affected(con: duckdb.DuckDBPyConnection, cluster_at: float, changed: str) -> str:
    """TEMP table of the identities whose people an incremental run forms again (reached from
    the changed ones and the changed decisions of registered `_o` through the links, and the
    people they were in); returns its name, quoted."""
    links = (
        "SELECT identity_id_l AS a, identity_id_r AS b FROM link_pairs "
        "WHERE plausible AND match_probability >= $cluster_at"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _edges AS
        SELECT a, b FROM ({links}) UNION ALL SELECT b, a FROM ({links})
        UNION ALL SELECT identity_1, identity_2 FROM _o WHERE decision = 'must_link'
        UNION ALL SELECT identity_2, identity_1 FROM _o WHERE decision = 'must_link'
        """,
        {"cluster_at": cluster_at},
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _affected AS
        WITH RECURSIVE decided AS (
            SELECT identity_1 AS a, identity_2 AS b FROM (
                (SELECT identity_1, identity_2, decision FROM _o EXCEPT
                 SELECT identity_1, identity_2, decision FROM link_overrides)
                UNION ALL
                (SELECT identity_1, identity_2, decision FROM link_overrides EXCEPT
                 SELECT identity_1, identity_2, decision FROM _o))
        ),
        seeds AS (
            SELECT identity_id FROM {sql.ident(changed)}
            UNION SELECT a FROM decided UNION SELECT b FROM decided
        ),
        was_with AS (
            SELECT identity_id FROM link_persons
            WHERE person_id IN (SELECT person_id FROM link_persons SEMI JOIN seeds USING (identity_id))
        ),
        reach(identity_id) AS (
            SELECT identity_id FROM seeds UNION SELECT identity_id FROM was_with
            UNION SELECT e.b FROM reach r JOIN _edges e ON e.a = r.identity_id
        )
        SELECT identity_id FROM reach SEMI JOIN link_features USING (identity_id)
    """)
    return sql.ident("_affected")


def record_overrides(con: duckdb.DuckDBPyConnection, overrides: pd.DataFrame) -> None:
    """link_overrides: the decisions this run honoured (the next run compares its own with them)."""
    con.register("_overrides", overrides)
    con.execute("CREATE OR REPLACE TABLE link_overrides AS SELECT * FROM _overrides")
    con.unregister("_overrides")


def assign_persons(con: duckdb.DuckDBPyConnection, clusters: Clusters, run_id: str) -> dict[str, int]:
    """link_persons: each cluster with the person id that survives relinking (ids.py), and the
    link_person_xref view; returns the counts of ids kept, new, merged and split."""
    c = sql.ident(clusters.table)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _items AS SELECT identity_id AS item, cluster_id FROM {c}")
    previous = "SELECT identity_id AS item, person_id AS id FROM link_persons"
    ids = stable_ids(
        con,
        "_items",
        previous if table_exists(con, "link_persons") else None,
        run_id,
        "P",
        "link_id_changes",
    )
    con.execute(
        f"CREATE OR REPLACE TABLE link_persons AS SELECT c.identity_id, s.id AS person_id "
        f"FROM {c} c JOIN {sql.ident(ids.table)} s USING (cluster_id) ORDER BY c.identity_id"
    )
    con.execute(f"DROP TABLE _items; DROP TABLE {sql.ident(ids.table)}")
    _person_xref(con)
    return ids.counts()


def _person_xref(con: duckdb.DuckDBPyConnection) -> None:
    """A view: the join costs nothing until read, and is never out of step with its tables."""
    kind = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = 'link_person_xref'"
    ).fetchall()
    if kind and kind[0][0] == "BASE TABLE":  # a table in warehouses linked by earlier versions
        con.execute("DROP TABLE link_person_xref")
    con.execute("""
        CREATE OR REPLACE VIEW link_person_xref AS
        SELECT m.source, m.record, m.slot, p.person_id, m.uprn, m.first_seen, m.last_seen, m.records,
               m.first_known, w.best_weight
        FROM link_mentions m JOIN link_persons p USING (identity_id)
        LEFT JOIN (SELECT id, max(match_weight) AS best_weight FROM (
            SELECT identity_id_l AS id, match_weight FROM link_pairs WHERE plausible
            UNION ALL SELECT identity_id_r, match_weight FROM link_pairs WHERE plausible) GROUP BY id) w
          ON w.id = m.identity_id
    """)
