"""Scoring candidate pairs of identities: link_pairs and link_features, anew on a full relink,
for the new and changed identities only on an incremental run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from riskflag.core import sql
from riskflag.linkage import people

# Records only an adult (16 or over) is named in: a council-tax or rent account, a benefit claim,
# a homelessness application, an adult social care episode, a child's carer.
ADULT_ROLE = (
    "source IN ('council_tax', 'rent_accounts', 'benefits', 'homelessness_cases', 'adult_social_care') "
    "OR (source = 'childrens_services' AND slot > 1)"
)
# What Splink compares: each identity's values; when the accounts or tenancies it holds began
# and ended (NULL for identities that hold none); and its companion, the person most often named
# beside it in the same records (the other liable person on an account, a claimant's partner),
# with companion_key the same name with its two parts in alphabetical order, so that a partner
# whose forename and surname were swapped in one record is still the same companion.
# adult_from (the first record naming it as an adult) is not compared: it only rules pairs out.
FEATURES = f"""
    WITH stays AS (
        SELECT identity_id, min(since) AS since, max(until) AS until,
               min(first_seen) FILTER (WHERE {ADULT_ROLE}) AS adult_from
        FROM link_mentions GROUP BY 1
    ),
    beside AS (
        SELECT a.identity_id, b.identity_id AS other, sum(a.records) AS n
        FROM link_mentions a JOIN link_mentions b ON a.source = b.source AND a.record = b.record
             AND a.slot <> b.slot AND a.identity_id <> b.identity_id
        GROUP BY ALL
    ),
    companion AS (
        SELECT b.identity_id, first(o.full_name ORDER BY b.n DESC, o.full_name) AS companion,
               first(CASE WHEN o.forename_canon <= o.surname THEN o.full_name
                          ELSE o.surname || ' ' || o.forename_canon END
                     ORDER BY b.n DESC, o.full_name) AS companion_key
        FROM beside b JOIN link_identities o ON o.identity_id = b.other GROUP BY 1
    )
    SELECT i.*, s.since, NULLIF(s.until, DATE '9999-12-31') AS until, c.companion, c.companion_key,
           s.adult_from
    FROM link_identities i LEFT JOIN stays s USING (identity_id) LEFT JOIN companion c USING (identity_id)
    ORDER BY identity_id
"""


def candidates_sql(features: str, fresh: str) -> str:
    """The identities a new one can be compared with: any that shares a value some blocking rule
    needs equal (the rules in people.py block on NI number, date of birth, UPRN, the full name or
    the companion, each with more conditions), so that tonight's scoring reads a few thousand,
    not millions."""
    f_, n_ = sql.ident(features), sql.ident(fresh)
    return f"""
    WITH f AS (SELECT * FROM {f_} SEMI JOIN {n_} USING (identity_id))
    SELECT * FROM {f_} WHERE identity_id IN (SELECT identity_id FROM {n_})
        OR nino IN (SELECT nino FROM f) OR dob IN (SELECT dob FROM f) OR uprn IN (SELECT uprn FROM f)
        OR full_name IN (SELECT full_name FROM f) OR companion_key IN (SELECT companion_key FROM f)
    ORDER BY identity_id
"""


PAIR_COLUMNS = ["identity_id_l", "identity_id_r", "match_weight", "match_probability", "plausible"]


@dataclass(frozen=True)
class Identities:
    """TEMP table: every identity as Splink compares it tonight (FEATURES)."""

    table: str

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"DROP TABLE {sql.ident(self.table)}")


@dataclass(frozen=True)
class Scoring:
    """What scoring left for the steps after it. `review`: the relation of the pairs scored
    tonight (link_pairs after a full relink; a TEMP table after an incremental run). `changed`:
    on an incremental run, the TEMP table of every identity new, changed or gone (where
    clustering must look again; clustering drops it); None after a full relink."""

    comparisons: int
    new_identities: int
    review: str
    changed: str | None = None


def describe(con: duckdb.DuckDBPyConnection) -> Identities:
    """The identities of link_identities with their stays and companions (FEATURES)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _features AS {FEATURES}")
    return Identities("_features")


def score_all(
    con: duckdb.DuckDBPyConnection, identities: Identities, model: Path, keep_above: float
) -> Scoring:
    """Every candidate pair among the identities scored: link_pairs and link_features anew."""
    frame = con.execute(f"SELECT * FROM {sql.ident(identities.table)}").df()
    scored = people.score(frame, model, keep_above)
    con.register("_p", scored.pairs)
    con.execute("CREATE OR REPLACE TABLE link_pairs AS SELECT * FROM _p")
    con.unregister("_p")
    con.execute(f"CREATE OR REPLACE TABLE link_features AS SELECT * FROM {sql.ident(identities.table)}")
    return Scoring(scored.comparisons, len(frame), review="link_pairs")


def score_changes(
    con: duckdb.DuckDBPyConnection,
    identities: Identities,
    model: Path,
    keep_above: float,
    say: Callable[[str], None],
) -> Scoring:
    """New identities, and those whose stays or companion changed, scored against everyone;
    link_pairs and link_features updated in place."""
    feats = sql.ident(identities.table)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _fresh AS "
        f"SELECT identity_id FROM (SELECT * FROM {feats} EXCEPT SELECT * FROM link_features)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _changed AS SELECT identity_id FROM _fresh UNION "
        f"SELECT identity_id FROM link_features ANTI JOIN {feats} USING (identity_id)"
    )
    fresh = con.execute("SELECT identity_id FROM _fresh").df()["identity_id"]
    say(f"scoring the pairs of {len(fresh):,} new or changed identities")
    if len(fresh):
        candidates = con.execute(candidates_sql(identities.table, "_fresh")).df()
        tf = {c: con.execute(people.tf_table_sql(c, feats)).df() for c in people.tf_columns(model)}
        scored = people.score_new(candidates, fresh, model, keep_above, tf)
    else:
        scored = people.Scored(pd.DataFrame(columns=PAIR_COLUMNS), 0)
    con.register("_p", scored.pairs)
    con.execute("CREATE OR REPLACE TEMP TABLE _scored AS SELECT * FROM _p")
    con.unregister("_p")
    con.execute(f"""
        DELETE FROM link_pairs WHERE identity_id_l IN (SELECT identity_id FROM _changed)
            OR identity_id_r IN (SELECT identity_id FROM _changed);
        INSERT INTO link_pairs SELECT * FROM _scored;
        DELETE FROM link_features WHERE identity_id IN (SELECT identity_id FROM _changed);
        INSERT INTO link_features SELECT * FROM {feats} SEMI JOIN _fresh USING (identity_id);
        DROP TABLE _fresh
    """)
    return Scoring(scored.comparisons, len(fresh), review="_scored", changed="_changed")
