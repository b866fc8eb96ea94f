"""The synthetic council's extracts, fault ledger and truth (2k households)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskflag.synth.extracts import SOURCES
from riskflag.synth.faults import FAULT_BITS
from riskflag.synth.names import NICKNAMES


def _digest(root: Path) -> dict[str, str]:
    """Every file of the council; synth_timings.json holds wall-clock durations, not data."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "synth_timings.json"
    }


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    from riskflag.synth.run import synthesise

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    synthesise(a, households=600, months=30, seed=3)
    synthesise(b, households=600, months=30, seed=3)
    synthesise(c, households=600, months=30, seed=4)
    da, db, dc = _digest(a), _digest(b), _digest(c)
    assert da == db
    assert len(da) > 50
    differ = [k for k in da if k.startswith("extracts/council_tax") and da[k] != dc.get(k)]
    assert differ, "another seed must give another council"


def _read(root: Path, rel: str) -> pd.DataFrame:
    source = rel.split("/")[0]
    spec = SOURCES.get(source, {"encoding": "utf-8", "delimiter": ","})
    return pd.read_csv(
        root / "extracts" / rel,
        sep=spec["delimiter"],
        encoding=spec["encoding"],
        dtype=str,
        keep_default_na=False,
    )


@pytest.fixture(scope="module")
def ledger(council_2k: Path) -> pd.DataFrame:
    return pd.read_parquet(council_2k / "truth" / "fault_ledger.parquet")


@pytest.fixture(scope="module")
def keys(council_2k: Path) -> pd.DataFrame:
    return pd.read_parquet(council_2k / "truth" / "record_keys.parquet")


@pytest.fixture(scope="module")
def persons(council_2k: Path) -> pd.DataFrame:
    return pd.read_parquet(council_2k / "truth" / "persons.parquet").set_index("person_id")


def test_every_source_is_delivered_over_time(council_2k: Path) -> None:
    ex = council_2k / "extracts"
    for source in SOURCES:
        assert (ex / source).is_dir(), source
    llpg = sorted((ex / "llpg").glob("*.csv"))
    assert len(llpg) == 13 and len({p.read_bytes() for p in llpg}) == 1, "a monthly copy from go-live"
    for source in ("council_tax", "benefits", "homelessness_cases"):
        files = sorted(p.name for p in (ex / source).glob("*.csv"))
        assert any("history_to" in f for f in files), source
        assert len(files) >= 12, (source, files)
    daily = [p.name for p in (ex / "benefits").glob("benefits_2026-10-*.csv")]
    assert len(daily) >= 15, "the final month is delivered night by night"
    contacts = _read(council_2k, "contacts/" + next((ex / "contacts").glob("*.csv")).name)
    assert (
        list(contacts.columns) == ["HH_REF", "CONTACT_DATE", "OUTCOME", "SUPPORT_OFFERED"] and contacts.empty
    )


def test_encodings_and_delimiters_are_the_systems_own(council_2k: Path) -> None:
    ex = council_2k / "extracts"
    edu = next((ex / "education").glob("*.csv")).read_bytes()
    assert edu.startswith(b"\xef\xbb\xbf")
    asb = next((ex / "asb_incidents").glob("*history*.csv")).read_text()
    assert asb.splitlines()[0].count("|") == 6
    benefits = next((ex / "benefits").glob("*history*.csv")).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        # Windows-1252: curly apostrophes and pound signs are single bytes
        (benefits + next((ex / "council_tax").glob("*history*.csv")).read_bytes()).decode("utf-8")


def test_ledger_and_keys_cover_every_row(council_2k: Path, ledger: pd.DataFrame, keys: pd.DataFrame) -> None:
    counts = ledger.groupby("file").size()
    key_counts = keys.groupby("file").size()
    for rel, n in counts.items():
        source = rel.split("/")[0]
        spec = SOURCES[source]
        with open(council_2k / "extracts" / rel, encoding=spec["encoding"], newline="") as fh:
            rows = sum(1 for _ in csv.reader(fh, delimiter=spec["delimiter"])) - 1
        assert rows == n == key_counts[rel], rel
    person_sources = keys[keys["source"] != "asb_incidents"]
    assert (person_sources["person_id"] >= 0).all()
    assert (keys["true_uprn"] > 0).all()
    delivered = {
        str(p.relative_to(council_2k / "extracts")) for p in (council_2k / "extracts").rglob("*.csv")
    }
    reference = {p for p in delivered if p.split("/")[0] in ("llpg", "area_deprivation", "contacts")}
    assert set(counts.index) <= delivered - reference
    quiet = delivered - reference - set(counts.index)
    assert quiet, "scheduled deliveries with nothing new are sent header only"
    for rel in quiet:
        assert len((council_2k / "extracts" / rel).read_bytes().splitlines()) == 1, rel


