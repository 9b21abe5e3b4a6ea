"""What the renderers share: QEMU's number formats and C quirks."""

from __future__ import annotations

import math
import struct
from typing import Any, Iterable, List, Optional

__all__ = ["size_to_str", "range_list", "float32", "c_str", "on_off", "u64"]

_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")

_U64 = (1 << 64) - 1


def u64(value: int) -> int:
    """``value`` as C's ``uint64_t`` would hold it (``-1`` -> ``2**64 - 1``)."""
    return value & _U64


def size_to_str(value: int) -> str:
    """QEMU's ``size_to_str``: ``%0.3g`` plus a binary unit (``1.12 MiB``, ``0 B``).

    The unit is chosen so that the number shown stays below 1000: the switch
    to the next unit happens at 1000/1024 of it.

    :param value: a size in bytes (taken as unsigned 64-bit).
    """
    value = u64(int(value))
    _, exp = math.frexp(value / (1000.0 / 1024.0))
    index = int((exp - 1) / 10)  # C division truncates toward zero
    index = max(0, min(index, len(_SUFFIXES) - 1))
    return "%0.3g %sB" % (value / float(1 << (index * 10)), _SUFFIXES[index])


def range_list(numbers: Iterable[int]) -> str:
    """Numbers as QEMU's string output visitor prints an integer list.

    Sorted, duplicates merged, consecutive runs written ``a-b``:
    ``[5, 0, 1, 2, 3]`` -> ``"0-3,5"``; an empty list gives ``""``.
    """
    values = sorted(set(int(n) for n in numbers))
    parts: List[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        parts.append(str(values[i]) if i == j else f"{values[i]}-{values[j]}")
        i = j + 1
    return ",".join(parts)


def float32(value: float) -> float:
    """``value`` rounded to a C ``float`` (QEMU stores some percentages so)."""
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


def c_str(value: Optional[Any]) -> str:
    """A string member as glibc's ``%s`` prints it: ``(null)`` when absent."""
    return "(null)" if value is None else str(value)


def on_off(value: Any) -> str:
    """``on`` for a true value, ``off`` otherwise."""
    return "on" if value else "off"
