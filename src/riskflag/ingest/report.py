"""What a validation run tells its readers: JSON for machines, HTML for the data officer, and a
quarantine CSV a spreadsheet can open safely.

The reports leave the warehouse, so direct identifiers in quarantined values are masked (the
full value stays in the warehouse's quarantine table, where access is controlled), and every
value is escaped for where it goes: HTML-escaped in the page, formula-neutralised in the CSV.
"""

from __future__ import annotations

import csv
import html
import json
from datetime import date, datetime
from pathlib import Path

import duckdb

from riskflag.contracts import load_contract
from riskflag.core import files
from riskflag.core.safe import spreadsheet_safe
from riskflag.ingest.validate import RunResult

SAMPLE = 25


def masked(value: str | None, classification: str) -> str:
    """A direct identifier shows its first character and length only."""
    if value is None:
        return ""
    if classification == "direct_identifier":
        return f"{value[:1]}… ({len(value)} characters)"
    return value if len(value) <= 120 else value[:117] + "..."


def quarantine_rows(con: duckdb.DuckDBPyConnection, run: RunResult, limit: int | None = SAMPLE) -> list[dict]:
    """The run's quarantined rows, at most `limit` per source, with identifiers masked."""
    classes = {}
    for s in run.sources:
        classes[s.source] = {f.name: f.classification for f in load_contract(s.source).fields}
    cap = (
        ""
        if limit is None
        else f"QUALIFY row_number() OVER (PARTITION BY source ORDER BY name, row) <= {int(limit)}"
    )
    rows = con.execute(
        f'SELECT source, name, "row", field, rule, value FROM quarantine WHERE run_id = ? {cap} '
        'ORDER BY source, name, "row", field, rule',
        [run.run_id],
    ).fetchall()
    return [
        {
            "source": src,
            "file": name,
            "row": row,
            "field": fld,
            "rule": rule,
            "value": masked(value, _classification(classes.get(src, {}), fld, rule)),
        }
        for src, name, row, fld, rule, value in rows
    ]


def _classification(fields: dict[str, str], field: str, rule: str) -> str:
    """A whole-row rule's value is the row's text, which names people; a field's is its class."""
    if field == "":
        return "direct_identifier" if rule in ("wrong_field_count", "invalid_encoding") else "operational"
    return fields.get(field, "direct_identifier")


def _json_default(o: object) -> str:
    if isinstance(o, date | datetime):
        return o.isoformat()
    raise TypeError(type(o).__name__)


