"""Which identities are the same person: a Fellegi-Sunter model in Splink, trained separately
from the runs that use it.

Training estimates u by random sampling, the chance that two random identities match from
deterministic rules, and m by EM under three blocking rules (each rule's own columns are
trained by the others). The model is a JSON file; runs only load it, predict and cluster.
Clusters are cut at a high match probability because a false link merges two people's
records in front of a caseworker, while a missed link only leaves evidence out.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from riskflag.core import files, sql

# An account or a tenancy that ends within this many days of one in the same name starting at
# another home is a move: evidence for one person, as two people of one name are seldom seen to
# leave one home and take another in the same fortnight. Within the wider window it is weaker
# evidence (a new tenancy often starts weeks before the old one ends), weighed separately.
MOVE_DAYS = 15
MOVE_NEAR_DAYS = 45

# each rule catches what the others miss: a typo in one name (the dob rules), no date of birth
# (the property, full-name and companion rules: a couple who move keep each other, whatever the
# spelling of their own names), forename and surname swapped (the last two)
BLOCKING_FOR_PREDICTION: list[tuple[str, ...] | str] = [
    ("nino",),
    ("dob", "substr(surname, 1, 2)"),
    ("dob", "substr(forename_canon, 1, 2)"),
    ("uprn", "substr(forename_canon, 1, 1)"),
    ("uprn", "substr(surname, 1, 1)"),
    ("forename_canon", "surname"),
    ("companion_key",),
    "l.dob = r.dob AND l.forename_canon = r.surname",
    "l.uprn = r.uprn AND l.forename_canon = r.surname",
]
EM_RULES = [("dob",), ("forename_canon", "surname")]
DETERMINISTIC = [
    "l.nino = r.nino",
    "l.forename_canon = r.forename_canon AND l.surname = r.surname AND l.dob = r.dob",
]


def _quiet() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.WARNING)


def settings() -> Any:
    """The comparisons: names (nickname-aware, swapped fields, term frequencies), date of birth
    (with day and month transposed), NI number, the home (the same one, or one account ending as
    the other began, within a fortnight or within six weeks) and the companion (the person named
    beside them, in either order of their names, with term frequencies, or spelt nearly alike: a
    typo or a swapped field in a partner's name is no evidence against)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    dob = cl.CustomComparison(
        [
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel(
                "substr(dob_l, 1, 4) = substr(dob_r, 1, 4) AND substr(dob_l, 6, 2) = substr(dob_r, 9, 2) "
                "AND substr(dob_l, 9, 2) = substr(dob_r, 6, 2)",
                label_for_charts="day and month transposed",
            ),
            cll.DamerauLevenshteinLevel("dob", 1),
            cll.AbsoluteDateDifferenceLevel("dob", input_is_string=True, threshold=1, metric="year"),
            cll.ElseLevel(),
        ],
        output_column_name="dob",
    )

    def moved(days: int) -> str:
        return " OR ".join(
            f"abs(datediff('day', until_{a}, since_{b})) <= {days}" for a, b in (("l", "r"), ("r", "l"))
        )

    home = cl.CustomComparison(
        [
            cll.NullLevel("uprn"),
            cll.ExactMatchLevel("uprn"),
            cll.CustomLevel(f"({moved(MOVE_DAYS)})", label_for_charts="one stay ended as the other began"),
            cll.CustomLevel(
                f"({moved(MOVE_NEAR_DAYS)})", label_for_charts="one stay ended weeks from the other"
            ),
            cll.ElseLevel(),
        ],
        output_column_name="home",
    )
    companion = cl.CustomComparison(
        [
            cll.NullLevel("companion"),
            cll.ExactMatchLevel("companion_key", term_frequency_adjustments=True),
            cll.JaroWinklerLevel("companion", 0.9),
            cll.ElseLevel(),
        ],
        output_column_name="companion",
    )
    # Splink takes a rule as SQL text too, though its annotations say only rule objects
    blocking: list[Any] = [r if isinstance(r, str) else block_on(*r) for r in BLOCKING_FOR_PREDICTION]
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="identity_id",
        comparisons=[
            cl.ForenameSurnameComparison(
                "forename_canon", "surname", forename_surname_concat_col_name="full_name"
            ),
            dob,
            cl.ExactMatch("nino"),
            home,
            companion,
        ],
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def _db() -> Any:
    """Splink's DuckDB, spilling to the system's temporary folder (not the working folder)."""
    from splink import DuckDBAPI

    db = DuckDBAPI()
    db.duckdb_con.execute(f"SET threads = {sql.integer(max(1, os.cpu_count() or 1))}")
    db.duckdb_con.execute(f"SET temp_directory = {sql.path(Path(tempfile.gettempdir()) / 'riskflag-splink')}")
    return db


