"""The `riskflag` command: one Typer app whose commands only parse, call a stage and print."""

from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from riskflag import __version__
from riskflag.errors import UserError

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
) -> None:
    """Synthesise a council: extracts as its systems deliver them, and a separate truth folder."""
    from riskflag.synth.run import synthesise

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", start):
        raise UserError(f"--start: expected a month as YYYY-MM; got {start!r}")
    summary = run_synth(out_dir, households, months, seed, start, synthesise)
    _print_synth(summary)


def run_synth(out_dir: Path, households: int, months: int, seed: int, start: str, synthesise) -> dict:
    with _progress() as bar:
        task = bar.add_task("Synthesising", total=1.0)
        return synthesise(
            out_dir,
            households=households,
            months=months,
            seed=seed,
            start=start,
            progress=lambda msg, frac: bar.update(task, completed=frac, description=msg),
        )


def _print_synth(summary: dict) -> None:
    t = Table(title="Synthetic council", show_header=False)
    for k, v in summary["counts"].items():
        t.add_row(k.replace("_", " "), f"{v:,}")
    t.add_row("time (s)", ", ".join(f"{k} {v}" for k, v in summary["timings_s"].items()))
    out.print(t)
    root = Path(summary["out"])
    out.print(f"Extracts: [bold]{root / 'extracts'}[/]  (what the council's systems deliver)")
    out.print(f"Truth:    [bold]{root / 'truth'}[/]  (only evaluation commands read it)")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Demo folder.")] = Path("demo"),
    households: Annotated[int, typer.Option(min=200, help="Households in the demo borough.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
) -> None:
    """Run the main job end to end on the synthetic council and say where to look."""
    from riskflag.config import load_config
    from riskflag.synth.run import synthesise

    council = out_dir / "council"
    manifest = council / "synth_manifest.json"
    if manifest.is_file() and _same_demo(manifest, households, seed):
        out.print(f"Synthetic council already built at [bold]{council}[/] (delete it to rebuild).")
    else:
        summary = run_synth(council, households, 60, seed, "2021-11", synthesise)
        _print_synth(summary)
    cfg = load_config(Path("configs/council.yaml"))
    out.print(f"Council config: configs/council.yaml ({cfg.council.name}; {len(cfg.sources)} sources mapped)")
    out.print(
        "Stages available so far: synthesise. Later stages (validate, link, train, nightly) plug in here."
    )


def _same_demo(manifest: Path, households: int, seed: int) -> bool:
    import json

    args = json.loads(manifest.read_text()).get("arguments", {})
    return args.get("households") == households and args.get("seed") == seed


def main() -> None:
    """Entry point: user errors print one line and exit non-zero; bugs keep their traceback.

    Typer reports bad options itself (a usage line and exit code 2)."""
    try:
        app()
    except UserError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
