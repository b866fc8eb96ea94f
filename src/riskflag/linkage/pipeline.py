"""The link stage as the CLI and the pipelines call it.

Reads what the warehouse knew at the as-of date, writes these tables back into it:

- `link_addresses`: every distinct (address, postcode) with its UPRN or why it has none;
- `link_mentions`: every person named by a source record -> its identity;
- `link_identities`: distinct spellings of a person at a place (the unit Splink compares);
- `link_pairs`: the scored candidate pairs above the review band's floor;
- `link_persons`: identity -> person id (stable between runs, see ids.py);
- `link_person_xref`: source record and slot -> person id, with the strongest link weight;
- `link_residence`: person -> UPRN with validity dates (households are the occupants of a
  UPRN at a date);
- `link_id_changes`: person ids merged or split by this run.

Each run also writes a folder with the diagnostics (JSON), the uncertain pairs for clerical
review (CSV) and a manifest. Names stay in the warehouse and the review file, which are as
protected as the extracts; the diagnostics hold counts only.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from riskflag.config import CouncilConfig
from riskflag.contracts.contract import load_contract
from riskflag.errors import UserError
from riskflag.ingest.warehouse import known_at_sql, open_warehouse, table_exists
from riskflag.linkage import mentions as men
from riskflag.linkage import people
from riskflag.linkage.addresses import match_addresses
from riskflag.linkage.ids import assign_ids
from riskflag.safe import spreadsheet_safe

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def _known(con: duckdb.DuckDBPyConnection, source: str, as_of: date) -> str | None:
    if not table_exists(con, f"history_{source}"):
        return None
    return known_at_sql(load_contract(source), as_of)


def build_mentions(con: duckdb.DuckDBPyConnection, cfg: CouncilConfig, as_of: date) -> dict[str, int]:
    """link_addresses, link_mentions and link_identities from what was known at as_of."""
    llpg = _known(con, "llpg", as_of)
    if llpg is None:
        raise UserError("the warehouse has no gazetteer (llpg): run `riskflag validate` first")
    parts = [
        men.raw_mentions_select(s, spec, sql)
        for s, spec in men.SOURCES.items()
        if (sql := _known(con, s, as_of)) is not None
    ]
    con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS {' UNION ALL '.join(parts)}")
    asb = _known(con, "asb_incidents", as_of)
    addresses = "SELECT address, postcode FROM _raw" + (
        f" UNION ALL SELECT address, postcode FROM ({asb})" if asb else ""
    )
    match_addresses(con, addresses, llpg, "link_addresses", cfg.linkage.extra_localities)
    nick = cfg.linkage.nicknames_path(cfg)
    if not nick.is_file():
        raise UserError(f"{nick}: no such nicknames file (linkage.nicknames in {cfg.path})")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _nick AS SELECT upper(trim(nickname)) AS nickname, "
        f"upper(trim(usual)) AS usual FROM read_csv('{nick}', header = true, all_varchar = true)"
    )
    uprns = f"SELECT DISTINCT CAST(uprn AS VARCHAR) AS uprn FROM ({llpg})"
    select = men.mentions_select("_raw", "_nick", "link_addresses", uprns)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _m AS SELECT *, {men.identity_id()} AS identity_id FROM ({select})"
    )
    con.execute(
        "CREATE OR REPLACE TABLE link_mentions AS SELECT source, _file, _row, slot, seen_on, identity_id, "
        "uprn FROM _m WHERE forename IS NOT NULL OR surname IS NOT NULL ORDER BY source, _file, _row, slot"
    )
    cols = ", ".join(men.IDENTITY)
    con.execute(
        f"CREATE OR REPLACE TABLE link_identities AS SELECT DISTINCT identity_id, {cols}, "
        "forename_canon || ' ' || surname AS full_name FROM _m "
        "WHERE forename IS NOT NULL OR surname IS NOT NULL ORDER BY identity_id"
    )
    con.execute("DROP TABLE _raw; DROP TABLE _m; DROP TABLE _nick")
    (mentions, identities, matched, addresses_n) = con.execute(
        "SELECT (SELECT count(*) FROM link_mentions), (SELECT count(*) FROM link_identities), "
        "(SELECT count(uprn) FROM link_addresses), (SELECT count(*) FROM link_addresses)"
    ).fetchall()[0]
    return {
        "mentions": mentions,
        "identities": identities,
        "addresses": addresses_n,
        "addresses_matched": matched,
    }


@dataclass
class TrainResult:
    model: Path
    report: dict


def train_council(
    cfg: CouncilConfig, as_of: date, now: Callable[[], datetime] = datetime.now, say: Say = _quiet
) -> TrainResult:
    """Train the person model on what was known at as_of; write model.json and
    training_report.json into a new version folder. Names never leave the warehouse: the
    model holds m and u probabilities, and term frequencies are computed again at each run."""
    with open_warehouse(cfg.warehouse) as con:
        say("collecting the people every source names")
        counts = build_mentions(con, cfg, as_of)
        identities = con.execute("SELECT * FROM link_identities").df()
    say(f"training on {counts['identities']:,} identities")
    version = f"{as_of.isoformat()}-{now():%Y%m%dT%H%M%S}"
    folder = cfg.linkage.models_folder(cfg) / version
    folder.mkdir(parents=True, exist_ok=True)
    report = people.train(identities, folder / "model.json", seed=cfg.linkage.seed)
    doc = {"version": version, "as_of": as_of.isoformat(), **counts, **asdict(report)}
    (folder / "training_report.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return TrainResult(folder / "model.json", doc)


def latest_model(cfg: CouncilConfig) -> Path:
    folder = cfg.linkage.models_folder(cfg)
    found = sorted(folder.glob("*/model.json")) if folder.is_dir() else []
    if not found:
        raise UserError(f"{folder}: no trained person-linkage model; run `riskflag link train` first")
    return found[-1]


@dataclass
class LinkSummary:
    run_id: str
    as_of: str
    model: str
    mentions: int
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
    outputs: dict[str, str] = field(default_factory=dict)


def link_council(
    cfg: CouncilConfig,
    as_of: date,
    model: Path | None = None,
    now: Callable[[], datetime] = datetime.now,
    say: Say = _quiet,
) -> LinkSummary:
    """Predict, cluster, assign stable person ids and residence histories."""
    model = model or latest_model(cfg)
    if not model.is_file():
        raise UserError(f"{model}: no such model file")
    run_id = f"{as_of.isoformat()}-link-{now():%Y%m%dT%H%M%S%f}"
    lk = cfg.linkage
    with open_warehouse(cfg.warehouse) as con:
        say("collecting the people every source names")
        counts = build_mentions(con, cfg, as_of)
        identities = con.execute("SELECT * FROM link_identities").df()
        say(f"scoring pairs among {counts['identities']:,} identities")
        links = people.link(
            identities, model, keep_above=min(lk.review_band[0], lk.cluster_at), cluster_at=lk.cluster_at
        )
        say("clustering and keeping person ids stable")
        con.register("_clusters", links.clusters)
        con.register("_pairs", links.pairs)
        con.execute("CREATE OR REPLACE TEMP TABLE clusters AS SELECT * FROM _clusters")
        con.execute(
            "CREATE OR REPLACE TABLE link_pairs AS SELECT * FROM _pairs ORDER BY identity_id_l, identity_id_r"
        )
        con.unregister("_clusters")
        con.unregister("_pairs")
        ids = assign_ids(con, "clusters", run_id)
        con.execute("""
            CREATE OR REPLACE TABLE link_person_xref AS
            SELECT m.source, m._file, m._row, m.slot, p.person_id, w.best_weight
            FROM link_mentions m JOIN link_persons p USING (identity_id)
            LEFT JOIN (SELECT id, max(match_weight) AS best_weight FROM (
                SELECT identity_id_l AS id, match_weight FROM link_pairs WHERE plausible
                UNION ALL SELECT identity_id_r, match_weight FROM link_pairs WHERE plausible) GROUP BY id) w
              ON w.id = m.identity_id
            ORDER BY m.source, m._file, m._row, m.slot
        """)
        build_residence(con)
        summary = _summary(con, run_id, as_of, model, counts, links.comparisons, ids)
        folder = cfg.output_folder / run_id
        summary.outputs = _write_outputs(con, folder, summary, lk.review_band, lk.cluster_at)
    return summary


def build_residence(con: duckdb.DuckDBPyConnection) -> None:
    """link_residence: where each person lived and when. A spell at a UPRN starts on the first
    record there and ends when a record places the person elsewhere and no later record
    places them back (a stale address in a late record does not move them back)."""
    con.execute("""
        CREATE OR REPLACE TABLE link_residence AS
        WITH seen AS (
            SELECT x.person_id, m.uprn, min(m.seen_on) AS first_seen, max(m.seen_on) AS last_seen
            FROM link_mentions m JOIN link_persons x USING (identity_id)
            WHERE m.uprn IS NOT NULL AND m.seen_on IS NOT NULL GROUP BY ALL
        ),
        ordered AS (
            SELECT *, lead(first_seen) OVER (PARTITION BY person_id ORDER BY first_seen, uprn) AS next_start
            FROM seen
        )
        SELECT person_id, uprn, first_seen AS valid_from,
               CASE WHEN next_start IS NULL THEN NULL ELSE greatest(next_start, first_seen) END AS valid_to,
               last_seen
        FROM ordered ORDER BY person_id, valid_from, uprn
    """)


def _summary(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    as_of: date,
    model: Path,
    counts: dict[str, int],
    comparisons: int,
    ids: dict[str, int],
) -> LinkSummary:
    q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
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
    )


def _write_outputs(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    summary: LinkSummary,
    band: tuple[float, float],
    cluster_at: float,
) -> dict[str, str]:
    """linkage.json (counts only), review.csv (names: as protected as the extracts) and the
    manifest, into a .partial folder renamed into place."""
    tmp = folder.with_name(folder.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    rows = con.execute(
        f"""
        SELECT round(p.match_probability, 4), round(p.match_weight, 2), p.plausible,
               l.forename, l.surname, l.dob, l.nino, l.uprn, r.forename, r.surname, r.dob, r.nino, r.uprn,
               p.identity_id_l, p.identity_id_r
        FROM link_pairs p JOIN link_identities l ON l.identity_id = p.identity_id_l
        JOIN link_identities r ON r.identity_id = p.identity_id_r
        WHERE p.match_probability >= {band[0]} AND p.match_probability < {band[1]}
              OR (NOT p.plausible AND p.match_probability >= {cluster_at})
        ORDER BY p.match_probability DESC, p.identity_id_l, p.identity_id_r
        """
    ).fetchall()
    header = [
        "match_probability", "match_weight", "plausible",
        "forename_1", "surname_1", "dob_1", "nino_1", "uprn_1",
        "forename_2", "surname_2", "dob_2", "nino_2", "uprn_2",
        "identity_1", "identity_2", "decision",
    ]  # fmt: skip
    with open(tmp / "review.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow([spreadsheet_safe("" if v is None else str(v)) for v in r] + [""])
    summary.for_review = len(rows)
    doc = asdict(summary)
    (tmp / "linkage.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    manifest = {
        "run_id": summary.run_id,
        "stage": "link",
        "as_of": summary.as_of,
        "model": summary.model,
        "outputs": ["linkage.json", "review.csv"],
        "tables": [
            "link_addresses",
            "link_mentions",
            "link_identities",
            "link_pairs",
            "link_persons",
            "link_person_xref",
            "link_residence",
            "link_id_changes",
        ],
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return {k: str(folder / k) for k in ("linkage.json", "review.csv", "manifest.json")}
