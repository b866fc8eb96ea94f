"""What a link run reports: its summary (counts only) and its run folder, with the uncertain
pairs for clerical review (names: as protected as the extracts) and a manifest."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from riskflag.core import files, sql
from riskflag.core.safe import spreadsheet_safe

REVIEW_HEADER = [
    "match_probability", "match_weight", "plausible",
    "forename_1", "surname_1", "dob_1", "nino_1", "uprn_1",
    "forename_2", "surname_2", "dob_2", "nino_2", "uprn_2",
    "identity_1", "identity_2", "decision", "note",
]  # fmt: skip
TABLES = [
    "link_addresses",
    "link_mentions",
    "link_identities",
    "link_pairs",
    "link_persons",
    "link_person_xref",
    "link_residence",
    "link_households",
    "link_household_members",
    "link_id_changes",
    "link_household_changes",
]
OUTPUTS = ("linkage.json", "review.csv", "manifest.json")


@dataclass
class LinkSummary:
    run_id: str
    as_of: str
    model: str
    mentions: int
    mention_rows: int
    identities: int
    persons: int
    comparisons: int
    pairs_scored: int
    addresses: int
    addresses_matched: int
    unmatched_reasons: dict[str, int]
    cluster_sizes: dict[str, int]
    largest_clusters: list[int]
    match_weight_histogram: dict[str, int]
    for_review: int
    ids_kept: int
    ids_new: int
    merges: int
    splits: int
    households: int
    households_now: int
    household_ids_kept: int
    household_merges: int
    household_splits: int
    mode: str = "full"
    new_identities: int = 0
    overrides: int = 0
    outputs: dict[str, str] = field(default_factory=dict)


def summarise(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    as_of: date,
    model: Path,
    counts: dict[str, int],
    comparisons: int,
    ids: dict[str, int],
    households: dict[str, int],
) -> LinkSummary:
    """The run's counts, from the tables it wrote (for_review is filled in with the review file)."""

    def q(query: str, params: list[Any] | None = None) -> list[Any]:
        return con.execute(query, params).fetchall()

    sizes = dict(
        q(
            "SELECT CASE WHEN n >= 10 THEN '10+' ELSE CAST(n AS VARCHAR) END, count(*) FROM "
            "(SELECT person_id, count(*) n FROM link_persons GROUP BY 1) GROUP BY 1 ORDER BY 1"
        )
    )
    largest = [
        r[0] for r in q("SELECT count(*) n FROM link_persons GROUP BY person_id ORDER BY n DESC LIMIT 5")
    ]
    hist = dict(
        q(
            "SELECT CAST(floor(match_weight / 5) * 5 AS INTEGER)::VARCHAR, count(*) FROM link_pairs "
            "GROUP BY 1 ORDER BY min(match_weight)"
        )
    )
    reasons = dict(
        q(
            "SELECT unmatched_reason, count(*) FROM link_addresses WHERE uprn IS NULL "
            "GROUP BY 1 ORDER BY 2 DESC"
        )
    )
    return LinkSummary(
        run_id=run_id,
        as_of=as_of.isoformat(),
        model=str(model),
        mentions=counts["mentions"],
        mention_rows=counts["mention_rows"],
        identities=counts["identities"],
        persons=q("SELECT count(DISTINCT person_id) FROM link_persons")[0][0],
        comparisons=comparisons,
        pairs_scored=q("SELECT count(*) FROM link_pairs")[0][0],
        addresses=counts["addresses"],
        addresses_matched=counts["addresses_matched"],
        unmatched_reasons=reasons,
        cluster_sizes=sizes,
        largest_clusters=largest,
        match_weight_histogram=hist,
        for_review=0,
        ids_kept=ids["kept"],
        ids_new=ids["new"],
        merges=ids["merges"],
        splits=ids["splits"],
        households=households["kept"] + households["new"],
        households_now=q(
            "SELECT count(*) FROM link_households "
            "WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)",
            [as_of, as_of],
        )[0][0],
        household_ids_kept=households["kept"],
        household_merges=households["merges"],
        household_splits=households["splits"],
    )


def review_rows(
    con: duckdb.DuckDBPyConnection, scope: str, band: tuple[float, float], cluster_at: float
) -> list[tuple[Any, ...]]:
    """The undecided uncertain pairs among relation `scope`, with both identities' values."""
    return con.execute(
        f"""
        SELECT round(p.match_probability, 4), round(p.match_weight, 2), p.plausible,
               l.forename, l.surname, l.dob, l.nino, l.uprn, r.forename, r.surname, r.dob, r.nino, r.uprn,
               p.identity_id_l, p.identity_id_r
        FROM {sql.ident(scope)} p JOIN link_identities l ON l.identity_id = p.identity_id_l
        JOIN link_identities r ON r.identity_id = p.identity_id_r
        ANTI JOIN link_overrides o ON o.identity_1 = p.identity_id_l AND o.identity_2 = p.identity_id_r
        WHERE (p.match_probability >= $low AND p.match_probability < $high
              OR (NOT p.plausible AND p.match_probability >= $cluster_at))
        ORDER BY p.match_probability DESC, p.identity_id_l, p.identity_id_r
        """,
        {"low": band[0], "high": band[1], "cluster_at": cluster_at},
    ).fetchall()


def review_csv(rows: list[tuple[Any, ...]]) -> str:
    """The review file's text: every value made safe to open in a spreadsheet, with empty
    decision and note columns for the analyst."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(REVIEW_HEADER)
    for r in rows:
        w.writerow([spreadsheet_safe("" if v is None else str(v)) for v in r] + ["", ""])
    return buf.getvalue()


def write_outputs(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    summary: LinkSummary,
    band: tuple[float, float],
    cluster_at: float,
    scope: str = "link_pairs",
) -> dict[str, str]:
    """linkage.json (counts only), review.csv and the manifest, in the folder root/<run id>,
    which appears whole (core.files.folder). The review holds the undecided uncertain pairs among
    `scope`: every pair after a full relink, the pairs scored tonight after an incremental run
    (the earlier ones are in earlier runs' review files)."""
    rows = review_rows(con, scope, band, cluster_at)
    summary.for_review = len(rows)
    manifest = {
        "run_id": summary.run_id,
        "stage": "link",
        "as_of": summary.as_of,
        "model": summary.model,
        "outputs": ["linkage.json", "review.csv"],
        "tables": TABLES,
    }

    def write(tmp: Path) -> None:
        (tmp / "review.csv").write_text(review_csv(rows), encoding="utf-8", newline="")
        (tmp / "linkage.json").write_text(json.dumps(asdict(summary), indent=2), encoding="utf-8")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")

    folder = files.folder(root, summary.run_id, write)
    return {k: str(folder / k) for k in OUTPUTS}


def write_manifest(root: Path, run_id: str, doc: dict[str, Any]) -> Path:
    """A run folder holding only its manifest (a replay's)."""

    def write(tmp: Path) -> None:
        (tmp / "manifest.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")

    return files.folder(root, run_id, write)
