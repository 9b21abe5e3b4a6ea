"""QMP events as one readable line each, for operators who ask for them."""

from __future__ import annotations

import datetime
from typing import Any, Mapping

__all__ = ["format_event"]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}={_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_value(v) for v in value) + "]"
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


def format_event(event: Mapping[str, Any], utc: bool = False) -> str:
    """``[HH:MM:SS.mmm] EVENT key=value ...`` (no newline), time from the event's timestamp."""
    stamp = event.get("timestamp") or {}
    seconds = stamp.get("seconds", 0) + stamp.get("microseconds", 0) / 1e6
    zone = datetime.timezone.utc if utc else None
    when = datetime.datetime.fromtimestamp(seconds, zone).strftime("%H:%M:%S.%f")[:-3]
    data = event.get("data") or {}
    details = "".join(f" {key}={_value(value)}" for key, value in data.items())
    return f"[{when}] {event.get('event', '?')}{details}"
