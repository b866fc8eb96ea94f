"""One writer at a time: a kernel lock (flock), which the kernel releases when its holder dies,
so a killed run never leaves a stale lock behind."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from riskflag.errors import UserError


class Locked(UserError):
    exit_code = 3


@contextmanager
def exclusive(path: Path, holder: str = "another riskflag run") -> Iterator[None]:
    """Hold `path` exclusively, or refuse at once with one line naming it and the holder's pid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise Locked(f"{path}: {holder} holds the lock (pid {pid}); refusing to start") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
