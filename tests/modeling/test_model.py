"""The risk model on the 2k council: trained, logged and registered in a SQLite MLflow store,
promoted behind gates, loaded back by alias; and the store searched for personal data."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from riskflag.features.dates import plan_periods
from riskflag.modeling import registry
from riskflag.modeling.metrics import auc, calibration_slope, observed_over_expected
from tests.conftest import SMALL_COUNCIL_GATES

AS_OF = date(2026, 10, 31)


def with_tracking(cfg, uri: str, **model):
    gates = cfg.model.gates.model_copy(update=SMALL_COUNCIL_GATES)
    return cfg.model_copy(
        update={
            "model": cfg.model.model_copy(
                update={"tracking_uri": uri, "max_as_of_dates": 18, "gates": gates, **model}
            )
        }
    )


@pytest.fixture(scope="module")
def trained(validated_2k, tmp_path_factory: pytest.TempPathFactory):
    from riskflag.jobs.training import train_and_register
    from riskflag.linkage.pipeline import link_council, replay_council, train_council
    from riskflag.modeling.train import training_dates

    cfg, _, _ = validated_2k
    train_council(cfg, AS_OF)
    link_council(cfg, AS_OF, full=True)
    store = tmp_path_factory.mktemp("mlflow")
    cfg = with_tracking(cfg, f"sqlite:///{store / 'mlflow.db'}")
    replay_council(cfg, [*training_dates(cfg, AS_OF), AS_OF])
    run = train_and_register(cfg, AS_OF)
    return cfg, run, store


def test_periods_are_a_horizon_apart() -> None:
    p = plan_periods(date(2026, 10, 31), 182, date(2022, 10, 31))
    blocks = [p.train, p.validation, p.calibration, p.evaluation]
    for earlier, later in itertools.pairwise(blocks):
        assert (later[0] - earlier[-1]).days > 182
    assert p.evaluation[-1].toordinal() + 182 <= date(2026, 10, 31).toordinal()
    assert len(p.all()) == 24


def test_metrics_are_right_on_known_cases() -> None:
    y = np.array([0, 0, 1, 1])
    assert auc(y, np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.5, 200_000)
    outcome = (rng.uniform(size=p.size) < p).astype(float)
    assert abs(observed_over_expected(outcome, p) - 1) < 0.02
    assert abs(calibration_slope(outcome, p) - 1) < 0.05
    assert calibration_slope(outcome, np.clip(p * 2, 0, 0.99)) < 0.9  # too extreme: slope below 1


def test_calibration_slope_holds_where_full_newton_steps_run_away() -> None:
    """An overfitted calibrator: probabilities spread ten times too far, and a third of the
    households put at exactly 0. Full Newton steps from slope 1 ran away (to 1e11); the answer is
    the maximum-likelihood slope, checked against scikit-learn's unpenalised fit."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    true = rng.uniform(0.005, 0.04, 3000)
    y = (rng.uniform(size=true.size) < true).astype(float)
    z = np.log(true / (1 - true))
    p = 1 / (1 + np.exp(-((z - z.mean()) * 10 + np.log(0.02 / 0.98))))
    p[rng.uniform(size=p.size) < 0.3] = 0.0
    x = np.log(np.clip(p, 1e-6, 1 - 1e-6) / (1 - np.clip(p, 1e-6, 1 - 1e-6)))
    reference = LogisticRegression(C=np.inf, max_iter=100_000, tol=1e-12).fit(x[:, None], y).coef_[0][0]
    assert abs(calibration_slope(y, p) - reference) < 1e-4
    assert calibration_slope(y, p) < 0.1  # far too extreme


def test_training_logs_registers_and_evaluates(trained) -> None:
    cfg, run, _ = trained
    mlflow = registry.client(cfg)
    r = mlflow.get_run(run.logged.run_id)
    assert r.data.params["horizon_days"] == "182"
    assert {"model.auc.value", "rules.auc.value", "logistic.auc.value", "model.at_capacity.precision"} <= set(
        r.data.metrics
    )
    # every date's households come from the linkage as it stood then (the fixture replayed it)
    assert all(c["linked_point_in_time"] == c["as_of_dates"] > 0 for c in run.trained.counts.values())
    ev = run.trained.evaluation
    assert ev["model"]["auc"]["low"] <= ev["model"]["auc"]["value"] <= ev["model"]["auc"]["high"]
    assert ev["model"]["auc"]["value"] > ev["rules"]["auc"]["value"]  # the model beats the rules it replaces
    assert 0.6 < ev["model"]["observed_over_expected"]["value"] < 1.6
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.logged.run_id, "plots")}
    assert {"plots/roc.png", "plots/reliability.png", "plots/precision_at_k.png"} <= artifacts
    model = registry.load_version(cfg, run.logged.version)
    frame = run.trained.frame.head(50)
    got = model.score(frame)
    assert np.allclose(got["raw_score"], run.trained.scores["model"].raw[:50])
    assert (got["probability"].between(0, 1)).all()


def test_no_personal_data_reaches_mlflow(trained, validated_2k) -> None:
    """Names, dates of birth, NI numbers, addresses, postcodes, UPRNs and person or household
    ids, plain or hashed, are nowhere in the store: not in the database, not in any artefact."""
    cfg, _, store = trained
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    values: set[str] = set()
    for sql in (
        "SELECT DISTINCT surname FROM link_identities WHERE length(surname) > 3",
        "SELECT DISTINCT forename || ' ' || surname FROM link_identities",
        "SELECT DISTINCT dob FROM link_identities WHERE dob IS NOT NULL",
        "SELECT DISTINCT nino FROM link_identities WHERE nino IS NOT NULL",
        "SELECT DISTINCT postcode FROM link_identities WHERE postcode IS NOT NULL",
        "SELECT DISTINCT uprn FROM link_identities WHERE uprn IS NOT NULL",
        "SELECT DISTINCT person_id FROM link_persons",
        "SELECT DISTINCT household_id FROM link_households",
        "SELECT DISTINCT person_id FROM link_history_persons",
        "SELECT DISTINCT household_id FROM link_history_members",
        "SELECT DISTINCT street FROM history_llpg WHERE length(street) > 6",
    ):
        values |= {str(v[0]) for v in con.execute(sql).fetchall()}
    con.close()
    hashed = set()
    for v in values:
        hashed |= {hashlib.md5(v.encode()).hexdigest(), hashlib.sha256(v.encode()).hexdigest()}
    blobs = []
    db = sqlite3.connect(store / "mlflow.db")
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        for row in db.execute(f'SELECT * FROM "{table}"'):
            blobs.append(" ".join(str(c) for c in row))
    db.close()
    artifacts = cfg.output_folder / "mlflow" / "artifacts"
    files = [p for p in [*store.rglob("*"), *artifacts.rglob("*")] if p.is_file() and p.suffix != ".db"]
    assert any(p.name == "booster.txt" for p in files)
    for p in files:
        raw = p.read_bytes()
        blobs.append(_png_text(raw) if p.suffix == ".png" else raw.decode("utf-8", errors="ignore"))
    text = "\n".join(blobs).upper()
    tokens = set(re.findall(r"[A-Z0-9][A-Z0-9_\-]*", text))  # words, numbers, ISO dates, hashes
    names = set(re.findall(r"[A-Z]+ [A-Z]+", text))  # pairs of words: "FORENAME SURNAME"
    # the as-of dates a model is trained on are in its parameters by design: they are month
    # ends, not anyone's birthday, though some people were born on one
    as_of_dates = {str(d) for d in run_dates(cfg)}
    found = sorted(v for v in values - as_of_dates if v.upper() in tokens or v.upper() in names)
    found += sorted(h for h in hashed if h.upper() in tokens)
    assert len(values) > 1000 and not found, found[:10]


def _png_text(raw: bytes) -> str:
    """The text a PNG carries (its tEXt, zTXt and iTXt chunks); its compressed pixels are not
    text, and read as text they spell short names by chance."""
    import struct
    import zlib

    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    out, i = [], 8
    while i + 8 <= len(raw):
        n, kind = struct.unpack(">I4s", raw[i : i + 8])
        data = raw[i + 8 : i + 8 + n]
        if kind == b"tEXt":
            out.append(data.decode("latin-1"))
        elif kind == b"zTXt":
            key, _, rest = data.partition(b"\0")
            out.append(key.decode("latin-1") + " " + zlib.decompress(rest[1:]).decode("latin-1"))
        elif kind == b"iTXt":
            out.append(data.decode("utf-8", errors="ignore"))
        i += 12 + n
    return "\n".join(out)


def run_dates(cfg) -> set[date]:
    from riskflag.features.dates import add_months

    return {add_months(date(2021, 1, 1), k) for k in range(12 * 7)}


def test_promotion_is_gated_and_recorded(trained) -> None:
    cfg, run, _ = trained

    def gated(**bounds: tuple[float, float]):
        gates = cfg.model.gates.model_copy(update=bounds)
        return cfg.model_copy(update={"model": cfg.model.model_copy(update={"gates": gates})})

    refused = registry.promote(gated(observed_over_expected=(0.999, 1.001)), run.logged.version, AS_OF)
    assert not refused.promoted and "observed/expected" in refused.reasons[0]
    client = registry.client(cfg).MlflowClient()
    tags = client.get_model_version(cfg.registered_name, run.logged.version).tags
    assert tags["promotion_decision"] == "refused" and "observed/expected" in tags["promotion_reasons"]
    # no group's recall ratio can lie in these bounds: every group large enough to judge is refused
    judged = registry.promote(gated(fairness_recall_ratio=(1000.0, 2000.0)), run.logged.version, AS_OF)
    assert not judged.promoted and any(r.startswith("recall at capacity for ") for r in judged.reasons)
    done = registry.promote(cfg, run.logged.version, AS_OF)
    assert done.promoted, done.reasons
    champion = registry.load_by_alias(cfg)
    frame = run.trained.frame.head(20)
    assert np.allclose(champion.predict(frame)["raw_score"], run.trained.scores["model"].raw[:20])


def test_promote_with_the_tracking_server_down_exits_with_one_line_and_changes_nothing(
    trained, tmp_path: Path
) -> None:
    """Through the CLI, against a tracking URI nothing listens on (with a password, which the
    line must not show): exit non-zero, one line naming the registry, and the real store as it
    was."""
    import os
    import subprocess
    import sys

    import yaml

    cfg, run, store = trained
    before = _registry_state(store)
    port = _free_port()
    raw = yaml.safe_load(cfg.path.read_text())
    raw["model"] = {**(raw.get("model") or {}), "tracking_uri": f"http://riskflag:s3cret@127.0.0.1:{port}"}
    config = tmp_path / "council.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    shutil.copy(cfg.path.parent / "reasons.yaml", tmp_path / "reasons.yaml")
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    for version in ([], ["--version", run.logged.version]):
        r = subprocess.run(
            [sys.executable, "-m", "riskflag", "promote", "--config", str(config), *version],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        said = (r.stdout + r.stderr).strip().splitlines()
        assert r.returncode == 2 and len(said) == 1, r.stdout + r.stderr
        assert said[0].startswith("error: the model registry at http://riskflag:***@127.0.0.1:")
        assert f":{port} cannot be reached" in said[0] and "s3cret" not in said[0]
    assert _registry_state(store) == before


def test_promote_never_takes_an_unanswered_champion_lookup_for_no_champion(trained, monkeypatch) -> None:
    """The registry answers until it is asked for the champion, then does not: promote stops
    with one line, and neither the champion alias nor the challenger's tags change (before, the
    challenger went through as if there were no champion, past the comparison with it)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from riskflag.errors import UserError

    cfg, run, store = trained
    client = registry.client(cfg).MlflowClient()
    name, version = cfg.registered_name, run.logged.version
    other = client.create_model_version(
        name, client.get_model_version(name, version).source, run.logged.run_id
    )
    previous = registry.alias_version(cfg, registry.CHAMPION)
    client.set_registered_model_alias(name, registry.CHAMPION, other.version)
    try:
        asked = MlflowClient.get_model_version_by_alias

        def down(self, model: str, alias: str):
            if alias == registry.CHAMPION:
                raise MlflowException("API request failed: Connection refused", error_code="INTERNAL_ERROR")
            return asked(self, model, alias)

        before = _registry_state(store)
        monkeypatch.setattr(MlflowClient, "get_model_version_by_alias", down)
        with pytest.raises(UserError, match="cannot be reached") as refused:
            registry.promote(cfg, version, AS_OF)
        assert "\n" not in str(refused.value) and cfg.tracking_uri in str(refused.value)
        monkeypatch.undo()
        assert _registry_state(store) == before
        assert registry.alias_version(cfg, registry.CHAMPION) == str(other.version)
    finally:
        client.set_registered_model_alias(name, registry.CHAMPION, previous or version)
        client.delete_model_version(name, other.version)


def test_a_missing_alias_is_no_champion_and_a_password_is_masked(trained) -> None:
    cfg, _, _ = trained
    assert registry.alias_version(cfg, "no-such-alias") is None
    assert (
        registry.masked_uri("https://me:pa%40ss@mlflow.example:5000/x")
        == "https://me:***@mlflow.example:5000/x"
    )
    assert registry.masked_uri("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _registry_state(store: Path) -> list:
    """Every alias, version and version tag in the SQLite store, read from the file itself."""
    db = sqlite3.connect(store / "mlflow.db")
    try:
        return [
            sorted(map(str, db.execute(f"SELECT * FROM {table}").fetchall()))
            for table in (
                "registered_model_aliases",
                "model_versions",
                "model_version_tags",
                "registered_models",
            )
        ]
    finally:
        db.close()


def test_training_never_reads_the_truth(council_2k: Path, tmp_path: Path) -> None:
    """The same extracts with the truth folder gone give the same model, file for file."""
    from riskflag.config import load_config
    from riskflag.ingest.pipeline import validate_council
    from riskflag.linkage.pipeline import link_council, train_council
    from riskflag.modeling.train import train
    from tests.conftest import council_config

    outputs = []
    for name, keep_truth in (("with", True), ("without", False)):
        copy = tmp_path / name
        shutil.copytree(council_2k, copy)
        if not keep_truth:
            shutil.rmtree(copy / "truth")
        cfg = load_config(council_config(copy / "extracts", tmp_path / f"out_{name}"))
        validate_council(cfg, AS_OF)
        train_council(cfg, AS_OF, now=lambda: pd.Timestamp("2026-11-01").to_pydatetime())
        link_council(cfg, AS_OF, now=lambda: pd.Timestamp("2026-11-01").to_pydatetime())
        t = train(with_tracking(cfg, "unused"), AS_OF)
        t.model.save(tmp_path / f"model_{name}")
        outputs.append(
            ((tmp_path / f"model_{name}" / "booster.txt").read_text(), t.evaluation["model"]["auc"]["value"])
        )
    assert outputs[0] == outputs[1]


def test_training_twice_gives_the_same_model_files_and_figures(trained, tmp_path: Path) -> None:
    """The same warehouse, config and seed give the same booster and calibration, byte for byte,
    and the same evaluation; and so does the warehouse with every household renamed, as a relink
    at another time renames the households it splits (their new ids carry the run's id)."""
    from riskflag.modeling.train import train

    cfg, run, _ = trained
    first = _model_files(run.trained, tmp_path / "first")
    assert first["booster.txt"].startswith(b"tree") and b"Tree=0" in first["booster.txt"]
    again = train(cfg, AS_OF)
    assert _model_files(again, tmp_path / "again") == first
    assert _figures(again) == _figures(run.trained)

    renamed = _households_renamed(cfg, tmp_path / "renamed")
    moved = train(renamed, AS_OF)
    assert not set(moved.frame["household_id"]) & set(run.trained.frame["household_id"])
    assert _model_files(moved, tmp_path / "moved") == first
    assert _figures(moved) == _figures(run.trained)


def _model_files(trained, folder: Path) -> dict[str, bytes]:
    trained.model.save(folder)
    return {name: (folder / name).read_bytes() for name in ("booster.txt", "calibration.json")}


def _figures(trained) -> str:
    return json.dumps(
        [trained.evaluation, trained.calibration_choice, trained.best_iteration, trained.counts],
        default=float,
        sort_keys=True,
    )


def _households_renamed(cfg, out: Path):
    """A copy of the warehouse in which every household id is another, consistently everywhere
    one is held, in an order unrelated to the old one."""
    from riskflag.ingest import open_warehouse

    moved = cfg.with_folders(cfg.data_folder, out)
    out.mkdir(parents=True)
    shutil.copy(cfg.warehouse, moved.warehouse)
    rename = "'R' || substr(md5('renamed|' || {0}), 1, 15)"
    with open_warehouse(moved.warehouse) as con:
        for table, column in (
            ("link_household_members", "household_id"),
            ("link_households", "household_id"),
            ("link_history_members", "household_id"),
            ("link_household_changes", "id"),
            ("history_objections", "household_ref"),
            ("history_contacts", "household_ref"),
        ):
            con.execute(f"UPDATE {table} SET {column} = {rename.format(column)} WHERE {column} IS NOT NULL")
        others = f"list_transform(other_ids, lambda x: {rename.format('x')})"
        con.execute(f"UPDATE link_household_changes SET other_ids = {others}")
    return moved


def test_link_replay_links_each_training_date_and_leaves_the_warehouse_linked(trained) -> None:
    from riskflag import cli
    from riskflag.ingest.warehouse import open_warehouse
    from riskflag.modeling.train import training_dates

    cfg, _, _ = trained
    doc = cli._link_replay(cfg, AS_OF)
    dates = [r["as_of"] for r in doc["runs"]]
    assert dates == [d.isoformat() for d in training_dates(cfg, AS_OF)] + [AS_OF.isoformat()]
    assert [r["mode"] for r in doc["runs"]] == ["full"] + ["incremental"] * (len(dates) - 1)
    assert (cfg.output_folder / doc["run_id"] / "manifest.json").is_file()
    with open_warehouse(cfg.warehouse) as con:
        recorded = [
            r[0].isoformat() for r in con.execute("SELECT as_of FROM link_history_runs ORDER BY 1").fetchall()
        ]
        last = con.execute("SELECT as_of FROM link_runs ORDER BY finished_at DESC LIMIT 1").fetchall()[0][0]
    assert recorded[-len(dates) :] == dates and last == AS_OF
    # people appear over the years as records name them
    assert doc["runs"][0]["persons"] < doc["runs"][-1]["persons"]
