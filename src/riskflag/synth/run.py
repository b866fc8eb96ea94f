"""`riskflag synth`: simulate the borough, then write its extracts and its truth."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from riskflag.synth import chain as ch
from riskflag.synth import oracle
from riskflag.synth.extracts import SOURCES, Extracts, sha256
from riskflag.synth.faults import FAULT_BITS, FaultRates
from riskflag.synth.names import ETHNICITY_CODES
from riskflag.synth.simulate import EPOCH, World


def synthesise(out: Path, households: int = 20_000, months: int = 60, seed: int = 42,
               start: str = "2021-11", go_live: int | None = None,
               progress: Callable[[str, float], None] | None = None) -> dict:  # fmt: skip
    """Build the synthetic council in a temporary folder beside `out`, then move it into
    place, so that a half-written council is never mistaken for a whole one."""
    if months < 26:
        raise ValueError(f"--months must be at least 26 (12 of history and a horizon); got {months}")
    go_live = months - 12 if go_live is None else go_live
    say = progress or (lambda msg, frac: None)
    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    world = World(households, months, seed, start, progress=lambda m: say(f"month {m + 1}/{months}", 0.6 * (m + 1) / months))
    world.run()
    timings["simulate"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    say("oracle", 0.65)
    oracle_df, labels_df = oracle.compute(world)
    timings["oracle"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    ex = Extracts(world, tmp, FaultRates(), go_live, seed, progress=lambda s: say(f"extract {s}", 0.7))
    ex.write_all()
    timings["extracts"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    say("truth", 0.95)
    summary = write_truth(world, ex, oracle_df, labels_df, tmp / "truth")
    timings["truth"] = time.perf_counter() - t3
    files = sorted(p for p in (tmp / "extracts").rglob("*") if p.is_file())
    manifest = {
        "generator": "riskflag synth",
        "arguments": {"households": households, "months": months, "seed": seed, "start": start, "go_live_month": go_live},
        "period": {"first_day": str(world.month_start[0]), "last_day": str(world.month_start[months] - 1),
                   "go_live_day": str(world.month_start[go_live])},
        "sources": {s: v["kind"] for s, v in SOURCES.items()} | {"llpg": "reference", "area_deprivation": "reference"},
        "files": {str(p.relative_to(tmp)): sha256(p) for p in files},
        "counts": summary["counts"],
    }  # fmt: skip
    (tmp / "synth_manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    summary["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
    summary["out"] = str(out)
    return summary


def write_truth(w: World, ex: Extracts, oracle_df: pd.DataFrame, labels_df: pd.DataFrame, root: Path) -> dict:
    """The folder only evaluation reads. Training and scoring never open it."""
    root.mkdir(parents=True, exist_ok=True)
    pe, f = w.people, w.fam
    uprn = w.gaz.props["uprn"].to_numpy()
    day = lambda d: pd.to_datetime(np.asarray(d, dtype=np.int64), unit="D")  # noqa: E731
    persons = pd.DataFrame({
        "person_id": np.arange(pe.n), "first_name": pe["first"], "last_name": pe["last"], "sex": np.where(pe["sex"] == 1, "M", "F"),
        "date_of_birth": day(pe["dob"]), "ethnicity": np.asarray(ETHNICITY_CODES)[pe["eth"]], "disabled": pe["disabled"],
        "nino": pe["nino"], "exit_month": pe["exit_month"], "exit_kind": np.asarray(["", "died", "left_borough"])[pe["exit_kind"]],
    })  # fmt: skip
    persons.to_parquet(root / "persons.parquet", index=False)
    sp = w.spells.frame()
    sp = sp.sort_values(["person", "month"], kind="stable")
    nxt = sp.groupby("person")["month"].shift(-1)
    start_day = (w.month_start[sp["month"].clip(upper=w.months).to_numpy()] - EPOCH).astype(np.int64)
    res = pd.DataFrame({
        "person_id": sp["person"].to_numpy(), "uprn": np.where(sp["prop"] >= 0, uprn[np.maximum(sp["prop"], 0)], -1),
        "from_month": sp["month"].to_numpy(), "to_month": nxt.fillna(w.months).astype(int).to_numpy(),
        "from_date": day(start_day),
    })  # fmt: skip
    res = res[res["uprn"] >= 0]
    res.to_parquet(root / "residence.parquet", index=False)
    pd.concat(ex.o.ledger, ignore_index=True).to_parquet(root / "fault_ledger.parquet", index=False)
    keys = pd.concat(ex.o.keys, ignore_index=True)
    keys["event_date"] = day(keys.pop("event_day"))
    keys.to_parquet(root / "record_keys.parquet", index=False)
    month_end = lambda m: pd.to_datetime((w.month_start[np.asarray(m) + 1] - EPOCH).astype(np.int64) - 1, unit="D")  # noqa: E731
    oracle_df.insert(0, "as_of_date", month_end(oracle_df["as_of_month"]))
    oracle_df["std_error"] = 0.0
    oracle_df.to_parquet(root / "oracle.parquet", index=False)
    labels_df.insert(0, "as_of_date", month_end(labels_df["as_of_month"]))
    labels_df.to_parquet(root / "labels.parquet", index=False)
    fams = pd.DataFrame({"family_id": np.arange(f.n), "lead_person_id": f["lead"], "type": np.asarray(ch.C_NAMES)[f["C"]],
                         "tenure": np.asarray(ch.T_NAMES)[f["T"]], "uprn": uprn[f["prop"]], "status": f["status"]})  # fmt: skip
    fams.to_parquet(root / "families_final.parquet", index=False)
    summary = {
        "oracle_method": "exact backward recursion over the family chain (riskflag.synth.chain); std_error 0",
        "fault_bits": FAULT_BITS,
        "counters": w.counters,
        "oracle_quality": oracle.quality(oracle_df, labels_df),
        "counts": {"properties": int(w.n_props), "people": int(pe.n), "families": int(f.n),
                   "extract_rows": int(len(keys))},  # fmt: skip
    }
    (root / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary
