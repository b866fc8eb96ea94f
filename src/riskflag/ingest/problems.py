"""The two ways a delivery can fail: one row (quarantined) or the whole delivery (stopped)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reject:
    """A row that cannot be accepted, and why: the quarantine's unit."""

    row: int
    field: str
    rule: str
    value: str | None


class DeliveryStop(Exception):
    """A delivery that cannot be used at all; `rule` names the check, the message what to do."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
