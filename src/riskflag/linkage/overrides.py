"""An analyst's decisions on pairs of identities, which every later link run honours.

Clerical review works on `review.csv` (the uncertain pairs of a run, with names): the analyst
writes a decision in its last column, and `riskflag link review --apply FILE` records each one in
the overrides file as must_link or cannot_link, with who decided and when. The latest decision
on a pair wins. Identities are ids of distinct identifying values (ids never change for the same
values), so a decision keeps its meaning across runs; one whose identity no longer exists is
kept in the file and ignored.

The overrides file names no one (ids only), but it is kept beside the warehouse, as protected.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from riskflag.config import CouncilConfig
from riskflag.core import files
from riskflag.errors import UserError

COLUMNS = ["identity_1", "identity_2", "decision", "decided_on", "reviewer", "note"]
SAME = {"same", "match", "yes", "y", "must_link", "link"}
DIFFERENT = {"different", "no match", "non-match", "no", "n", "cannot_link", "not a match"}


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str") for c in COLUMNS})


def read_overrides(path: Path) -> pd.DataFrame:
    """The decisions in force: one row per pair (the latest decision), identity_1 < identity_2."""
    if not path.is_file():
        return _empty()
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if rows and set(COLUMNS) - set(rows[0]):
        raise UserError(f"{path}: expected the columns {', '.join(COLUMNS)}")
    for i, r in enumerate(rows, start=2):
        if r["decision"] not in ("must_link", "cannot_link"):
            raise UserError(f"{path}: line {i}: decision {r['decision']!r} is not must_link or cannot_link")
        if not r["identity_1"] or not r["identity_2"] or r["identity_1"] == r["identity_2"]:
            raise UserError(f"{path}: line {i}: needs two different identities")
    if not rows:
        return _empty()
    df = pd.DataFrame(rows)[COLUMNS]
    a = df[["identity_1", "identity_2"]].min(axis=1)
    b = df[["identity_1", "identity_2"]].max(axis=1)
    df["identity_1"], df["identity_2"] = a, b
    return df.drop_duplicates(["identity_1", "identity_2"], keep="last").reset_index(drop=True)


@dataclass
class Applied:
    must_link: int
    cannot_link: int
    pending: int
    overrides: int  # decisions in force afterwards


def apply_review(reviewed: Path, overrides: Path, reviewer: str, today: date) -> Applied:
    """Record the decisions written in a reviewed review.csv; rows left blank stay pending."""
    if not reviewed.is_file():
        raise UserError(f"{reviewed}: no such file")
    with open(reviewed, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    need = {"identity_1", "identity_2", "decision"}
    if not rows or need - set(rows[0]):
        raise UserError(f"{reviewed}: not a review file (it needs the columns {', '.join(sorted(need))})")
    decided, pending = [], 0
    for i, r in enumerate(rows, start=2):
        word = (r["decision"] or "").strip().lower()
        if not word:
            pending += 1
            continue
        if word in SAME:
            decision = "must_link"
        elif word in DIFFERENT:
            decision = "cannot_link"
        else:
            raise UserError(
                f"{reviewed}: line {i}: decision {r['decision']!r} is not understood; write 'same' or "
                "'different' (or leave it blank to decide later)"
            )
        decided.append(
            [r["identity_1"], r["identity_2"], decision, today.isoformat(), reviewer, r.get("note", "")]
        )
    existing = []
    if overrides.is_file():
        read_overrides(overrides)  # refuses a broken file before anything is added to it
        with open(overrides, newline="", encoding="utf-8") as fh:
            existing = [[r[c] for c in COLUMNS] for r in csv.DictReader(fh)]
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    w.writerows(existing + decided)
    files.write_text(overrides, buf.getvalue())
    return Applied(
        must_link=sum(d[2] == "must_link" for d in decided),
        cannot_link=sum(d[2] == "cannot_link" for d in decided),
        pending=pending,
        overrides=len(read_overrides(overrides)),
    )


@dataclass(frozen=True)
class Pending:
    review: Path
    pairs: int
    in_force: int


def pending_review(cfg: CouncilConfig) -> Pending:
    """The newest link run's review file, how many pairs it asks about, and how many decisions
    are in force."""
    found = sorted(cfg.output_folder.glob("*-link-*/review.csv"))
    if not found:
        raise UserError(f"{cfg.output_folder}: no review file yet; run `riskflag link run` first")
    with open(found[-1], encoding="utf-8") as fh:
        pairs = sum(1 for _ in fh) - 1
    return Pending(found[-1], pairs, len(read_overrides(cfg.linkage.overrides_path(cfg))))
