"""The `riskflag` command: one Typer app whose commands only parse, call a stage and print."""

from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import re
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from riskflag import __version__
from riskflag.errors import UserError

if TYPE_CHECKING:
    from riskflag.config import CouncilConfig
    from riskflag.ingest import RunResult

app = typer.Typer(
    name="riskflag",
    help=(
        "Early warning of homelessness for UK councils: link the council's own data, score "
        "every household's risk, and give prevention teams a list they can act on."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()


def _version(value: bool) -> None:
    if value:
        out.print(f"riskflag {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """riskflag: see `riskflag COMMAND --help`."""


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@app.command()
def synth(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder to write the council into (replaced whole).")
    ],
    households: Annotated[
        int, typer.Option(min=200, max=2_000_000, help="Households in the borough.")
    ] = 20_000,
    months: Annotated[int, typer.Option(min=26, max=240, help="Months simulated.")] = 60,
    seed: Annotated[int, typer.Option(help="Random seed: same seed and arguments, same bytes.")] = 42,
    start: Annotated[str, typer.Option(help="First simulated month, YYYY-MM.")] = "2021-11",
    advice_from_threats: Annotated[
        bool,
        typer.Option(
            help="Experiment: families facing a threat ask for housing advice, naming it "
            "(docs/model.md); off gives the default world."
        ),
    ] = False,
) -> None:
    """Synthesise a council: extracts as its systems deliver them, and a separate truth folder."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", start):
        raise UserError(f"--start: expected a month as YYYY-MM; got {start!r}")
    _print_synth(_synthesise(out_dir, households, months, seed, start, advice_from_threats))


def _writable(out_dir: Path) -> None:
    """A folder we can create and write into, or one clear line saying why not."""
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        probe = out_dir.parent / f".{out_dir.name}.probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"--out: cannot write to {out_dir} ({exc.strerror or exc})") from None
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out: {out_dir} is a file, not a folder")


def _synthesise(
    out_dir: Path, households: int, months: int, seed: int, start: str, advice_from_threats: bool = False
) -> dict:
    from riskflag.synth import synthesise

    _writable(out_dir)
    with _progress() as bar:
        task = bar.add_task("Synthesising", total=1.0)
        return synthesise(
            out_dir,
            households=households,
            months=months,
            seed=seed,
            start=start,
            progress=lambda msg, frac: bar.update(task, completed=frac, description=msg),
            advice_from_threats=advice_from_threats,
        )


def _print_synth(summary: dict) -> None:
    t = Table(title="Synthetic council", show_header=False)
    for k, v in summary["counts"].items():
        t.add_row(k.replace("_", " "), f"{v:,}")
    if "timings_s" in summary:
        t.add_row("time (s)", ", ".join(f"{k} {v}" for k, v in summary["timings_s"].items()))
    out.print(t)
    q = Table(title="The oracle: the best any model could do (truth, pooled over as-of dates)")
    for col in ("horizon (days)", "base rate", "observed / expected", "AUC", "precision in top 1%"):
        q.add_column(col, justify="right")
    for h, v in summary.get("oracle_quality", {}).items():
        q.add_row(h, f"{v['base_rate']:.2%}", f"{v['observed_over_expected']:.3f}", f"{v['auc']:.3f}",
                  f"{v['precision_top_1pct']:.1%}")  # fmt: skip
    out.print(q)
    root = Path(summary["out"])
    out.print(f"Extracts: [bold]{root / 'extracts'}[/]  (what the council's systems deliver)")
    out.print(f"Truth:    [bold]{root / 'truth'}[/]  (only evaluation commands read it)")
    out.print(f"Manifest: [bold]{root / 'synth_manifest.json'}[/]  (arguments, SHA-256 of every extract)")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Demo folder.")] = Path("demo"),
    households: Annotated[int, typer.Option(min=200, help="Households in the demo borough.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    config: Annotated[Path, typer.Option(help="The demo council's config.")] = Path("configs/council.yaml"),
) -> None:
    """Run the main job end to end on the synthetic council and say where to look."""
    from riskflag.jobs import demo as job

    res = job.run(out_dir, households, seed, config, _demo_steps())
    first = next(iter(res.lists.values()))
    out.print(
        f"Done: synthesise, validate, link, train, promote, nightly. Open the first team's list in a "
        f"browser: [bold]{first.resolve().as_uri()}[/]"
    )


def _demo_steps() -> Any:
    from riskflag.jobs import demo

    def synthesise(out_dir: Path, households: int, months: int, seed: int, start: str) -> None:
        _print_synth(_synthesise(out_dir, households, months, seed, start))

    def reuse(council: Path) -> None:
        import json

        out.print(f"Synthetic council already built at [bold]{council}[/] (delete it to rebuild).")
        summary = json.loads((council / "truth" / "summary.json").read_text(encoding="utf-8"))
        _print_synth({**summary, "out": str(council)})

    def configured(path: Path, cfg: CouncilConfig) -> None:
        out.print(f"Council config: {path} ({cfg.council.name}; {len(cfg.sources)} sources mapped)")

    return demo.Steps(
        synthesise, reuse, configured, _validate, _link_train, _link_run, _evaluate_linkage,
        _link_replay, _train, _promote, _evaluate_model, _nightly,
    )  # fmt: skip


def _as_of(value: str | None) -> date:
    """The only place riskflag reads the wall clock: the default as-of date is today."""
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--as-of: expected a date as YYYY-MM-DD; got {value!r}") from None


@app.command("validate")
def validate_cmd(
    config: Annotated[Path, typer.Option(help="The council's config.")] = Path("configs/council.yaml"),
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Validate deliveries up to this date, YYYY-MM-DD (default today)."),
    ] = None,
) -> None:
    """Check every new delivery against its data contract, quarantine broken rows, load the rest.

    Exit code 0 when every source critical to scoring passed (the run may be degraded), 1 when
    one failed and tonight's scoring must not run."""
    from riskflag.config import load_config

    cfg = load_config(config)
    run = _validate(cfg, _as_of(as_of))
    raise typer.Exit(1 if run.status == "stopped" else 0)


def _validate(cfg: CouncilConfig, as_of: date) -> RunResult:
    from riskflag.ingest import validate_council

    with _progress() as bar:
        task = bar.add_task("Validating", total=None)
        run, paths = validate_council(
            cfg, as_of, progress=lambda source, what: bar.update(task, description=f"{source}: {what}")
        )
    _print_validation(run, paths)
    return run


def _print_validation(run: RunResult, paths: dict[str, Path]) -> None:
    t = Table(title=f"Validation as of {run.as_of.isoformat()}: {run.status.upper()}")
    for col in ("source", "status", "new", "rows read", "accepted", "quarantined", "held", "top rule"):
        numeric = col in ("new", "rows read", "accepted", "quarantined", "held")
        t.add_column(col, justify="right" if numeric else "left", no_wrap=col != "top rule")
    for s in run.sources:
        tot = list(s.totals().values())
        top = next((f"{r} ({n:,})" for r, n in s.top_rules()), "")
        status = {"ok": "[green]ok[/]", "failed": "[red]FAILED[/]" if s.critical else "[yellow]left out[/]"}[
            s.status
        ]
        t.add_row(s.source, status, str(len(s.deliveries)), *(f"{n:,}" for n in tot), top)
    out.print(t)
    for s in run.sources:
        if s.message:
            out.print(f"[bold]{s.source}[/]: {s.message}", highlight=False)
    conserved = run.to_dict()["rows_conserved"]
    out.print(
        f"Rows conserved (read = accepted + quarantined + held): {'yes' if conserved else '[red]NO[/]'}"
    )
    out.print(
        f"Report: [bold]{paths['validation.html']}[/]  "
        "(JSON beside it; quarantine.csv has every rejected row)"
    )


link_app = typer.Typer(
    help="Link people, households and properties across every source.", no_args_is_help=True
)
evaluate_app = typer.Typer(
    help="Measure a stage against the synthetic council's truth.", no_args_is_help=True
)
app.add_typer(link_app, name="link")
app.add_typer(evaluate_app, name="evaluate")

ConfigOpt = Annotated[Path, typer.Option("--config", help="The council's config.")]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Link what was known on this date, YYYY-MM-DD (default today).")
]


@link_app.command("train")
def link_train(config: ConfigOpt = Path("configs/council.yaml"), as_of: AsOfOpt = None) -> None:
    """Train the person-linkage model (Splink) and write a new model version with its report."""
    from riskflag.config import load_config

    _link_train(load_config(config), _as_of(as_of))


def _link_train(cfg: CouncilConfig, as_of: date) -> Any:
    from riskflag.linkage import train_council

    with _progress() as bar:
        task = bar.add_task("Training", total=None)
        res = train_council(cfg, as_of, say=lambda what: bar.update(task, description=what))
    r = res.report
    out.print(
        f"Person-linkage model [bold]{r['version']}[/]: {r['identities']:,} identities from "
        f"{r['mentions']:,} mentions; u from {r['u_pairs']:,.0f} random pairs, m by EM over "
        f"{' / '.join(r['em_rules'])}."
    )
    out.print(f"Model: [bold]{res.model}[/]  (training_report.json beside it)")
    return res


@link_app.command("run")
def link_run(
    config: ConfigOpt = Path("configs/council.yaml"),
    as_of: AsOfOpt = None,
    model: Annotated[Path | None, typer.Option(help="Model JSON (default: the newest trained).")] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Relink everything, not only what is new since the last run.")
    ] = False,
) -> None:
    """Link every person-bearing record to a person, and people to homes, with the trained model.

    After a first full relink, a run scores only the pairs involving new records (incremental),
    until the last full relink is older than linkage.full_relink_days or the model changes."""
    from riskflag.config import load_config

    _link_run(load_config(config), _as_of(as_of), model, full)


def _link_run(cfg: CouncilConfig, as_of: date, model: Path | None = None, full: bool = False) -> Any:
    from riskflag.linkage import link_council

    with _progress() as bar:
        task = bar.add_task("Linking", total=None)
        s = link_council(cfg, as_of, model, full=full, say=lambda what: bar.update(task, description=what))
    t = Table(title=f"Linkage as of {s.as_of} ({s.mode}: {s.new_identities:,} identities scored anew)")
    t.add_column("what")
    t.add_column("count", justify="right")
    for label, n in [
        ("rows naming a person", s.mention_rows),
        ("records x people named (mentions)", s.mentions),
        ("distinct identities", s.identities),
        ("people", s.persons),
        ("comparisons generated by blocking", s.comparisons),
        ("pairs scored above the review floor", s.pairs_scored),
        ("pairs for clerical review", s.for_review),
        ("analyst's decisions honoured (overrides)", s.overrides),
        ("addresses matched to a UPRN", s.addresses_matched),
        ("addresses unmatched (kept, with the reason)", s.addresses - s.addresses_matched),
        ("person ids kept from the last run", s.ids_kept),
        ("new person ids", s.ids_new),
        ("merges / splits of earlier ids", f"{s.merges} / {s.splits}"),
        ("households, ever (at the as-of date)", f"{s.households:,} ({s.households_now:,})"),
        (
            "household ids kept; merges / splits",
            f"{s.household_ids_kept:,}; {s.household_merges} / {s.household_splits}",
        ),
    ]:
        t.add_row(label, f"{n:,}" if isinstance(n, int) else str(n))
    out.print(t)
    out.print(f"Largest people (identities each): {s.largest_clusters}")
    out.print(f"Diagnostics: [bold]{s.outputs['linkage.json']}[/]; review: {s.outputs['review.csv']}")
    return s


@link_app.command("replay")
def link_replay(
    config: ConfigOpt = Path("configs/council.yaml"),
    as_of: AsOfOpt = None,
    model: Annotated[Path | None, typer.Option(help="Model JSON (default: the newest trained).")] = None,
) -> None:
    """Link the history as the council knew it at each month end training uses, then at the
    as-of date, so that features at past dates use the linkage as it stood then.

    Run it once after the history extract is loaded (and again after retraining the person model);
    nightly runs keep the linkage history up to date from then on. The warehouse is left linked as
    a run at the as-of date leaves it."""
    from riskflag.config import load_config

    _link_replay(load_config(config), _as_of(as_of), model)


def _link_replay(cfg: CouncilConfig, as_of: date, model: Path | None = None) -> dict[str, Any]:
    from riskflag.jobs import replay

    dates = replay.replay_dates(cfg, as_of)
    with _progress() as bar:
        task = bar.add_task("Replaying", total=len(dates))
        done: list[date] = []

        def step(day: date) -> None:
            if done:
                bar.advance(task)
            done.append(day)
            bar.update(task, description=f"linking as known on {day}")

        doc = replay.replay(cfg, as_of, model, progress=step)
        bar.advance(task)
    runs = doc["runs"]
    out.print(
        f"Linked the history at {len(runs)} dates, {runs[0]['as_of']} to {runs[-1]['as_of']} "
        f"(people then: {runs[0]['persons']:,}; now: {runs[-1]['persons']:,}). "
        f"Manifest: [bold]{cfg.output_folder / doc['run_id'] / 'manifest.json'}[/]"
    )
    return doc