def _linker(identities: pd.DataFrame, model: Any, db: Any = None) -> Any:
    from splink import Linker

    _quiet()
    db = db or _db()
    frame = db.register(identities, dataset_display_name="identities")
    return Linker(frame, model, log_level=None)


@dataclass
class TrainingReport:
    identities: int
    u_pairs: float
    em_rules: list[str]
    probability_two_random_records_match: float


def train(identities: pd.DataFrame, out: Path, seed: int = 1) -> TrainingReport:
    """Estimate the model on these identities and write it to `out` (JSON)."""
    from splink import block_on

    linker = _linker(identities, settings())
    t = linker.training
    t.estimate_probability_two_random_records_match(DETERMINISTIC, recall=0.3)
    u_pairs = float(min(5e6, max(1e5, len(identities) * 20)))
    t.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    for rule in EM_RULES:
        t.estimate_parameters_using_expectation_maximisation(block_on(*rule), record_sample_proportion=1.0)
    model = linker.misc.save_model_to_json(None)
    files.write_text(out, json.dumps(model, indent=4))  # as Splink writes it
    return TrainingReport(
        len(identities),
        u_pairs,
        [" AND ".join(r) for r in EM_RULES],
        float(model["probability_two_random_records_match"]),
    )


# Evidence Fellegi-Sunter cannot weigh: members of one family share a surname and an address,
# so those agree for many pairs of different people and the model's independence assumption
# over-counts them. A pair is only linked when the forenames agree (exactly, as a nickname,
# swapped with the surname or with a typo), the dates of birth do not disagree beyond a typo
# or a day/month transposition, and the NI numbers do not differ; and neither was a child
# (under 16 by the other's date of birth) when the other was first named in an adult's record
# (a parent without a date of birth on the council-tax account is not their namesake child).
PLAUSIBLE = """
    (l.forename_canon = r.forename_canon
     OR jaro_winkler_similarity(l.forename_canon, r.forename_canon) >= 0.88
     OR damerau_levenshtein(l.forename, r.forename) <= 1
     OR (r.surname IN (l.forename_canon, l.forename) AND l.surname IN (r.forename_canon, r.forename)))
    AND (l.dob IS NULL OR r.dob IS NULL OR l.dob = r.dob OR damerau_levenshtein(l.dob, r.dob) <= 1
         OR (substr(l.dob, 1, 4) = substr(r.dob, 1, 4) AND substr(l.dob, 6, 2) = substr(r.dob, 9, 2)
             AND substr(l.dob, 9, 2) = substr(r.dob, 6, 2)))
    AND (l.nino IS NULL OR r.nino IS NULL OR l.nino = r.nino)
    AND NOT coalesce(TRY_CAST(l.dob AS DATE) > r.adult_from - INTERVAL 16 YEAR, false)
    AND NOT coalesce(TRY_CAST(r.dob AS DATE) > l.adult_from - INTERVAL 16 YEAR, false)
"""


@dataclass
class Scored:
    pairs: pd.DataFrame  # identity_id_l, identity_id_r, match_weight, match_probability, plausible
    comparisons: int  # candidate pairs the blocking rules generated


def _plausible(pred: pd.DataFrame, identities: pd.DataFrame) -> pd.DataFrame:
    con = duckdb.connect()
    con.register("pred", pred)
    con.register("ids", identities)
    pairs = con.execute(
        "SELECT least(p.identity_id_l, p.identity_id_r) AS identity_id_l, "
        "greatest(p.identity_id_l, p.identity_id_r) AS identity_id_r, p.match_weight, p.match_probability, "
        f"coalesce({PLAUSIBLE}, false) AS plausible FROM pred p "
        "JOIN ids l ON l.identity_id = p.identity_id_l JOIN ids r ON r.identity_id = p.identity_id_r "
        "ORDER BY identity_id_l, identity_id_r"
    ).df()
    con.close()
    return pairs


def score(identities: pd.DataFrame, model: Path, keep_above: float) -> Scored:
    """Every candidate pair the blocking rules generate, scored with the trained model; those
    at or above `keep_above`, each marked plausible or not."""
    db = _db()
    linker = _linker(identities, str(model), db)
    try:
        pred = linker.inference.predict(threshold_match_probability=keep_above).as_pandas_dataframe()
        counts = linker.blocking_analysis.count_comparisons_from_blocking_rules(record_sample_proportion=1.0)
    finally:
        _close(db)
    return Scored(_plausible(pred, identities), int(sum(c["marginal_comparison_count"] for c in counts)))