def write_reports(con: duckdb.DuckDBPyConnection, run: RunResult, folder: Path) -> dict[str, Path]:
    """Write validation.json, validation.html, quarantine.csv and manifest.json atomically and
    owner-only (quarantined values are personal data), so a reader never sees half a report."""
    sample = quarantine_rows(con, run)
    doc = run.to_dict() | {
        "quarantine_sample": sample,
        "values_masked": "direct identifiers show first character and length",
    }
    manifest = {
        "run_id": run.run_id,
        "stage": "validate",
        "as_of": run.as_of.isoformat(),
        "status": run.status,
        "excluded_sources": run.excluded,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "outputs": ["validation.json", "validation.html", "quarantine.csv"],
        "contracts": {s.source: s.contract_version for s in run.sources},
    }

    def write(tmp: Path) -> None:
        (tmp / "validation.json").write_text(
            json.dumps(doc, indent=2, default=_json_default), encoding="utf-8"
        )
        (tmp / "validation.html").write_text(render_html(run, sample), encoding="utf-8")
        with open(tmp / "quarantine.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["source", "file", "row", "field", "rule", "value"])
            for r in quarantine_rows(con, run, limit=None):
                w.writerow(
                    [spreadsheet_safe(str(r[k])) for k in ("source", "file", "row", "field", "rule", "value")]
                )
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")

    files.folder(folder.parent, folder.name, write)
    return {k: folder / k for k in ("validation.json", "validation.html", "quarantine.csv", "manifest.json")}


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v), quote=True)


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b;max-width:80rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f0f0f0} td.n{text-align:right}
.ok{color:#176b2c;font-weight:600}.failed,.stopped{color:#a4000f;font-weight:600}.degraded{color:#8a5a00;font-weight:600}
.banner{padding:.6rem 1rem;border-left:6px solid #999;background:#f7f7f7}
"""


def render_html(run: RunResult, sample: list[dict]) -> str:
    d = run.to_dict()
    status = d["status"]
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>riskflag validation {_e(run.as_of)}</title><style>{STYLE}</style></head><body>",
        "<p><strong>OFFICIAL-SENSITIVE</strong></p>",
        f"<h1>Data validation: {_e(run.council)}</h1>",
        f"<p class='banner'>As of <strong>{_e(run.as_of)}</strong>, run {_e(run.run_id)}: "
        f"<span class='{_e(status)}'>{_e(status.upper())}</span>. ",
    ]
    if status == "stopped":
        out.append("A source critical to scoring failed: tonight's scoring must not run until it is fixed.")
    elif status == "degraded":
        out.append(f"Left out of tonight's run: {_e(', '.join(run.excluded))}.")
    else:
        out.append("Every source passed.")
    out.append(
        " Rows conserved (read = accepted + quarantined + held): "
        f"<strong>{'yes' if d['rows_conserved'] else 'NO'}</strong>.</p>"
    )
    out.append(
        "<table><tr><th>source</th><th>critical</th><th>status</th><th>new deliveries</th><th>unchanged</th>"
        "<th>rows read</th><th>accepted</th><th>quarantined</th><th>held</th><th>newest accepted</th>"
        "<th>most frequent rules</th><th>what to do</th></tr>"
    )
    for s in run.sources:
        tot = s.totals()
        top = "<br>".join(f"{_e(r)}: {n:,}" for r, n in s.top_rules()[:4])
        out.append(
            f"<tr><td>{_e(s.source)}</td><td>{'yes' if s.critical else 'no'}</td>"
            f"<td class='{_e(s.status)}'>{_e(s.status)}</td><td class='n'>{len(s.deliveries)}</td>"
            f"<td class='n'>{s.unchanged}</td>"
            + "".join(f"<td class='n'>{tot[k]:,}</td>" for k in tot)
            + f"<td>{_e(s.latest)}</td><td>{top}</td><td>{_e(s.message or '')}</td></tr>"
        )
    out.append("</table>")
    stopped = [x for s in run.sources for x in s.deliveries if x.status != "accepted" or x.notes]
    if stopped:
        out.append(
            "<h2>Deliveries stopped, skipped or with notes</h2><table><tr><th>delivery</th>"
            "<th>delivered</th><th>outcome</th><th>rule</th><th>message</th></tr>"
        )
        for x in stopped:
            msg = "; ".join([x.message or "", *x.notes]).strip("; ")
            out.append(
                f"<tr><td>{_e(x.name)}</td><td>{_e(x.delivered_on)}</td><td class='{_e(x.status)}'>"
                f"{_e(x.status)}</td><td>{_e(x.rule or '')}</td><td>{_e(msg)}</td></tr>"
            )
        out.append("</table>")
    if sample:
        out.append(
            f"<h2>Quarantined rows (first {SAMPLE} per source)</h2><p>Direct identifiers are masked "
            "here; the full list is in quarantine.csv beside this page and in the warehouse's "
            "quarantine table.</p>"
            "<table><tr><th>source</th><th>file</th><th>row</th><th>field</th><th>rule</th><th>value</th></tr>"
        )
        for r in sample:
            out.append(
                "<tr>"
                + "".join(f"<td>{_e(r[k])}</td>" for k in ("source", "file", "row", "field", "rule", "value"))
                + "</tr>"
            )
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)