@link_app.command("review")
def link_review(
    config: ConfigOpt = Path("configs/council.yaml"),
    apply: Annotated[
        Path | None,
        typer.Option("--apply", help="A review.csv with decisions written in (same / different)."),
    ] = None,
    reviewer: Annotated[str, typer.Option(help="Who decided, recorded with each decision.")] = "analyst",
) -> None:
    """Clerical review: where the newest uncertain pairs are, and record an analyst's decisions.

    Decisions become must-link or cannot-link overrides that every later link run honours."""
    from riskflag.config import load_config
    from riskflag.linkage import apply_review, pending_review

    cfg = load_config(config)
    path = cfg.linkage.overrides_path(cfg)
    if apply is not None:
        done = apply_review(apply, path, reviewer, date.today())
        out.print(
            f"Recorded {done.must_link} same-person and {done.cannot_link} different-people decisions "
            f"({done.pending} left blank for later). {done.overrides} decisions in force: [bold]{path}[/]"
        )
        out.print("They take effect at the next `riskflag link run`.")
        return
    p = pending_review(cfg)
    out.print(f"Newest review file: [bold]{p.review}[/] ({p.pairs:,} pairs to decide)")
    out.print(
        "Write 'same' or 'different' in its decision column (and a note if you like), then run "
        f"`riskflag link review --apply {p.review.name} --reviewer NAME`. "
        f"Decisions in force: {p.in_force} ({path})."
    )


@evaluate_app.command("linkage")
def evaluate_linkage_cmd(
    truth: Annotated[Path, typer.Option("--truth", help="The synthetic council's truth folder.")],
    config: ConfigOpt = Path("configs/council.yaml"),
) -> None:
    """Person, household and address linkage quality against the truth (synthetic councils only)."""
    from riskflag.config import load_config

    _evaluate_linkage(load_config(config), truth)


def _evaluate_linkage(cfg: CouncilConfig, truth: Path) -> dict:
    from riskflag.jobs import evaluation

    lk = cfg.linkage
    res, written = evaluation.linkage(cfg, truth)
    t = Table(title=f"Person linkage against the truth (linking at {lk.cluster_at}: marked *)")
    for col in ("threshold", "over", "pair precision", "pair recall", "F1", "B3 precision", "B3 recall"):
        t.add_column(col, justify="right", min_width=10 if col == "over" else None)
    for th, parts in res["thresholds"].items():
        for over, m in parts.items():
            t.add_row(
                f"{th} *" if float(th) == lk.cluster_at else th,
                over,
                *(
                    f"{m[k]:.4f}"
                    for k in (
                        "pairwise_precision",
                        "pairwise_recall",
                        "pairwise_f1",
                        "bcubed_precision",
                        "bcubed_recall",
                    )
                ),
            )
    out.print(t)
    h, a = res["households"], res["addresses"]
    out.print(
        f"Households (who lived with whom at the last {len(h['dates'])} quarter ends, B-cubed): precision "
        f"{h['bcubed_precision']:.4f}, recall {h['bcubed_recall']:.4f} over {h['items']:,} person-dates"
    )
    out.print(
        f"Addresses: {a['matched_to_true_uprn']:.2%} of {a['records_in_borough']:,} in-borough records "
        f"matched to their UPRN; {a['out_of_borough_matched']:.2%} of {a['records_out_of_borough']:,} "
        "out-of-borough records matched to anything"
    )
    out.print(f"Written: [bold]{written}[/]")
    return res


@app.command("train")
def train_cmd(
    config: ConfigOpt = Path("configs/council.yaml"),
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Train on what was known by this date, YYYY-MM-DD (default today)."),
    ] = None,
) -> None:
    """Train the household-risk model: features and labels at monthly as-of dates, LightGBM,
    calibration on a later period, evaluation beside two baselines, a fairness audit; logged and
    registered in MLflow as the challenger (`riskflag promote` makes it the champion)."""
    from riskflag.config import load_config

    _train(load_config(config), _as_of(as_of))


