"""What `/ready` reports: each part of the process says whether it can do its job."""

from __future__ import annotations

from msgspec import Struct


class Readiness(Struct, frozen=True):
    ready: bool
    checks: dict[str, str]