def _rate(ledger: pd.DataFrame, bit: str, sources: tuple[str, ...] | None = None) -> tuple[float, int]:
    x = ledger if sources is None else ledger[ledger["file"].str.split("/").str[0].isin(sources)]
    flagged = (x["faults"] & FAULT_BITS[bit]) > 0
    return float(flagged.mean()), len(x)


# each name on a record draws its own faults; these sources carry one person's name per row
PEOPLE = ("homelessness_cases", "adult_social_care", "education", "deaths", "objections")
EVENTS = ("benefits", "homelessness_cases", "childrens_services", "adult_social_care", "asb_incidents")


@pytest.mark.parametrize(
    ("bit", "sources", "rate", "tol"),
    [
        ("name_typo", PEOPLE, 0.04, 0.012),
        ("name_swap", PEOPLE, 0.01, 0.005),
        (
            "dob_missing",
            ("benefits", "homelessness_cases", "adult_social_care", "education", "deaths"),
            0.05,
            0.012,
        ),
        ("postcode_format", EVENTS, 0.25, 0.02),
        ("address_variant", EVENTS, 0.40, 0.02),
        ("duplicate_row", None, 0.005, 0.002),
        ("late_known", EVENTS, 0.08, 0.012),
        (
            "impossible_value",
            ("council_tax", "rent_accounts", "benefits", "homelessness_cases"),
            0.002,
            0.0012,
        ),
    ],
)
def test_fault_rates_match_the_defaults(
    ledger: pd.DataFrame, bit: str, sources: tuple | None, rate: float, tol: float
) -> None:
    observed, n = _rate(ledger, bit, sources)
    assert n > 2000
    assert abs(observed - rate) < tol, (bit, observed, n)


def test_council_tax_lacks_most_dates_of_birth(council_2k: Path) -> None:
    ct = _read(
        council_2k,
        next(p.name for p in (council_2k / "extracts" / "council_tax").glob("*history*")).join(
            ["council_tax/", ""]
        ),
    )
    first_rows = ct.drop_duplicates("ACCOUNT_REF")
    missing = (first_rows["LIABLE_DOB_1"] == "").mean()
    assert len(first_rows) > 1500
    assert 0.55 < missing < 0.65, missing


@pytest.mark.parametrize(
    ("source", "second_name"),
    [
        ("council_tax", ["LIABLE_NAME_1", "LIABLE_NAME_2"]),
        ("rent_accounts", ["TENANT2_FORENAME"]),
    ],
)
def test_account_keys_name_the_people_on_the_account(
    council_2k: Path, keys: pd.DataFrame, persons: pd.DataFrame, source: str, second_name: list[str]
) -> None:
    """An account row's truth is the people it names (typed when the account opened), not
    whoever lives there now: linkage is judged on who the record says."""
    rel = sorted(keys.loc[keys["source"] == source, "file"].unique())[-1]
    df = _read(council_2k, rel)
    k = keys[keys["file"] == rel].sort_values("row")
    two = (k["person2_id"] >= 0).to_numpy()
    assert two.sum() > 20
    second = persons.loc[k["person2_id"].to_numpy()[two], "first_name"].str.upper().to_numpy()
    shown = df[second_name].fillna("").astype(str).agg(" ".join, axis=1).str.upper().to_numpy()[two]
    named = np.asarray([f in s for f, s in zip(second, shown, strict=True)])
    assert named.mean() > 0.9, named.mean()  # the rest carry typos, nicknames or folded letters


def test_nicknames_where_one_exists(
    council_2k: Path, ledger: pd.DataFrame, keys: pd.DataFrame, persons: pd.DataFrame
) -> None:
    k = keys[keys["source"].isin(["homelessness_cases", "adult_social_care", "deaths", "education"])]
    k = k.merge(ledger, on=["file", "row"])
    first = persons.loc[k["person_id"], "first_name"].to_numpy()
    has = np.asarray([f in NICKNAMES for f in first])
    rate = ((k["faults"].to_numpy()[has] & FAULT_BITS["nickname"]) > 0).mean()
    assert has.sum() > 500
    assert abs(rate - 0.05) < 0.02, rate
    assert ((k["faults"].to_numpy()[~has] & FAULT_BITS["nickname"]) == 0).all()