def _train(cfg: CouncilConfig, as_of: date) -> Any:
    from riskflag.jobs import training

    with _progress() as bar:
        task = bar.add_task("Training", total=None)
        run = training.train_and_register(cfg, as_of, say=lambda what: bar.update(task, description=what))
    _print_evaluation(
        run.trained.evaluation,
        cfg,
        f"Evaluation period {', '.join(map(str, run.trained.periods.evaluation))}",
    )
    linked = sum(c["linked_point_in_time"] for c in run.trained.counts.values())
    dates = sum(c["as_of_dates"] for c in run.trained.counts.values())
    if linked < dates:
        out.print(
            f"[yellow]Households at {dates - linked} of {dates} month ends came from today's linkage, "
            "which knows later records: run `riskflag link replay` to train on the linkage as it stood.[/]"
        )
    out.print(
        f"Registered [bold]{cfg.registered_name}[/] version {run.logged.version} as the challenger "
        f"(MLflow run {run.logged.run_id}); report: [bold]{run.report}[/]"
    )
    out.print(f"Open MLflow: mlflow ui --backend-store-uri {cfg.tracking_uri}")
    return run


def _print_evaluation(evaluation: dict, cfg: CouncilConfig, title: str) -> None:
    t = Table(title=title)
    capacity = sum(team.capacity for team in cfg.teams)
    for col in ("score", "AUC", "avg precision", "Brier", "obs/exp", "cal. slope",
                f"prec. @ {capacity}", "prec. top 1%", "prec. top 5%"):  # fmt: skip
        t.add_column(col, justify="left" if col == "score" else "right")

    def ci(e: dict) -> str:
        return f"{e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"

    for name, e in evaluation.items():
        t.add_row(
            name,
            ci(e["auc"]),
            f"{e['average_precision']:.3f}",
            f"{e['brier']['value']:.4f}",
            ci(e["observed_over_expected"]),
            ci(e["calibration_slope"]),
            f"{e['at_capacity']['precision']:.3f}",
            f"{e['top_1pct']['precision']:.3f}",
            f"{e['top_5pct']['precision']:.3f}",
        )
    out.print(t)


@app.command("promote")
def promote_cmd(
    config: ConfigOpt = Path("configs/council.yaml"),
    version: Annotated[
        str | None, typer.Option(help="The registered version to promote (default: the challenger).")
    ] = None,
) -> None:
    """Make the challenger the champion the nightly run scores with, if it passes the gates in
    the config (calibration, fairness, no worse than the champion); the decision and its reasons
    are recorded in the registry either way. Exit code 1 when refused."""
    from riskflag.config import load_config

    ok = _promote(load_config(config), version)
    raise typer.Exit(0 if ok else 1)


def _promote(cfg: CouncilConfig, version: str | None = None) -> bool:
    from riskflag.modeling import promote

    d = promote(cfg, version, date.today())
    if d.promoted:
        before = f" (was version {d.champion_before})" if d.champion_before else ""
        out.print(f"[green]Promoted[/] {cfg.registered_name} version {d.version} to champion{before}.")
    else:
        out.print(f"[red]Refused[/] {cfg.registered_name} version {d.version}:")
        for r in d.reasons:
            out.print(f"  - {r}", highlight=False)
    return d.promoted


@evaluate_app.command("model")
def evaluate_model_cmd(
    truth: Annotated[Path, typer.Option("--truth", help="The synthetic council's truth folder.")],
    config: ConfigOpt = Path("configs/council.yaml"),
    version: Annotated[
        str | None, typer.Option(help="The registered version (default: the challenger).")
    ] = None,
) -> None:
    """A registered model against the synthetic council's oracle (the ceiling), with the
    fairness audit repeated on the truth's full demographics (synthetic councils only)."""
    from riskflag.config import load_config

    _evaluate_model(load_config(config), truth, version)


def _evaluate_model(cfg: CouncilConfig, truth: Path, version: str | None = None) -> dict:
    from riskflag.jobs import evaluation

    with _progress() as bar:
        bar.add_task("Scoring the evaluation period and the oracle", total=None)
        res, written = evaluation.model(cfg, truth, version)
    _print_evaluation(
        {"model": res["model"], "oracle": res["oracle"]},
        cfg,
        f"Version {res['version']} against the oracle, {', '.join(res['evaluation_dates'])}",
    )
    r = res["rules"]
    out.print(
        f"Rules baseline: AUC {r['auc']:.3f}, precision at capacity {r['at_capacity_precision']:.3f}, "
        f"top 1% {r['top_1pct_precision']:.3f}."
    )
    out.print(
        f"Oracle-expected precision at capacity: {res['oracle_expected_precision_at_capacity']:.3f} "
        f"(top 1%: {res['oracle_expected_precision_top_1pct']:.3f}); AUC gap to the oracle "
        f"{res['auc_gap_to_oracle']:.3f}."
    )
    for label, key in (
        ("recorded equality fields", "fairness_recorded"),
        ("the truth's demographics", "fairness_with_truth"),
    ):
        cov = ", ".join(f"{k} {v:.0%}" for k, v in res[key]["coverage"].items())
        judged = [t for t in res[key]["table"] if t["judged"]]
        low = min(judged, key=lambda t: t["recall_at_capacity_ratio"], default=None)
        worst = (
            f"lowest recall ratio {low['recall_at_capacity_ratio']:.2f} ({low['attribute']} = {low['group']})"
            if low
            else "no group large enough to judge"
        )
        out.print(f"Fairness with {label} (coverage {cov}): {worst}.")
    out.print(f"Written: [bold]{written}[/]")
    return res


@app.command("nightly")
def nightly_cmd(
    config: ConfigOpt = Path("configs/council.yaml"),
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Score as of this date, YYYY-MM-DD (default today); earlier dates backfill."
        ),
    ] = None,
) -> None:
    """The nightly run: validate tonight's deliveries, link what is new, score every household with
    the champion model, explain the flagged ones and publish each team's list.

    Exit code 0 when a list was published (1 when the run stopped; yesterday's list stays, and
    the status page says so; 3 when another run holds the lock)."""
    from riskflag.config import load_config

    _nightly(load_config(config), _as_of(as_of))


def _nightly(cfg: CouncilConfig, as_of: date) -> Any:
    from riskflag.jobs import nightly as job

    try:
        with _progress() as bar:
            task = bar.add_task("Nightly", total=None)
            res = job.nightly(cfg, as_of, say=lambda what: bar.update(task, description=f"Nightly: {what}"))
    except UserError:
        console.print(f"Status page: [bold]{job.root(cfg) / 'status.html'}[/]")
        raise
    c = res.counts
    t = Table(title=f"Nightly run as of {as_of}: {res.outcome.upper()}")
    t.add_column("what")
    t.add_column("count", justify="right")
    t.add_row("households scored (the cohort)", f"{c['cohort']:,}")
    for team, n in c["flagged_by_team"].items():
        t.add_row(f"flagged for {team}", f"{n:,}")
    for k, n in c["flagged_by_status"].items():
        t.add_row(f"  of which {k}", f"{n:,}")
    for k, n in {**c["suppressed"], **c["excluded_from_cohort"]}.items():
        t.add_row(f"not flagged: {k}", f"{n:,}")
    out.print(t)
    for n in res.notes:
        out.print(f"[yellow]{n}[/]", highlight=False)
    for team, path in res.lists.items():
        out.print(f"{team}: [bold]{path}[/]")
    out.print(f"Cohort: {res.folder / 'cohort.csv'} (and .parquet); manifest and status page beside them.")
    return res


@app.command("subject-access")
def subject_access_cmd(
    config: ConfigOpt = Path("configs/council.yaml"),
    person: Annotated[
        str | None, typer.Option(help="A person's name as the council records it, e.g. 'Jane Smith'.")
    ] = None,
    dob: Annotated[
        str | None, typer.Option(help="Their date of birth, YYYY-MM-DD, to narrow a name.")
    ] = None,
    household: Annotated[str | None, typer.Option(help="A household reference (H…) from a list.")] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="JSON file to write (default beside the runs).")
    ] = None,
) -> None:
    """Everything riskflag has produced about a person or household (scores, flags, reasons,
    model versions) and the source records behind it, for a subject access request or an appeal."""
    from riskflag.config import load_config
    from riskflag.scoring import export

    if (person is None) == (household is None):
        raise UserError("give exactly one of --person or --household")
    cfg = load_config(config)
    path, summary = export(cfg, person=person, dob=dob, household=household, out=out_file)
    out.print(summary, highlight=False)
    out.print(f"Written: [bold]{path}[/] (OFFICIAL-SENSITIVE: it holds personal data)")


def main() -> None:
    """Entry point: user errors print one line and exit non-zero; bugs keep their traceback.

    Typer reports bad options itself (a usage line and exit code 2)."""
    try:
        app()
    except UserError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
