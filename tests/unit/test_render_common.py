"""QEMU's number formats: size_to_str, integer range lists, C float rounding."""

from __future__ import annotations

from typing import List

import pytest

from hmpbridge.render.common import c_str, float32, on_off, range_list, size_to_str, u64


@pytest.mark.parametrize("value, text", [
    (67108864, "64 MiB"),
    (200704, "196 KiB"),
    (0, "0 B"),
    (1175000, "1.12 MiB"),
    (327680, "320 KiB"),
    (999, "999 B"),
    (1000, "0.977 KiB"),
    (1024, "1 KiB"),
    (1023 * 1024, "0.999 MiB"),
    (1 << 30, "1 GiB"),
    (3 * (1 << 40) // 2, "1.5 TiB"),
    (2 ** 64 - 1, "16 EiB"),
])
def test_size_to_str(value: int, text: str) -> None:
    """When a size is shown, it is %0.3g of the largest unit that keeps it below 1000."""
    assert size_to_str(value) == text


def test_size_to_str_negative_is_unsigned() -> None:
    """When a size is negative, it is taken as unsigned 64-bit, as QEMU's uint64_t."""
    assert size_to_str(-1) == "16 EiB"


@pytest.mark.parametrize("numbers, text", [
    ([], ""),
    ([0], "0"),
    ([0, 1, 2, 3, 5], "0-3,5"),
    ([5, 3, 1, 2, 0, 2], "0-3,5"),
    ([1, 3, 5], "1,3,5"),
    ([7, 8], "7-8"),
])
def test_range_list(numbers: List[int], text: str) -> None:
    """When host nodes are listed, they are sorted, merged and runs written a-b."""
    assert range_list(numbers) == text


def test_float32_rounds_like_c_float() -> None:
    """When a percentage goes through a C float, it loses double precision."""
    assert float32(100.0 * 1 / 3) != 100.0 / 3
    assert "%.2f" % float32(100.0 * 1 / 3) == "33.33"


def test_c_conventions() -> None:
    """When strings, bools and addresses are printed, C's conventions apply."""
    assert c_str(None) == "(null)"
    assert c_str("x") == "x"
    assert on_off(True) == "on" and on_off(False) == "off"
    assert u64(-1) == 0xFFFFFFFFFFFFFFFF
