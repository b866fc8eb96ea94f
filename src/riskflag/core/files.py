"""Writing outputs so that they appear whole or not at all, readable by their owner only.

Lists, cohort files, the warehouse, quarantine and review files hold personal data. Runs start
from cron, systemd or Airflow under whatever umask those give (often 022: world-readable), so
permissions are set here explicitly rather than inherited. Everything is fsynced before the
rename that makes it visible, so a crash never leaves a file that looks complete but is not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
PARTIAL = ".partial-"
OLD = ".old-"


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed and make `path` itself owner-only."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def make_private(path: Path) -> None:
    """Owner-only permissions on a file, or on a folder and everything in it."""
    if path.is_dir():
        os.chmod(path, DIR_MODE)
        for p in path.rglob("*"):
            os.chmod(p, DIR_MODE if p.is_dir() else FILE_MODE)
    elif path.exists():
        os.chmod(path, FILE_MODE)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes) -> Path:
    """Replace `path` with `data` in one rename, owner-only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def clean_partials(root: Path) -> None:
    """Folders a killed run left half-written: never visible as outputs, removed before the next."""
    if root.is_dir():
        for p in root.iterdir():
            if p.name.startswith((PARTIAL, OLD)):
                shutil.rmtree(p, ignore_errors=True)


def folder(root: Path, name: str, write: Callable[[Path], object]) -> Path:
    """write(tmp) fills a hidden folder beside root/name; it then replaces root/name whole,
    every file in it fsynced and owner-only."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{PARTIAL}{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=DIR_MODE)
    try:
        write(tmp)
        make_private(tmp)
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        _fsync_dir(tmp)
        final = root / name
        old = root / f"{OLD}{name}-{os.getpid()}"
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        _fsync_dir(root)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
