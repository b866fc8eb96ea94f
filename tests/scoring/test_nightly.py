"""The nightly run on the 2k council: lists published atomically and deterministically,
explanations that add up and cite records that hold the values shown, and the faults a council
will meet (a killed run, a missing critical source, a failed non-critical one, an unreachable
tracking server, a second run, an objection, a contact)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from riskflag.config import load_config
from riskflag.errors import UserError
from riskflag.jobs.nightly import NightlyStop, nightly
from tests.conftest import SMALL_COUNCIL_GATES, council_config

TRAINED_AT = date(2026, 10, 29)
NIGHT1, NIGHT2 = date(2026, 10, 30), date(2026, 10, 31)


def _cfg(folder: Path, **nightly_changes):
    import yaml

    path = folder / "cfg" / "council.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["data_folder"] = str(folder / "extracts")
    raw["output_folder"] = str(folder / "runs")
    raw.setdefault("model", {})["max_as_of_dates"] = 18
    raw["model"]["gates"] = {k: list(v) for k, v in SMALL_COUNCIL_GATES.items()}
    raw["nightly"] = {**raw.get("nightly", {}), **nightly_changes}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(path)


@pytest.fixture(scope="module")
def base(council_2k: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A council validated, linked and with a champion model as of 29 October."""
    from riskflag.ingest.pipeline import validate_council
    from riskflag.jobs.training import train_and_register
    from riskflag.linkage.pipeline import link_council, train_council
    from riskflag.modeling.registry import promote

    folder = tmp_path_factory.mktemp("nightly-base")
    shutil.copytree(council_2k / "extracts", folder / "extracts")
    council_config(folder / "extracts", folder / "cfg")
    cfg = _cfg(folder)
    validate_council(cfg, TRAINED_AT)
    train_council(cfg, TRAINED_AT)
    link_council(cfg, TRAINED_AT, full=True)
    train_and_register(cfg, TRAINED_AT)
    assert promote(cfg, None, TRAINED_AT).promoted
    return folder


def _copy(base: Path, to: Path, **nightly_changes):
    """An independent copy of the council (extracts, warehouse, registry) to run nights on."""
    shutil.copytree(base, to, dirs_exist_ok=True)
    return _cfg(to, **nightly_changes)


@pytest.fixture(scope="module")
def night(base: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("night")
    cfg = _copy(base, folder)
    return cfg, nightly(cfg, NIGHT1)


def _cohort(res) -> pd.DataFrame:
    t = pq.read_table(res.folder / "cohort.parquet").to_pandas()
    for c in ("reasons", "protective", "support"):
        t[c] = t[c].map(lambda v: json.loads(v) if isinstance(v, str) else [])
    return t


def test_publishes_each_teams_list_with_capacity_and_a_manifest(night) -> None:
    cfg, res = night
    c = _cohort(res)
    flagged = c[c["team"].notna()]
    for team in cfg.teams:
        mine = flagged[flagged["team"] == team.name]
        assert 0 < len(mine) <= team.capacity
        assert (mine["probability"] >= cfg.nightly.probability_floor).all()
    # ranked by raw score; every flagged household outranks the eligible ones left out
    assert c["rank"].tolist() == list(range(1, len(c) + 1))
    assert c["raw_score"].is_monotonic_decreasing
    eligible = c[c["suppressed"].isna() & (c["probability"] >= cfg.nightly.probability_floor)]
    assert eligible["team"].notna().cumprod().sum() == eligible["team"].notna().sum()
    assert flagged["lead_name"].notna().mean() > 0.9 and flagged["address"].notna().all()
    assert c.loc[c["team"].isna(), "lead_name"].isna().all()  # names only for the flagged
    m = json.loads((res.folder / "manifest.json").read_text())
    assert m["model"]["source"] == "registry" and m["model"]["version"] == "1"
    assert m["counts"]["flagged"] == len(flagged) and m["counts"]["cohort"] == len(c)
    assert {d["source"] for d in m["deliveries_in_force"]} >= {"council_tax", "benefits", "rent_accounts"}
    assert all(len(d["sha256"]) == 64 for d in m["deliveries_in_force"])
    assert set(m["timings_s"]) >= {"validate", "link", "features", "score", "explain"}
    assert m["deliveries_tonight"] and all(len(d["sha256"]) == 64 for d in m["deliveries_tonight"])
    html = (res.lists[cfg.teams[0].name]).read_text()
    assert html.count("OFFICIAL-SENSITIVE") >= 2 and NIGHT1.isoformat() in html and "v1" in html
    raw = (res.folder / "cohort.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    status = json.loads((res.folder.parent / "status.json").read_text())
    assert status["outcome"] == "ok" and status["current_list"]["as_of"] == NIGHT1.isoformat()


def test_contributions_add_up_to_the_raw_score(night) -> None:
    from riskflag.features import build
    from riskflag.ingest.warehouse import open_warehouse
    from riskflag.scoring.champion import resolve

    cfg, res = night
    c = _cohort(res)
    flagged = c[c["team"].notna()].set_index("household_id")
    model = resolve(cfg).model
    with open_warehouse(cfg.warehouse) as con:
        feats = build(con, [NIGHT1]).frame(con).set_index("household_id").loc[flagged.index]
    contrib = model.contributions(feats)
    assert abs(contrib.sum(axis=1) - flagged["raw_score"].to_numpy()).max() < 1e-6
    assert abs(contrib[:, -1] - flagged["base_value"].to_numpy()).max() < 1e-9
    from riskflag.scoring.explain import load_reasons

    families = load_reasons(cfg.nightly.reasons_path(cfg))
    col = {f: i for i, f in enumerate(model.features)}
    shown = 0
    for i, (_, row) in enumerate(flagged.iterrows()):
        for r in row["reasons"] + row["protective"]:
            family_sum = sum(contrib[i, col[f]] for f in families[r["family"]].features)
            assert r["contribution"] == pytest.approx(family_sum, abs=1e-6)
            assert (r["contribution"] > 0) == (r in row["reasons"])
            shown += 1
    assert shown >= len(flagged)


def test_two_feature_builds_on_one_connection_do_not_collide(night) -> None:
    """Each build names its own relations: a later build (other dates, labels) leaves an earlier
    one's tables as they were, so a stage holding a FeatureSet reads what it was given."""
    from dataclasses import astuple

    from riskflag.features import build
    from riskflag.ingest.warehouse import open_warehouse

    cfg, _ = night
    with open_warehouse(cfg.warehouse) as con:
        first = build(con, [NIGHT1])
        before, linked = first.frame(con), con.execute(f"SELECT * FROM {first.linkage.linked_at}").df()
        second = build(con, [TRAINED_AT, NIGHT2], horizon_days=56)
        names = [
            {fs.table, fs.as_of, fs.members, fs.members_final, fs.person_dob, fs.records, fs.snapshots,
             fs.cohort, fs.cohort_excluded, *astuple(fs.linkage), *(r for _, r in fs.versions)}
            for fs in (first, second)
        ]  # fmt: skip
        assert len(names[0]) >= 13 and not names[0] & names[1]
        pd.testing.assert_frame_equal(first.frame(con), before)
        pd.testing.assert_frame_equal(con.execute(f"SELECT * FROM {first.linkage.linked_at}").df(), linked)
        assert set(before["as_of"].dt.date) == {NIGHT1} and "label" not in before
        assert set(second.frame(con)["as_of"].dt.date) == {TRAINED_AT, NIGHT2}


def _latest(
    con, source: str, key: str, refs: list[str], as_of: date, when: str | None = None
) -> pd.DataFrame:
    from riskflag.ingest.warehouse import known

    where = f" AND {when}" if when else ""
    return con.execute(
        f"SELECT * FROM history_{source} WHERE CAST({key} AS VARCHAR) IN (SELECT unnest(?::VARCHAR[])) "
        f"AND {known(source)} <= DATE '{as_of}'{where} "
        f"QUALIFY row_number() OVER (PARTITION BY {key}{', ' + when.split(' ')[0] if when else ''} "
        "ORDER BY _delivered_on DESC, _file DESC, _row DESC) = 1",
        [refs],
    ).df()


def test_every_evidence_value_is_what_its_cited_records_hold(night) -> None:
    """Recomputed here from the history tables by record reference, independently of the
    evidence queries; each family with source records is checked."""
    cfg, res = night
    c = _cohort(res)
    items = [(hh, it) for hh, rs, ps in zip(c["household_id"], c["reasons"], c["protective"], strict=True)
             for it in rs + ps]  # fmt: skip
    assert len(items) >= 80
    from riskflag.ingest.warehouse import open_warehouse

    with open_warehouse(cfg.warehouse) as con:
        checked = _check_items(con, items)
    assert len(checked) >= 3, checked
    # no reason without a record showing a concern
    for it in (it for _, it in items if it["family"] == "council_tax" and it["contribution"] > 0):
        assert it["evidence"]["arrears"] > 0 or it["evidence"]["stage"] != "none"


def test_housing_advice_evidence_cites_the_advice_cases(night) -> None:
    """Advice-only approaches are rare in the default world, so the list may show none: the
    evidence query is checked directly, for every household with advice in the last six months,
    against the cited records, and earlier approaches are checked to cite only duty cases."""
    from riskflag.features import build
    from riskflag.ingest.warehouse import open_warehouse
    from riskflag.scoring import evidence

    cfg, _ = night
    with open_warehouse(cfg.warehouse) as con:
        fs = build(con, [NIGHT1])
        households = con.execute(f"SELECT as_of, household_id, uprn FROM {fs.table}").df()
        got = evidence.gather(con, evidence.flag_households(con, fs, households))
        advice = got["housing_advice"]
        assert len(advice) >= 3, "the 2k council should have some advice-only approaches"
        for _hh, e in advice.iterrows():
            rows = _latest(con, "homelessness_cases", "case_ref", list(e["records"]), NIGHT1)
            assert len(rows) == e["advices"] and (rows["initial_duty"] == "none").all()
            assert (rows["approach_date"] > pd.Timestamp(NIGHT1) - pd.Timedelta(days=182)).all()
            latest = (
                rows.assign(ref=rows["case_ref"].astype(str)).sort_values(["approach_date", "ref"]).iloc[-1]
            )
            assert latest["approach_date"] == e["advice_date"] and latest["reason"] == e["advice_reason"]
        prior = got["prior_homelessness"]
        assert len(prior) >= 3
        for _hh, e in prior.iterrows():
            rows = _latest(con, "homelessness_cases", "case_ref", list(e["records"]), NIGHT1)
            assert len(rows) == e["approaches"] and (rows["initial_duty"] != "none").all()


def _check_items(con, items: list) -> dict[str, int]:
    checked: dict[str, int] = {}
    for _hh, it in items:
        e, refs, fam = it["evidence"], it["records"], it["family"]
        assert it["known"] <= NIGHT1.isoformat()
        if fam == "council_tax":
            rows = _latest(
                con, "council_tax", "account_ref", refs, NIGHT1, f"balance_date = DATE '{e['record_date']}'"
            )
            assert rows["arrears"].sum() == pytest.approx(e["arrears"])
            if it["contribution"] > 0:
                assert f"£{e['arrears']:,.0f}" in it["text"]
        elif fam == "rent":
            rows = _latest(con, "rent_accounts", "tenancy_ref", refs, NIGHT1,
                           f"snapshot_date = DATE '{e['record_date']}'")  # fmt: skip
            assert rows["arrears"].sum() == pytest.approx(e["arrears"])
        elif fam == "benefits" and e.get("event_type"):
            rows = _latest(
                con, "benefits", "claim_ref", refs, NIGHT1, f"event_date = DATE '{e['event_date']}'"
            )
            assert e["event_type"] in set(rows["event_type"])
        elif fam == "prior_homelessness":
            rows = _latest(con, "homelessness_cases", "case_ref", refs, NIGHT1)
            assert (
                len(rows) == e["approaches"] and str(rows["approach_date"].max().date()) == e["approach_date"]
            )
            assert (rows["initial_duty"] != "none").all()
        elif fam == "housing_advice":
            rows = _latest(con, "homelessness_cases", "case_ref", refs, NIGHT1)
            assert len(rows) == int(e["advices"]) and (rows["initial_duty"] == "none").all()
            rows = rows.assign(ref=rows["case_ref"].astype(str))
            latest = rows.sort_values(["approach_date", "ref"]).iloc[-1]
            assert str(latest["approach_date"].date()) == e["advice_date"]
            assert latest["reason"] == e["advice_reason"]
        elif fam == "childrens_services":
            rows = _latest(con, "childrens_services", "referral_ref", refs, NIGHT1)
            assert str(rows["referral_date"].max().date()) == e["referral_date"]
            assert rows["category"].iloc[0] == e["category"]
        elif fam == "adult_social_care":
            rows = _latest(con, "adult_social_care", "person_ref", refs, NIGHT1)
            assert str(rows["start_date"].min().date()) == e["start_date"]
        elif fam == "asb":
            rows = _latest(con, "asb_incidents", "incident_ref", refs, NIGHT1)
            assert len(rows) == e["incidents"]
        elif fam == "bereavement":
            rows = _latest(con, "deaths", "notification_ref", refs, NIGHT1)
            assert str(rows["date_of_death"].max().date()) == e["death_date"]
        elif fam == "area":
            rows = con.execute(
                "SELECT imd_decile FROM history_area_deprivation WHERE lsoa = ?", refs
            ).fetchall()
            assert rows[-1][0] == e["decile"] and f"decile {e['decile']}" in it["text"]
        else:
            continue
        checked[fam] = checked.get(fam, 0) + 1
    return checked


def test_same_inputs_config_and_model_give_identical_files(night) -> None:
    cfg, res = night
    before = {p.name: p.read_bytes() for p in res.folder.iterdir() if p.name != "manifest.json"}
    again = nightly(cfg, NIGHT1)
    after = {p.name: p.read_bytes() for p in again.folder.iterdir() if p.name != "manifest.json"}
    assert before.keys() == after.keys() and len(before) >= 4
    for name in before:
        assert before[name] == after[name], name


def test_a_second_concurrent_run_is_refused(night) -> None:
    from riskflag.core.lock import Locked, exclusive

    cfg, _ = night
    with (
        exclusive(cfg.output_folder / cfg.nightly.lock_file),
        pytest.raises(Locked, match="another nightly run"),
    ):
        nightly(cfg, NIGHT1)


def _run_cli(cfg, as_of: date, **kw) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "riskflag",
            "nightly",
            "--config",
            str(cfg.path),
            "--as-of",
            as_of.isoformat(),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        **kw,
    )


def test_a_run_killed_part_way_leaves_no_partial_output(base: Path, tmp_path: Path) -> None:
    cfg = _copy(base, tmp_path)
    first = nightly(cfg, NIGHT1)
    yesterday = {p.name: p.read_bytes() for p in first.folder.iterdir()}
    root = first.folder.parent
    killed_in_publish = False
    proc = _run_cli(cfg, NIGHT2)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if any(p.name.startswith(".partial-") for p in root.iterdir()):
            killed_in_publish = True
            break
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    tonight = root / NIGHT2.isoformat()
    if killed_in_publish:
        assert not tonight.exists()
    else:  # the run finished before the kill landed: its folder is whole
        assert (tonight / "manifest.json").is_file()
    assert {p.name: p.read_bytes() for p in first.folder.iterdir()} == yesterday
    res = nightly(cfg, NIGHT2)
    assert (res.folder / "manifest.json").is_file() and not any(p.name.startswith(".") and p.is_dir()
                                                                for p in root.iterdir())  # fmt: skip
    assert json.loads((root / "status.json").read_text())["outcome"] == "ok"
    assert killed_in_publish, "the kill did not land during publishing (the run was too quick to catch)"


def test_a_missing_critical_source_stops_and_keeps_yesterdays_list(base: Path, tmp_path: Path) -> None:
    cfg = _copy(base, tmp_path)
    first = nightly(cfg, NIGHT1)
    yesterday = {p.name: p.read_bytes() for p in first.folder.iterdir()}
    for f in (tmp_path / "extracts" / "council_tax").glob("council_tax_2026-1*.csv"):
        f.unlink()  # the October snapshot never came; September's is over its 45-day limit by then
    late = date(2026, 11, 16)
    proc = _run_cli(cfg, late)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, err.decode()
    assert "council_tax" in err.decode() and "Traceback" not in err.decode()
    status = json.loads((first.folder.parent / "status.json").read_text())
    assert status["outcome"] == "failed" and "council_tax" in status["message"]
    assert status["current_list"]["as_of"] == NIGHT1.isoformat()
    html = (first.folder.parent / "status.html").read_text()
    assert f"The latest list is from <strong>{NIGHT1.isoformat()}</strong>" in html
    assert not (first.folder.parent / late.isoformat()).exists()
    assert {p.name: p.read_bytes() for p in first.folder.iterdir()} == yesterday


def test_a_failed_non_critical_source_gives_a_degraded_run(base: Path, tmp_path: Path) -> None:
    cfg = _copy(base, tmp_path)
    for f in (tmp_path / "extracts" / "asb_incidents").glob("*2026-10-30.csv"):
        f.write_text("INCIDENT_REF|SOMETHING_ELSE\nX1|y\n", encoding="utf-8")
    res = nightly(cfg, NIGHT1)
    assert res.outcome == "degraded"
    m = json.loads((res.folder / "manifest.json").read_text())
    assert m["degraded_sources"] == ["asb_incidents"]
    for path in res.lists.values():
        assert "Degraded run: asb_incidents left out tonight" in path.read_text()


def test_an_unreachable_tracking_server_uses_the_cached_champion(base: Path, tmp_path: Path) -> None:
    import yaml

    cfg = _copy(base, tmp_path)
    nightly(cfg, NIGHT1)  # resolves the champion and caches it
    raw = yaml.safe_load(cfg.path.read_text())
    raw["model"]["tracking_uri"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    cfg.path.write_text(yaml.safe_dump(raw))
    cfg = load_config(cfg.path)
    t0 = time.time()
    res = nightly(cfg, NIGHT2)
    assert time.time() - t0 < 120
    m = json.loads((res.folder / "manifest.json").read_text())
    assert m["model"]["source"] == "cache" and m["model"]["version"] == "1"
    assert "locally cached champion" in next(iter(res.lists.values())).read_text()
    shutil.rmtree(cfg.output_folder / "models" / "champion-cache")
    with pytest.raises(UserError, match="no cached champion"):
        nightly(cfg, NIGHT2)
    status = json.loads((cfg.output_folder / "nightly" / "status.json").read_text())
    assert status["outcome"] == "failed" and status["current_list"]["as_of"] == NIGHT2.isoformat()


def test_an_objection_or_a_recent_contact_removes_a_household_at_the_next_run(
    base: Path, tmp_path: Path
) -> None:
    cfg = _copy(base, tmp_path)
    first = _cohort(nightly(cfg, NIGHT1))
    flagged = first.loc[first["team"].notna(), "household_id"].tolist()
    objected, contacted = flagged[0], flagged[1]
    name = first.loc[first["household_id"] == objected, "lead_name"].iloc[0]
    (tmp_path / "extracts" / "objections" / "objections_extra_2026-10-31.csv").write_text(
        '"OBJECTION_ID","FULL_NAME","DOB","ADDRESS","POSTCODE","RISKFLAG_HH_REF","DATE_RECEIVED","SCOPE",'
        '"STATUS","DECISION_DATE"\n'
        f'"OBJ999999","{name}","","","","{objected}","2026-10-20","profiling for prevention",'
        '"UPHELD","2026-10-30"\n',
        encoding="utf-8",
    )
    (tmp_path / "extracts" / "contacts" / "contacts_2026-10-31.csv").write_text(
        f"HH_REF,CONTACT_DATE,OUTCOME,SUPPORT_OFFERED\n{contacted},2026-10-30,spoke,debt advice\n",
        encoding="utf-8",
    )
    res = nightly(cfg, NIGHT2)
    second = _cohort(res)
    assert objected not in set(second["household_id"])
    row = second[second["household_id"] == contacted].iloc[0]
    assert row["suppressed"] == "contacted recently" and pd.isna(row["team"])
    assert res.counts["excluded_from_cohort"]["upheld objection"] >= 1
    assert res.counts["suppressed"]["contacted recently"] == 1
    kept = second[second["team"].notna() & second["household_id"].isin(flagged)]
    assert (kept["flag"] == "continuing").all() and len(kept) > 0
    assert set(second.loc[second["team"].notna() & ~second["household_id"].isin(flagged), "flag"]) <= {"new"}


def test_drift_above_the_stop_threshold_stops_the_run(base: Path, tmp_path: Path) -> None:
    cfg = _copy(base, tmp_path, drift_stop=1e-9, drift_warn=1e-9)
    with pytest.raises(NightlyStop, match="population stability index"):
        nightly(cfg, NIGHT1)


def test_subject_access_exports_scores_reasons_and_records(night, tmp_path: Path) -> None:
    from riskflag.scoring.subject_access import export

    cfg, res = night
    c = _cohort(res)
    hh = c.loc[c["team"].notna()].iloc[0]
    path, _ = export(cfg, household=hh["household_id"], out=tmp_path / "sar.json")
    doc = json.loads(path.read_text())
    mine = [s for s in doc["scores_flags_and_reasons"] if s["as_of"] == NIGHT1.isoformat()]
    assert mine and mine[0]["reasons"] == hh["reasons"] and mine[0]["model_version"].endswith("v1")
    assert "council_tax" in doc["source_records"] and doc["household_membership"]
    cited = {r for it in hh["reasons"] for r in it["records"] if it["family"] == "council_tax"}
    held = {str(r["account_ref"]) for r in doc["source_records"]["council_tax"]}
    assert cited <= held
    surname = hh["lead_name"].split(",")[0].strip().title()
    first = hh["lead_name"].split(",")[1].strip().split()[0].title() if "," in hh["lead_name"] else ""
    export(cfg, person=f"{first} {surname}", out=tmp_path / "sar2.json")
    by_name = json.loads((tmp_path / "sar2.json").read_text())
    assert hh["household_id"] in by_name["households"] and by_name["people"]
    # only the dates the person lived in each household
    lived = pd.DataFrame(by_name["household_membership"])
    lived = lived[lived["person_id"].isin(by_name["people"])]
    for s in by_name["scores_flags_and_reasons"]:
        day = pd.Timestamp(s["as_of"])
        mine = lived[lived["household_id"] == s["household_id"]]
        starts, ends = pd.to_datetime(mine["valid_from"]), pd.to_datetime(mine["valid_to"])
        assert ((starts <= day) & (ends.isna() | (ends > day))).any()
    assert any(s["household_id"] == hh["household_id"] for s in by_name["scores_flags_and_reasons"])
    with pytest.raises(UserError, match="no household"):
        export(cfg, household="H-not-a-household")


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="BROWSER TESTS SKIPPED: Debian's chromium and chromium-driver are not installed "
    "(make test installs them when run as root)",
)
def test_the_list_renders_sorts_and_prints_in_a_real_browser(night) -> None:
    import base64

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    os.environ["SE_AVOID_STATS"] = "true"  # Selenium sends no usage statistics
    cfg, res = night
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        path = next(iter(res.lists.values()))
        driver.get(path.resolve().as_uri())
        rows = driver.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert len(rows) == int(_cohort(res)["team"].eq(cfg.teams[0].name).sum())
        assert driver.find_element(By.TAG_NAME, "h1").text.endswith(NIGHT1.isoformat())

        def column(i: int) -> list[str]:
            return [r.find_elements(By.TAG_NAME, "td")[i].get_attribute("data-v") for r in
                    driver.find_elements(By.CSS_SELECTOR, "tbody tr")]  # fmt: skip

        ranks = [int(v) for v in column(0)]
        assert ranks == sorted(ranks)
        risk = driver.find_elements(By.CSS_SELECTOR, "th")[2]
        risk.click()
        up = [float(v) for v in column(2)]
        assert up == sorted(up) and risk.get_attribute("aria-sort") == "ascending"
        risk.click()
        down = [float(v) for v in column(2)]
        assert down == sorted(down, reverse=True) and up != down
        driver.find_elements(By.CSS_SELECTOR, "th")[0].click()
        assert [int(v) for v in column(0)] == ranks
        pdf = base64.b64decode(driver.print_page())
        assert pdf.startswith(b"%PDF") and len(pdf) > 2000
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == []
    finally:
        driver.quit()


def test_the_scoring_run_in_mlflow_holds_aggregates_only(night) -> None:
    from riskflag.modeling import registry

    cfg, res = night
    mlflow = registry.client(cfg)
    runs = mlflow.search_runs(
        experiment_ids=[registry.experiment_id(cfg)],
        filter_string="tags.kind = 'nightly'",
        output_format="list",
    )
    assert runs and runs[0].data.metrics["flagged"] == res.counts["flagged"]
    assert "psi.score" in runs[0].data.metrics
    c = _cohort(res)
    flagged = c[c["team"].notna()]
    needles = [*flagged["household_id"], *flagged["lead_name"].dropna(), *flagged["address"].dropna(),
               *flagged["uprn"].astype(str)]  # fmt: skip
    store = Path(cfg.tracking_uri.removeprefix("sqlite:///"))
    blobs = [store.read_bytes(), *(p.read_bytes() for p in store.parent.rglob("*") if p.is_file())]
    for needle in needles:
        n = needle.encode()
        assert not any(n in b for b in blobs), "personal data or an id in the MLflow store"