def test_ledger_agrees_with_the_files(
    council_2k: Path, ledger: pd.DataFrame, keys: pd.DataFrame, persons: pd.DataFrame
) -> None:
    """Every flagged fault is visible in the file, and unflagged fields are clean."""
    led = ledger.set_index(["file", "row"])["faults"]
    checked = 0
    for rel in sorted(ledger["file"].unique()):
        source = rel.split("/")[0]
        if source not in ("benefits", "homelessness_cases", "deaths", "council_tax"):
            continue
        df = _read(council_2k, rel)
        if df.empty:
            continue
        f = led.loc[rel].to_numpy()
        k = keys[keys["file"] == rel].sort_values("row")
        truth = persons.loc[k["person_id"]]
        if source == "benefits":
            pc, dob, first, last = df["POSTCODE"], df["CLMT_DOB"], df["CLMT_FORENAME"], df["CLMT_SURNAME"]
        elif source == "homelessness_cases":
            pc, dob, first, last = (
                df["LAST_SETTLED_POSTCODE"],
                df["APP_DOB"],
                df["APP_FORENAME"],
                df["APP_SURNAME"],
            )
        elif source == "deaths":
            pc, dob, first, last = df["POSTCODE"], df["DOB"], df["DECEASED_FORENAME"], df["DECEASED_SURNAME"]
        else:
            arrears = df["ARREARS"].str.replace("£", "").str.replace(",", "").astype(float)
            stage = df["RECOVERY_STAGE"]
            bad = (f & FAULT_BITS["impossible_value"]) > 0
            assert ((arrears < 0) | (stage == "XX9"))[bad].all(), rel
            assert ((arrears >= 0) & (stage != "XX9"))[~bad].all(), rel
            money = (f & FAULT_BITS["money_as_text"]) > 0
            assert df["ARREARS"][money].str.startswith(("£", "-£", "£-")).all() or not money.any()
            dup = (f & FAULT_BITS["duplicate_row"]) > 0
            same_as_previous = (df == df.shift()).all(axis=1)
            assert same_as_previous[dup].all(), rel
            checked += len(df)
            continue
        pc_fault = (f & FAULT_BITS["postcode_format"]) > 0
        odd = (~pc.str.contains(" ")) | (pc != pc.str.upper())
        assert odd[pc_fault].all() and not odd[~pc_fault & (pc != "")].any(), rel
        miss = (f & FAULT_BITS["dob_missing"]) > 0
        impossible = (f & FAULT_BITS["impossible_value"]) > 0
        assert (dob[miss] == "").all() and (dob[~miss] != "").all(), rel
        clean = (
            f
            & (
                FAULT_BITS["name_typo"]
                | FAULT_BITS["nickname"]
                | FAULT_BITS["name_swap"]
                | FAULT_BITS["charset_folded"]
            )
        ) == 0
        assert (first[clean].to_numpy() == truth["first_name"].to_numpy()[clean]).all(), rel
        assert (last[clean].to_numpy() == truth["last_name"].to_numpy()[clean]).all(), rel
        named = ~clean
        changed = (first[named].to_numpy() != truth["first_name"].to_numpy()[named]) | (
            last[named].to_numpy() != truth["last_name"].to_numpy()[named]
        )
        assert changed.all(), rel
        if source == "benefits":
            dob_dt = pd.to_datetime(dob.where(dob != ""), format="%Y-%m-%d", errors="coerce")
            entry = pd.to_datetime(df["ENTRY_DATE"], format="%Y-%m-%d")
            assert (dob_dt[impossible] > entry[impossible]).all(), rel
            assert not (dob_dt[~impossible] > entry[~impossible]).any(), rel
            alt = (f & FAULT_BITS["date_format"]) > 0
            iso = pd.to_datetime(df["EVENT_DATE"].where(~alt), format="%Y-%m-%d", errors="coerce")
            uk = pd.to_datetime(df["EVENT_DATE"].where(alt), format="%d/%m/%Y", errors="coerce")
            event = iso.fillna(uk)
            assert event.notna().all(), rel
            late = (f & FAULT_BITS["late_known"]) > 0
            lag = (entry - event).dt.days
            assert (lag[late] >= 20).all() and (lag[~late] < 20).all(), rel
        checked += len(df)
    assert checked > 10_000


