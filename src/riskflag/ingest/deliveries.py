"""Which deliveries of a source exist at an as-of date.

A delivery is one file (or one query result) as the council's system sent it. Its date comes
from its name where the system writes one, so that replaying an earlier as-of date sees only
what had arrived by then; files dated after the as-of date have not arrived yet.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from riskflag.config import CouncilConfig, SourceConfig
from riskflag.errors import ConfigError


@dataclass(frozen=True)
class Delivery:
    source: str
    name: str  # how reports name it: the path under data_folder, or "sql:<source>"
    delivered_on: date
    path: Path | None = None  # None for a SQL source

    def sha256(self) -> str:
        if self.path is None:
            raise ValueError("a query result has no file to hash")
        h = hashlib.sha256()
        with open(self.path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                h.update(chunk)
        return h.hexdigest()


def delivery_date(path: Path, pattern: str) -> date:
    m = re.search(pattern, path.name)
    if m:
        try:
            return date.fromisoformat(m.group(1))
        except ValueError:
            pass
    return datetime.fromtimestamp(path.stat().st_mtime).date()


def discover(cfg: CouncilConfig, source: str, as_of: date) -> list[Delivery]:
    """The source's deliveries up to as_of, oldest first (ties in name order)."""
    sc: SourceConfig = cfg.sources[source]
    if sc.format == "sql":
        return [Delivery(source, f"sql:{source}", as_of)]
    try:
        re.compile(sc.delivered_pattern)
    except re.error as exc:
        raise ConfigError(f"{cfg.path}: sources.{source}.delivered_pattern: not a regex ({exc})") from None
    found = []
    for path in sorted(cfg.data_folder.glob(sc.path)):
        if not path.is_file():
            continue
        on = delivery_date(path, sc.delivered_pattern)
        if on <= as_of:
            found.append(Delivery(source, path.relative_to(cfg.data_folder).as_posix(), on, path))
    found.sort(key=lambda d: (d.delivered_on, d.name))
    return found
