"""A request a trigger refuses before any execution starts: answered with a 4xx (or 5xx)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Rejection(Exception):
    status: int
    message: str
    details: list[str] | None = None
    headers: dict[str, str] | None = None