def test_truth_has_what_evaluation_needs(council_2k: Path) -> None:
    truth = council_2k / "truth"
    for name in ("persons", "residence", "fault_ledger", "record_keys", "oracle", "labels"):
        assert (truth / f"{name}.parquet").is_file(), name
    persons = pd.read_parquet(truth / "persons.parquet")
    assert {"sex", "ethnicity", "disabled", "date_of_birth"} <= set(persons.columns)
    oracle = pd.read_parquet(truth / "oracle.parquet")
    assert set(oracle["horizon_days"]) == {56, 182, 365}
    assert oracle["as_of_month"].min() == 11 and oracle["as_of_month"].max() == 59
    assert oracle["probability"].between(0, 1).all()
    summary = json.loads((truth / "summary.json").read_text())
    q = summary["oracle_quality"]["182"]
    assert 0.5 < q["auc"] < 1 and q["base_rate"] > 0
    manifest = json.loads((council_2k / "synth_manifest.json").read_text())
    assert all(not k.startswith("truth/") for k in manifest["files"]), "the manifest lists extracts only"


def test_oracle_standard_error_is_recorded_and_small(council_2k: Path) -> None:
    """The oracle is an exact recursion (checked against simulation in test_chain), so its
    recorded standard error is zero: below a tenth of the cohort's base rate."""
    truth = council_2k / "truth"
    oracle = pd.read_parquet(truth / "oracle.parquet")
    labels = pd.read_parquet(truth / "labels.parquet")
    d = oracle.merge(labels, on=["as_of_month", "uprn", "horizon_days"])
    d = d[(d["horizon_days"] == 182) & d["observed"] & ~d["censored"]]
    base = d["label"].mean()
    assert base > 0
    assert oracle["std_error"].notna().all()
    assert oracle["std_error"].max() < base / 10
    summary = json.loads((truth / "summary.json").read_text())
    assert "exact" in summary["oracle_method"]


def test_dates_of_birth_transposed_where_possible(council_2k: Path, ledger: pd.DataFrame, keys: pd.DataFrame,
                                                  persons: pd.DataFrame) -> None:  # fmt: skip
    k = keys[
        keys["source"].isin(["homelessness_cases", "adult_social_care", "education", "deaths", "benefits"])
    ]
    k = k.merge(ledger, on=["file", "row"])
    dob = pd.to_datetime(persons.loc[k["person_id"], "date_of_birth"].to_numpy())
    possible = (dob.day <= 12) & (dob.month <= 12) & (dob.day != dob.month)
    flagged = (k["faults"].to_numpy() & FAULT_BITS["dob_transposed"]) > 0
    assert possible.sum() > 3000
    assert not flagged[~possible].any()
    assert abs(flagged[possible].mean() - 0.01) < 0.006, flagged[possible].mean()


def test_stale_addresses_after_a_move(council_2k: Path, ledger: pd.DataFrame, keys: pd.DataFrame) -> None:
    """30% of records in the 3 months after a move show the previous home."""
    res = pd.read_parquet(council_2k / "truth" / "residence.parquet").astype(
        {"from_month": "int64", "to_month": "int64"}
    )
    res = res.sort_values(["person_id", "from_month"])
    res["prev_uprn"] = res.groupby("person_id")["uprn"].shift()
    res["prev_to"] = res.groupby("person_id")["to_month"].shift()
    k = keys[keys["source"].isin(["benefits", "homelessness_cases", "childrens_services", "adult_social_care",
                                  "deaths", "education"])].merge(ledger, on=["file", "row"])  # fmt: skip
    start = np.datetime64("2021-11", "M")
    k["month"] = (k["event_date"].to_numpy().astype("datetime64[M]") - start).astype(int)
    k = k.sort_values("month")
    res = res.sort_values("from_month")
    k["q"] = (k["month"] + 1).astype("int64")
    m = pd.merge_asof(k, res, left_on="q", right_on="from_month", left_by="person_id", right_by="person_id")
    moved = m["prev_uprn"].notna() & (m["prev_to"] == m["from_month"]) & (m["from_month"] > 0)
    recent = moved & (m["q"] - m["from_month"] < 3)
    stale = (m["faults"] & FAULT_BITS["stale_address"]) > 0
    assert recent.sum() > 500
    rate = stale[recent].mean()
    assert abs(rate - 0.30) < 0.05, rate
    assert (m.loc[stale & recent, "address_uprn"] == m.loc[stale & recent, "prev_uprn"]).all()
    # outside that window only people newly arrived from elsewhere show an old (out-of-borough) address
    assert (m.loc[stale & ~recent, "address_uprn"] == -1).all()
