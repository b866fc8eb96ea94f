"""`riskflag synth`: simulate the borough, then write its extracts and its truth."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskflag.synth import chain as ch
from riskflag.synth import oracle
from riskflag.synth.extracts import SOURCES, Extracts, sha256
from riskflag.synth.faults import FAULT_BITS, FaultRates
from riskflag.synth.names import ETHNICITY_CODES
from riskflag.synth.simulate import EPOCH, World, WorldParams


def synthesise(
    out: Path,
    households: int = 20_000,
    months: int = 60,
    seed: int = 42,
    start: str = "2021-11",
    go_live: int | None = None,
    progress: Callable[[str, float], None] | None = None,
    advice_from_threats: bool = False,
) -> dict:
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
    world = World(
        households,
        months,
        seed,
        start,
        params=WorldParams(advice_from_threats=advice_from_threats),
        progress=lambda m: say(f"month {m + 1}/{months}", 0.6 * (m + 1) / months),
    )
    world.chain.transitions  # noqa: B018  (built while memory is empty; cached for the oracle)
    world.run()
    timings["simulate"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    say("oracle", 0.65)
    scored = write_oracle(world, tmp / "truth")
    world.snapshots.clear()
    timings["oracle"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    ex = Extracts(world, tmp, FaultRates(), go_live, seed, progress=lambda s: say(f"extract {s}", 0.7))
    ex.write_all()
    timings["extracts"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    say("truth", 0.95)
    summary = write_truth(world, ex, scored, tmp / "truth")
    timings["truth"] = time.perf_counter() - t3
    files = sorted(p for p in (tmp / "extracts").rglob("*") if p.is_file())
    manifest = {
        "generator": "riskflag synth",
        "arguments": {
            "households": households,
            "months": months,
            "seed": seed,
            "start": start,
            "go_live_month": go_live,
            "advice_from_threats": advice_from_threats,
        },
        "period": {
            "first_day": str(world.month_start[0]),
            "last_day": str(world.month_start[months] - 1),
            "go_live_day": str(world.month_start[go_live]),
        },
        "sources": {s: v["kind"] for s, v in SOURCES.items()}
        | {"llpg": "reference", "area_deprivation": "reference"},
        "files": {str(p.relative_to(tmp)): sha256(p) for p in files},
        "counts": summary["counts"],
    }
    (tmp / "synth_manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    # wall-clock durations differ run to run, so they live apart from the council's own files
    stages = {k: round(v, 2) for k, v in timings.items()} | {"extracts_by_source": ex.timings}
    (tmp / "synth_timings.json").write_text(json.dumps(stages, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    summary["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
    summary["out"] = str(out)
    return summary


def write_oracle(w: World, root: Path) -> dict[int, dict[str, np.ndarray]]:
    """Stream the oracle and the realised labels to Parquet; keep what quality() needs, as
    compact arrays per horizon."""
    root.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    kept: dict[int, dict[str, list[np.ndarray]]] = {}
    pending: dict[tuple[int, int], pd.DataFrame] = {}
    month_end = (w.month_start[1:] - EPOCH).astype(np.int64) - 1

    def sink(kind: str, df: pd.DataFrame) -> None:
        df.insert(0, "as_of_date", month_end[df["as_of_month"].to_numpy()].astype("datetime64[D]"))
        if kind == "oracle":
            df["std_error"] = 0.0
        table = pa.Table.from_pandas(df, preserve_index=False)
        if kind not in writers:
            writers[kind] = pq.ParquetWriter(root / f"{kind}.parquet", table.schema)
        writers[kind].write_table(table)
        key = (int(df["as_of_month"].iloc[0]), int(df["horizon_days"].iloc[0])) if len(df) else (-1, -1)
        if key not in pending:
            pending[key] = df
            return
        o, lab = (df, pending.pop(key)) if kind == "oracle" else (pending.pop(key), df)
        keep = (lab["observed"] & ~lab["censored"]).to_numpy()
        h = kept.setdefault(key[1], {"as_of_month": [], "probability": [], "label": []})
        h["as_of_month"].append(o["as_of_month"].to_numpy()[keep])
        h["probability"].append(o["probability"].to_numpy(np.float32)[keep])
        h["label"].append(lab["label"].to_numpy()[keep])

    oracle.stream(w, sink)
    for wr in writers.values():
        wr.close()
    return {h: {k: np.concatenate(v) for k, v in cols.items()} for h, cols in kept.items()}


def write_truth(w: World, ex: Extracts, scored: dict[int, dict[str, np.ndarray]], root: Path) -> dict:
    """The folder only evaluation reads. Training and scoring never open it."""
    root.mkdir(parents=True, exist_ok=True)
    pe, f = w.people, w.fam
    uprn = w.gaz.props["uprn"].to_numpy()
    day = lambda d: pd.to_datetime(np.asarray(d, dtype=np.int64), unit="D")  # noqa: E731
    persons = pd.DataFrame(
        {
            "person_id": np.arange(pe.n),
            "first_name": pe["first"],
            "last_name": pe["last"],
            "sex": np.where(pe["sex"] == 1, "M", "F"),
            "date_of_birth": day(pe["dob"]),
            "ethnicity": np.asarray(ETHNICITY_CODES)[pe["eth"]],
            "disabled": pe["disabled"],
            "nino": pe["nino"],
            "exit_month": pe["exit_month"],
            "exit_kind": np.asarray(["", "died", "left_borough"])[pe["exit_kind"]],
        }
    )
    persons.to_parquet(root / "persons.parquet", index=False)
    sp = w.spells.frame()
    sp = sp.sort_values(["person", "month"], kind="stable")
    nxt = sp.groupby("person")["month"].shift(-1)
    start_day = (w.month_start[sp["month"].clip(upper=w.months).to_numpy()] - EPOCH).astype(np.int64)
    res = pd.DataFrame(
        {
            "person_id": sp["person"].to_numpy(),
            "uprn": np.where(sp["prop"] >= 0, uprn[np.maximum(sp["prop"], 0)], -1),
            "from_month": sp["month"].to_numpy(),
            "to_month": nxt.fillna(w.months).astype(int).to_numpy(),
            "from_date": day(start_day),
        }
    )
    res = res[res["uprn"] >= 0]
    res.to_parquet(root / "residence.parquet", index=False)
    fams = pd.DataFrame(
        {
            "family_id": np.arange(f.n),
            "lead_person_id": f["lead"],
            "type": np.asarray(ch.C_NAMES)[f["C"]],
            "tenure": np.asarray(ch.T_NAMES)[f["T"]],
            "uprn": uprn[f["prop"]],
            "status": f["status"],
        }
    )
    fams.to_parquet(root / "families_final.parquet", index=False)
    summary = {
        "oracle_method": "exact backward recursion over the family chain (riskflag.synth.chain); std_error 0",
        "fault_bits": FAULT_BITS,
        "counters": w.counters,
        "oracle_quality": oracle.quality(scored),
        "counts": {
            "properties": int(w.n_props),
            "people": int(pe.n),
            "families": int(f.n),
            "extract_rows": int(ex.o.rows),
        },
    }
    (root / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary
