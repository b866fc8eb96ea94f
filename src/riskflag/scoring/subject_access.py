"""Subject access and appeals: everything riskflag has produced about a person or a household,
and the source records behind it, in one file the council can review before disclosing.

A person is found by name (as any source recorded it, nicknames and spelling as linked) and,
optionally, date of birth; their households are every household the linkage placed them in.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from riskflag.config import CouncilConfig
from riskflag.core import files
from riskflag.errors import UserError
from riskflag.ingest import open_warehouse, table_exists
from riskflag.linkage import SOURCES
from riskflag.scoring.publish import root


def _people(con: Any, person: str, dob: str | None) -> list[str]:
    words = sorted(w for w in person.lower().replace(",", " ").split() if w)
    if not words:
        raise UserError("--person: give a name")
    params: list[Any] = list(words)
    match = " AND ".join("list_contains(ws, ?)" for _ in words)
    if dob:
        try:
            params.append(datetime.strptime(dob, "%Y-%m-%d").date())
        except ValueError:
            raise UserError(f"--dob: expected YYYY-MM-DD; got {dob!r}") from None
        match += " AND TRY_CAST(i.dob AS DATE) = ?"
    rows = con.execute(
        f"""
        SELECT DISTINCT p.person_id FROM (
            SELECT *, string_split(lower(coalesce(forename, '') || ' ' || coalesce(forename_canon, '') || ' '
                                         || coalesce(surname, '')), ' ') AS ws FROM link_identities) i
        JOIN link_persons p USING (identity_id) WHERE {match} ORDER BY 1
        """,
        params,
    ).fetchall()
    return [r[0] for r in rows]


def _records(con: Any, persons: list[str], households: list[str]) -> pd.DataFrame:
    """The (source, record) pairs naming the people, or anyone who lived in the households."""
    con.execute("CREATE OR REPLACE TEMP TABLE _sar_p AS SELECT unnest(?::VARCHAR[]) AS person_id", [persons])
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _sar_h AS SELECT unnest(?::VARCHAR[]) AS household_id", [households]
    )
    return con.execute("""
        SELECT DISTINCT x.source, x.record, x.person_id FROM link_person_xref x
        WHERE x.person_id IN (SELECT person_id FROM _sar_p)
           OR x.person_id IN (SELECT person_id FROM link_household_members
                              WHERE household_id IN (SELECT household_id FROM _sar_h))
        ORDER BY 1, 2, 3
    """).df()


def _rows(con: Any, source: str, records: list[str]) -> list[dict]:
    if not table_exists(con, f"history_{source}") or source not in SOURCES:
        return []
    key = SOURCES[source].record
    df = con.execute(
        f"SELECT * FROM history_{source} WHERE CAST({key} AS VARCHAR) IN "
        "(SELECT unnest(?::VARCHAR[])) ORDER BY _delivered_on, _file, _row",
        [records],
    ).df()
    return json.loads(df.to_json(orient="records", date_format="iso"))


def _scores(base: Path, households: set[str], when: pd.DataFrame | None = None) -> list[dict]:
    """Every published row about the households; for a person (when: their memberships), only
    the dates they lived there: a household's score before they arrived is not about them."""
    out = []
    for run in sorted(p for p in base.glob("*/cohort.parquet") if not p.parent.name.startswith(".")):
        t = pq.read_table(run).to_pandas()
        mine = t[t["household_id"].isin(households)]
        for r in json.loads(mine.to_json(orient="records")):
            if when is not None and not _member(when, r["household_id"], r["as_of"]):
                continue
            for c in ("reasons", "protective", "support"):
                r[c] = json.loads(r[c]) if r.get(c) else []
            out.append(r)
    return out


def _member(when: pd.DataFrame, household: str, as_of: str) -> bool:
    day = pd.Timestamp(as_of)
    w = when[when["household_id"] == household]
    return bool(((w["valid_from"] <= day) & (w["valid_to"].isna() | (w["valid_to"] > day))).any())


def export(
    cfg: CouncilConfig,
    person: str | None = None,
    dob: str | None = None,
    household: str | None = None,
    out: Path | None = None,
    now: datetime | None = None,
) -> tuple[Path, str]:
    with open_warehouse(cfg.warehouse) as con:
        if not table_exists(con, "link_persons"):
            raise UserError(f"{cfg.warehouse}: nothing linked yet; run `riskflag link run` first")
        persons = _people(con, person, dob) if person else []
        if household:
            hh = [household]
            if not con.execute(
                "SELECT 1 FROM link_households WHERE household_id = ?", [household]
            ).fetchall():
                raise UserError(f"--household: no household {household!r} in the linkage")
        else:
            if not persons:
                raise UserError(
                    f"--person: nobody named {person!r}{' born ' + dob if dob else ''} in the linkage"
                )
            hh = [
                r[0]
                for r in con.execute(
                    "SELECT DISTINCT household_id FROM link_household_members WHERE person_id IN "
                    "(SELECT unnest(?::VARCHAR[])) ORDER BY 1",
                    [persons],
                ).fetchall()
            ]
        members = con.execute(
            "SELECT household_id, person_id, uprn, valid_from, valid_to FROM link_household_members "
            "WHERE household_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1, 4, 2",
            [hh],
        ).df()
        recs = _records(con, persons, hh)
        sources = {s: _rows(con, s, sorted(set(g["record"]))) for s, g in recs.groupby("source", sort=True)}
    when = None
    if person:
        when = members[members["person_id"].isin(persons)].assign(
            valid_from=lambda d: pd.to_datetime(d["valid_from"]),
            valid_to=lambda d: pd.to_datetime(d["valid_to"]),
        )
    scores = _scores(root(cfg), set(hh), when)
    stamp = (now or datetime.now()).strftime("%Y%m%dT%H%M%S")
    path = out or cfg.output_folder / "subject-access" / f"subject-access-{stamp}.json"
    doc = {
        "marking": "OFFICIAL-SENSITIVE",
        "request": {"person": person, "dob": dob, "household": household},
        "people": persons,
        "households": hh,
        "household_membership": json.loads(members.to_json(orient="records", date_format="iso")),
        "scores_flags_and_reasons": scores,
        "records_linked": json.loads(recs.to_json(orient="records")),
        "source_records": sources,
    }
    files.write_text(path, json.dumps(doc, indent=2, ensure_ascii=False))
    models = sorted({s["model_version"] for s in scores})
    summary = (
        f"{len(persons)} people, {len(hh)} households; {len(scores)} scores from nightly runs "
        f"({sum(1 for s in scores if s.get('team'))} flagged) by {', '.join(models) or 'no model'}; "
        f"{len(recs)} linked records from {len(sources)} sources."
    )
    return path, summary