def _close(db: Any) -> None:
    """Splink's DuckDB closed now, not when the garbage collector reaches it: a replay links
    two dozen times in one process, and each open database held its memory (8 GB at 250k)."""
    db.duckdb_con.close()


def tf_columns(model: Path) -> list[str]:
    """The columns whose term frequencies the model uses (from its JSON)."""
    spec = json.loads(model.read_text(encoding="utf-8"))
    cols = {
        level["tf_adjustment_column"]
        for comparison in spec["comparisons"]
        for level in comparison["comparison_levels"]
        if level.get("tf_adjustment_column")
    }
    return sorted(cols)


def tf_table_sql(column: str, rel: str) -> str:
    """A term-frequency lookup as Splink computes it (share of the non-null values)."""
    c = sql.ident(column)
    return (
        f"SELECT {c}, CAST(count(*) AS DOUBLE) / (SELECT count({c}) FROM {rel}) "
        f"AS {sql.ident('tf_' + column)} FROM {rel} WHERE {c} IS NOT NULL GROUP BY {c}"
    )


def score_new(
    candidates: pd.DataFrame,
    new: pd.Series,
    model: Path,
    keep_above: float,
    term_frequencies: dict[str, pd.DataFrame],
) -> Scored:
    """Only the pairs that involve a new identity: new against the rest and new among
    themselves (Splink's predict_between and predict_within), so that a night's cost grows with
    what is new. `candidates` holds the new identities and any other that shares a blocking key
    with one; term frequencies are counted over every identity, as a full run counts them."""
    is_new = candidates["identity_id"].isin(new)
    db = _db()
    linker = _linker(candidates, str(model), db)
    for col, table in term_frequencies.items():
        linker.table_management.register_term_frequency_lookup(
            db.register(table, dataset_display_name=f"tf_{col}"), col
        )
    fresh = db.register(candidates[is_new], dataset_display_name="new")
    rest = db.register(candidates[~is_new], dataset_display_name="existing")
    parts = []
    cols = ["identity_id_l", "identity_id_r", "match_weight", "match_probability"]
    try:
        if is_new.any():
            parts.append(linker.inference.predict_within(fresh))
            if (~is_new).any():
                parts.append(linker.inference.predict_between(rest, fresh))
        pred = (
            pd.concat([p.as_pandas_dataframe()[cols] for p in parts], ignore_index=True)
            if parts
            else pd.DataFrame(columns=cols)
        )
    finally:
        _close(db)
    compared = len(pred)
    pred = pred[pred["match_probability"] >= keep_above]
    return Scored(_plausible(pred, candidates), compared)


MUST_WEIGHT = 1e6  # an analyst's must-link outweighs any score


def cluster(
    identities: pd.DataFrame,
    pairs: pd.DataFrame,
    cluster_at: float,
    overrides: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """People from the plausible pairs at or above `cluster_at`, with an analyst's decisions
    (overrides: identity_1, identity_2, decision must_link | cannot_link) honoured: a must-link
    is a link whatever its score; a cannot-link pair is never in one person, however they are
    connected."""
    edges = pairs.loc[
        pairs["plausible"] & (pairs["match_probability"] >= cluster_at),
        ["identity_id_l", "identity_id_r", "match_weight"],
    ]
    cannot = pd.DataFrame(columns=["a", "b"])
    if overrides is not None and len(overrides):
        known = identities["identity_id"]
        o = overrides[overrides["identity_1"].isin(known) & overrides["identity_2"].isin(known)]
        a = o[["identity_1", "identity_2"]].min(axis=1)
        b = o[["identity_1", "identity_2"]].max(axis=1)
        decided = pd.DataFrame({"a": a, "b": b, "decision": o["decision"]})
        must = decided[decided["decision"] == "must_link"]
        cannot = decided[decided["decision"] == "cannot_link"][["a", "b"]]
        key = edges["identity_id_l"] + "|" + edges["identity_id_r"]
        edges = edges[~key.isin(cannot["a"] + "|" + cannot["b"])]
        edges = pd.concat(
            [
                edges,
                pd.DataFrame(
                    {"identity_id_l": must["a"], "identity_id_r": must["b"], "match_weight": MUST_WEIGHT}
                ),
            ],
            ignore_index=True,
        )
    clusters = anchored_clusters(identities, edges)
    return _separate(identities, edges, clusters, cannot) if len(cannot) else clusters


def _positions(values: pd.Series, index: pd.Series) -> np.ndarray:
    """Where each value is in index (hashed by Arrow: a large council has millions of ids)."""
    found = pc.index_in(pa.array(values, pa.string()), value_set=pa.array(index, pa.string()))
    return found.to_numpy(zero_copy_only=False).astype(np.int64)


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(left.size, dtype=np.int8), (left, right)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def anchored_clusters(identities: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """People from the accepted links, without letting records that lack a date of birth chain
    different people together (a parent and a child of the same name at one address, say).

    Identities with a date of birth are clustered first, by the links among them. Each one
    without joins the person it is most strongly linked to; those linked only to others without
    a date of birth form people among themselves, and join a person through their strongest
    link to an identity that already joined one."""
    ids = identities["identity_id"]
    n = len(ids)
    has_dob = identities["dob"].notna().to_numpy()
    left = _positions(edges["identity_id_l"], ids)
    right = _positions(edges["identity_id_r"], ids)
    weight = edges["match_weight"].to_numpy()
    both = has_dob[left] & has_dob[right]
    label = _components(n, left[both], right[both])
    assigned = has_dob.copy()

    def attach(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> None:
        """Each src (unassigned) takes the label of its strongest-linked assigned dst."""
        ok = ~assigned[src] & assigned[dst]
        if not ok.any():
            return
        best = pd.DataFrame({"s": src[ok], "d": dst[ok], "w": w[ok]}).sort_values(["s", "w", "d"])
        best = best.drop_duplicates("s", keep="last")
        label[best["s"].to_numpy()] = label[best["d"].to_numpy()]
        assigned[best["s"].to_numpy()] = True

    both_ways = (np.r_[left, right], np.r_[right, left], np.r_[weight, weight])
    attach(*both_ways)  # without a date of birth, to the person with one they are closest to
    rest = ~assigned
    among = rest[left] & rest[right]
    free = _components(n, left[among], right[among])
    free_edges = pd.DataFrame({"s": both_ways[0], "d": both_ways[1], "w": both_ways[2]})
    free_edges = free_edges[rest[free_edges["s"]] & assigned[free_edges["d"]]]
    free_edges["c"] = free[free_edges["s"].to_numpy()]
    best = free_edges.sort_values(["c", "w", "d"]).drop_duplicates("c", keep="last")
    joins = dict(zip(best["c"], label[best["d"].to_numpy()], strict=True))
    offset = label.max() + 1 if n else 0
    for i in np.flatnonzero(rest):
        label[i] = joins.get(free[i], offset + free[i])
    return pd.DataFrame({"identity_id": ids.reset_index(drop=True), "cluster_id": label.astype(np.int64)})


def _separate(
    identities: pd.DataFrame, edges: pd.DataFrame, clusters: pd.DataFrame, cannot: pd.DataFrame
) -> pd.DataFrame:
    """Re-form each person that holds a cannot-link pair from its own links."""
    label = clusters.set_index("identity_id")["cluster_id"]
    pairs = list(zip(cannot["a"], cannot["b"], strict=True))
    bad = {label[a] for a, b in pairs if label[a] == label[b]}
    if not bad:
        return clusters
    has_dob = identities.set_index("identity_id")["dob"].notna().to_dict()
    out = label.copy()
    next_label = int(label.max()) + 1
    for c in sorted(bad):
        members = set(label.index[label == c])
        mine = edges[edges["identity_id_l"].isin(members) & edges["identity_id_r"].isin(members)]
        for group in _constrained_groups(members, mine, set(pairs), has_dob):
            out[list(group)] = next_label
            next_label += 1
    return pd.DataFrame({"identity_id": out.index.to_numpy(), "cluster_id": out.to_numpy().astype(np.int64)})


def _constrained_groups(
    members: set[str], edges: pd.DataFrame, apart: set[tuple[str, str]], has_dob: dict[str, bool]
) -> list[set[str]]:
    """Links taken strongest first, skipping any that would put a cannot-link pair together, or
    through which an identity without a date of birth would join two people who have one."""
    parent = {m: m for m in members}
    group = {m: {m} for m in members}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _ in sorted(edges.itertuples(index=False), key=lambda e: (-e[2], e[0], e[1])):
        ra, rb = find(a), find(b)
        if ra == rb or any((min(x, y), max(x, y)) in apart for x in group[ra] for y in group[rb]):
            continue
        anchored = any(has_dob[x] for x in group[ra]) and any(has_dob[y] for y in group[rb])
        if anchored and not (has_dob[a] and has_dob[b]):
            continue
        parent[rb] = ra
        group[ra] |= group.pop(rb)
    return [group[r] for r in sorted(group)]
