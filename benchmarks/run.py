"""riskflag benchmarks: `make bench` (or `python benchmarks/run.py [--only NAME] [--repeat N]`).

Each benchmark runs a real `riskflag` command in a child process, several times, and records
wall time and the child's peak resident memory (from wait4). Machines are shared and noisy,
so results are medians. Writes benchmarks/results/<name>.json and benchmarks/results/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RISKFLAG = [sys.executable, "-m", "riskflag"]

BENCHMARKS = {
    "synth_20k": {
        "what": "synthesise the demo council: 20,000 households x 60 months, extracts and truth",
        "args": ["synth", "--households", "20000", "--months", "60", "--seed", "42"],
        "targets": {},
    },
    "synth_250k": {
        "what": "synthesise a large council: 250,000 households x 60 months, extracts and truth",
        "args": ["synth", "--households", "250000", "--months", "60", "--seed", "42"],
        "targets": {"seconds": 300, "peak_gb": 4.0},
    },
}


def run_once(args: list[str], out: Path) -> dict:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*RISKFLAG, *args, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(args)}\n{stderr[-2000:]}")
    timings = {}
    summary = out / "truth" / "summary.json"
    manifest = out / "synth_manifest.json"
    if manifest.is_file():
        m = json.loads(manifest.read_text())
        timings["extract_files"] = len(m["files"])
        stages = out / "synth_timings.json"
        timings["stages_s"] = json.loads(stages.read_text()) if stages.is_file() else {}
    if summary.is_file():
        s = json.loads(summary.read_text())
        timings["extract_rows"] = s["counts"]["extract_rows"]
        timings["oracle_quality_182"] = s["oracle_quality"]["182"]
    return {"seconds": round(seconds, 2), "peak_gb": round(usage.ru_maxrss / 1024**2, 3), **timings}


def machine() -> dict:
    import psutil

    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in a.only or BENCHMARKS:
        spec = BENCHMARKS[name]
        runs = []
        for i in range(a.repeat):
            with tempfile.TemporaryDirectory(prefix=f"riskflag-bench-{name}-") as tmp:
                r = run_once(spec["args"], Path(tmp) / "council")
                shutil.rmtree(tmp, ignore_errors=True)
            runs.append(r)
            print(f"{name} run {i + 1}/{a.repeat}: {r['seconds']} s, peak {r['peak_gb']} GB", flush=True)
        med = {k: statistics.median(r[k] for r in runs) for k in ("seconds", "peak_gb")}
        result = {
            "benchmark": name,
            "what": spec["what"],
            "command": " ".join(["riskflag", *spec["args"], "--out", "<tmp>"]),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "runs": runs,
            "median": med,
            "targets": spec["targets"],
            "meets_targets": all(med[k] <= v for k, v in spec["targets"].items()),
        }
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    write_table()


def write_table() -> None:
    rows = []
    for path in sorted(RESULTS.glob("*.json")):
        r = json.loads(path.read_text())
        t = r["targets"]
        target = ", ".join(f"< {v}{' s' if k == 'seconds' else ' GB'}" for k, v in t.items()) or "-"
        rows.append(
            f"| {r['benchmark']} | {r['what']} | {len(r['runs'])} | {r['median']['seconds']} | "
            f"{r['median']['peak_gb']} | {target} | {'yes' if r['meets_targets'] else 'NO'} | "
            f"{r['machine']['cpus']} cores, {r['machine']['git_commit']} |"
        )
    text = (
        "# Benchmark results\n\nWritten by `make bench` (`python benchmarks/run.py`). Medians of the runs; "
        "peak is the child process's maximum resident memory.\n\n"
        "| benchmark | what | runs | median s | median peak GB | target | met | machine |\n"
        "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    (RESULTS / "README.md").write_text(text)


if __name__ == "__main__":
    main()
