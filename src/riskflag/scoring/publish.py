"""What the nightly run leaves for people: per as-of date, the cohort (Parquet, and a CSV that
opens cleanly in Excel), one HTML list per team, a manifest; and a status page every run
rewrites, failed or not.

A run's files are written into a hidden folder beside their final place and renamed into it in
one step (riskflag.core.files: fsynced, owner-only whatever the umask, since they name people),
so a reader (or a run killed half-way) never sees part of a list. Everything shown in HTML is
escaped; every CSV cell is made spreadsheet-safe.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskflag.config import CouncilConfig
from riskflag.core import files
from riskflag.core.safe import spreadsheet_safe

MARKING = "OFFICIAL-SENSITIVE"
NO_REASON = "<li>No single record stands out: the household's circumstances together raised the score</li>"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "team"


def root(cfg: CouncilConfig) -> Path:
    """Where the nightly run publishes: one folder per as-of date and the status page."""
    return cfg.output_folder / "nightly"


def publish_folder(base: Path, as_of: date, write: Callable[[Path], object]) -> Path:
    """write(folder) fills a hidden folder; it then replaces base/<as_of> whole, owner-only."""
    return files.folder(base, as_of.isoformat(), write)


def cohort_table(
    ranked: pd.DataFrame, explained: pd.DataFrame, people: pd.DataFrame, model_version: str, as_of: date
) -> pd.DataFrame:
    """Every household in the cohort: rank, probability, band, team and flag; names, addresses,
    reasons and support for flagged households only (data minimisation)."""
    out = ranked[["rank", "household_id", "uprn", "ward", "raw_score", "probability", "band", "team", "flag",
                  "suppressed"]].copy()  # fmt: skip
    out.insert(0, "as_of", as_of.isoformat())
    out = out.merge(people, on="household_id", how="left").merge(
        explained[["household_id", "reasons", "protective", "support", "base_value"]]
        if len(explained)
        else pd.DataFrame(columns=["household_id", "reasons", "protective", "support", "base_value"]),
        on="household_id",
        how="left",
    )
    out["members"] = out["members"].astype("Int64")
    out["model_version"] = model_version
    for c in ("reasons", "protective", "support"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out.sort_values("rank").reset_index(drop=True)


CSV_COLUMNS = [
    "as_of", "rank", "household_id", "team", "flag", "suppressed", "probability", "band", "ward",
    "lead_name", "address", "members", "reason_1", "reason_2", "reason_3", "reason_4",
    "protective_1", "protective_2", "support", "model_version",
]  # fmt: skip


def cohort_csv(cohort: pd.DataFrame) -> bytes:
    """UTF-8 with a BOM (Excel then reads it as UTF-8), every cell spreadsheet-safe."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for row in cohort.itertuples(index=False):
        r = row._asdict()
        reasons = r["reasons"] or []
        protective = r["protective"] or []
        values = {
            **r,
            "probability": f"{r['probability']:.4f}",
            "members": "" if pd.isna(r["members"]) else str(int(r["members"])),
            **{f"reason_{i + 1}": reasons[i]["text"] if i < len(reasons) else "" for i in range(4)},
            **{f"protective_{i + 1}": protective[i]["text"] if i < len(protective) else "" for i in range(2)},
            "support": "; ".join(r["support"] or []),
        }
        w.writerow([spreadsheet_safe("" if values[c] is None else str(values[c])) for c in CSV_COLUMNS])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def cohort_parquet(cohort: pd.DataFrame, path: Path) -> None:
    t = cohort.copy()
    for c in ("reasons", "protective", "support"):
        t[c] = t[c].map(
            lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True) if v is not None else None
        )
    table = pa.Table.from_pandas(t, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, path, compression="zstd")


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#111}
.marking{background:#111;color:#fff;font-weight:bold;text-align:center;padding:.3em;letter-spacing:.1em}
.note{border-left:4px solid #b35c00;background:#fff4e5;padding:.5em 1em;margin:.5em 0}
table{border-collapse:collapse;width:100%;margin-top:1em}
th,td{border:1px solid #bbb;padding:.4em;vertical-align:top;text-align:left}
th{background:#eee;cursor:pointer;user-select:none} th[aria-sort]::after{content:" \\2195"}
td.num{text-align:right;white-space:nowrap} ul{margin:0;padding-left:1.1em}
.band-very-high{color:#a00;font-weight:bold}.band-high{color:#c60}.protect{color:#155724}
.new{font-weight:bold}
@media print{th{cursor:auto}th[aria-sort]::after{content:""}tr{page-break-inside:avoid}
 .marking{-webkit-print-color-adjust:exact;print-color-adjust:exact}body{margin:0}}
"""

SCRIPT = """
document.querySelectorAll('th[data-key]').forEach(function (th, col) {
  th.setAttribute('aria-sort', 'none');
  th.addEventListener('click', function () {
    var body = document.querySelector('tbody'), rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute('aria-sort') !== 'ascending', num = th.dataset.type === 'num';
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      var c = num ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return asc ? c : -c;
    });
    document.querySelectorAll('th[data-key]').forEach(function (h) { h.setAttribute('aria-sort', 'none'); });
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def team_html(team: str, rows: pd.DataFrame, meta: dict) -> str:
    """One team's list: readable, sortable by clicking a heading, printable, self-contained."""
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in meta.get("notes", []))
    body = []
    for r in rows.itertuples(index=False):
        reasons = "".join(f"<li>{_e(x['text'])}</li>" for x in r.reasons or [])
        protect = "".join(f'<li class="protect">{_e(x["text"])}</li>' for x in r.protective or [])
        support = "".join(f"<li>{_e(s)}</li>" for s in r.support or [])
        band = slug(r.band)
        body.append(
            "<tr>"
            f'<td class="num" data-v="{r.rank}">{r.rank}</td>'
            f'<td data-v="{_e(r.lead_name)}"><strong>{_e(r.lead_name)}</strong><br>{_e(r.address)}'
            f"<br><small>household {_e(r.household_id)} · {_e(r.members)} people</small></td>"
            f'<td class="num" data-v="{r.probability:.6f}">{r.probability:.0%}<br>'
            f'<span class="band-{band}">{_e(r.band)}</span></td>'
            f'<td data-v="{_e(r.flag)}" class="{_e(r.flag)}">{_e(r.flag)}</td>'
            f'<td data-v="{len(r.reasons or [])}"><ul>{reasons or NO_REASON}</ul></td>'
            f'<td data-v="{len(r.protective or [])}"><ul>{protect}</ul></td>'
            f'<td data-v="{len(r.support or [])}"><ul>{support}</ul></td>'
            "</tr>"
        )
    heads = [("rank", "Rank", "num"), ("household", "Household", "text"), ("risk", "Risk", "num"),
             ("flag", "Flag", "text"), ("reasons", "Why flagged", "num"),
             ("protective", "Strengths", "num"), ("support", "Support to offer", "num")]  # fmt: skip
    th = "".join(f'<th data-key="{k}" data-type="{t}" scope="col">{_e(label)}</th>' for k, label, t in heads)
    title = f"{team}: households to contact, as of {meta['as_of']}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{_e(title)}</title><style>{STYLE}</style></head>
<body>
<div class="marking">{MARKING}</div>
<h1>{_e(title)}</h1>
<p>{_e(meta["council"])} · model {_e(meta["model"])} · {len(rows)} households, highest risk first.
Reasons come from the council's own records, with the source and the date the council knew them.
A flag is a prompt to offer help, not a decision about anyone.</p>
{notes}
<table><thead><tr>{th}</tr></thead><tbody>
{"".join(body)}
</tbody></table>
<div class="marking">{MARKING}</div>
<script>{SCRIPT}</script>
</body></html>
"""


def write_status(root: Path, status: dict) -> None:
    """status.json and status.html: what the last run did and which list is current."""
    files.private_dir(root)
    files.write_text(root / "status.json", json.dumps(status, indent=2, default=str))
    outcome = status["outcome"]
    colour = {"ok": "#155724", "degraded": "#b35c00", "failed": "#a00", "running": "#004085"}[outcome]
    current = status.get("current_list")
    stale = ""
    if current and current["as_of"] < status["as_of"]:  # a backfill of an earlier date is not stale
        stale = (
            f'<p class="note">The latest list is from <strong>{_e(current["as_of"])}</strong>, not '
            f"{_e(status['as_of'])}: tonight's list was not published. Use it knowing it is out of date.</p>"
        )
    lists = "".join(
        f'<li><a href="{_e(Path(p).relative_to(root).as_posix())}">{_e(team)}</a></li>'
        for team, p in (current or {}).get("lists", {}).items()
    )
    text = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>riskflag nightly status</title>
<style>{STYLE}</style></head><body>
<div class="marking">{MARKING}</div>
<h1>Nightly run for {_e(status["as_of"])}: <span style="color:{colour}">{_e(outcome.upper())}</span></h1>
<p>{_e(status.get("message", ""))}</p>
<p>Started {_e(status.get("started"))}; finished {_e(status.get("finished") or "not yet")}.</p>
{stale}
<h2>Current lists{f" (as of {_e(current['as_of'])})" if current else ""}</h2>
<ul>{lists or "<li>none published yet</li>"}</ul>
</body></html>
"""
    files.write_text(root / "status.html", text)


def previous_flags(root: Path, as_of: date) -> list[set[str]]:
    """Flagged households of earlier published runs, latest first."""
    runs = []
    if root.is_dir():
        for p in root.iterdir():
            try:
                d = date.fromisoformat(p.name)
            except ValueError:
                continue
            if d < as_of and (p / "cohort.parquet").is_file():
                runs.append((d, p / "cohort.parquet"))
    out = []
    for _, path in sorted(runs, reverse=True):
        t = pq.read_table(path, columns=["household_id", "team"]).to_pandas()
        out.append(set(t.loc[t["team"].notna(), "household_id"]))
    return out


def now_iso(now: datetime) -> str:
    return now.isoformat(timespec="seconds")
