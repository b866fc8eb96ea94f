"""Which identities are the same person: a Fellegi-Sunter model in Splink, trained separately
from the runs that use it.

Training estimates u by random sampling, the chance that two random identities match from
deterministic rules, and m by EM under three blocking rules (each rule's own columns are
trained by the others). The model is a JSON file; runs only load it, predict and cluster.
Clusters are cut at a high match probability because a false link merges two people's
records in front of a caseworker, while a missed link only leaves evidence out.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

# each rule catches what the others miss: a typo in one name (the dob rules), no date of birth
# (the property and full-name rules), forename and surname swapped (the last two)
BLOCKING_FOR_PREDICTION: list[tuple[str, ...] | str] = [
    ("nino",),
    ("dob", "substr(surname, 1, 2)"),
    ("dob", "substr(forename_canon, 1, 2)"),
    ("uprn", "substr(forename_canon, 1, 1)"),
    ("uprn", "substr(surname, 1, 1)"),
    ("forename_canon", "surname"),
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
    (with day and month transposed), NI number, and the property."""
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
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="identity_id",
        comparisons=[
            cl.ForenameSurnameComparison(
                "forename_canon", "surname", forename_surname_concat_col_name="full_name"
            ),
            dob,
            cl.ExactMatch("nino"),
            cl.ExactMatch("uprn"),
        ],
        blocking_rules_to_generate_predictions=[
            r if isinstance(r, str) else block_on(*r) for r in BLOCKING_FOR_PREDICTION
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def _linker(identities: pd.DataFrame, model: Any) -> Any:
    from splink import DuckDBAPI, Linker

    _quiet()
    db = DuckDBAPI()
    db._con.execute(f"SET threads = {max(1, os.cpu_count() or 1)}")
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
    t.estimate_probability_two_random_records_match(DETERMINISTIC, recall=0.7)
    u_pairs = float(min(5e6, max(1e5, len(identities) * 20)))
    t.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    for rule in EM_RULES:
        t.estimate_parameters_using_expectation_maximisation(block_on(*rule), record_sample_proportion=1.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    model = linker.misc.save_model_to_json(str(tmp), overwrite=True)
    tmp.replace(out)
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
# or a day/month transposition, and the NI numbers do not differ.
PLAUSIBLE = """
    (l.forename_canon = r.forename_canon
     OR jaro_winkler_similarity(l.forename_canon, r.forename_canon) >= 0.88
     OR (l.forename_canon = r.surname AND l.surname = r.forename_canon))
    AND (l.dob IS NULL OR r.dob IS NULL OR l.dob = r.dob OR damerau_levenshtein(l.dob, r.dob) <= 1
         OR (substr(l.dob, 1, 4) = substr(r.dob, 1, 4) AND substr(l.dob, 6, 2) = substr(r.dob, 9, 2)
             AND substr(l.dob, 9, 2) = substr(r.dob, 6, 2)))
    AND (l.nino IS NULL OR r.nino IS NULL OR l.nino = r.nino)
"""


@dataclass
class Links:
    pairs: pd.DataFrame  # identity_id_l, identity_id_r, match_weight, match_probability, plausible
    clusters: pd.DataFrame  # identity_id, cluster_id
    comparisons: int


def link(identities: pd.DataFrame, model: Path, keep_above: float, cluster_at: float) -> Links:
    """Score candidate pairs with the trained model (keeping those above `keep_above`) and
    cluster the plausible ones at or above `cluster_at`."""
    linker = _linker(identities, str(model))
    pred = linker.inference.predict(threshold_match_probability=keep_above).as_pandas_dataframe()
    con = duckdb.connect()
    con.register("pred", pred)
    con.register("ids", identities)
    pairs = con.execute(
        "SELECT p.identity_id_l, p.identity_id_r, p.match_weight, p.match_probability, "
        f"coalesce({PLAUSIBLE}, false) AS plausible FROM pred p "
        "JOIN ids l ON l.identity_id = p.identity_id_l JOIN ids r ON r.identity_id = p.identity_id_r"
    ).df()
    con.close()
    edges = pairs[pairs["plausible"] & (pairs["match_probability"] >= cluster_at)]
    clusters = anchored_clusters(identities, edges)
    counts = linker.blocking_analysis.count_comparisons_from_blocking_rules(record_sample_proportion=1.0)
    return Links(pairs, clusters, comparisons=int(sum(c["marginal_comparison_count"] for c in counts)))


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
    ids = pd.Index(identities["identity_id"])
    n = len(ids)
    has_dob = identities["dob"].notna().to_numpy()
    left = ids.get_indexer(edges["identity_id_l"])
    right = ids.get_indexer(edges["identity_id_r"])
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
    return pd.DataFrame({"identity_id": ids.to_numpy(), "cluster_id": label.astype(np.int64)})
