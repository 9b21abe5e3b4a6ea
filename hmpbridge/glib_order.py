"""The orders QEMU 7.2 walks its dictionaries in, where that order shows.

When QEMU's options visitor finds options it did not use, it names the first
one its ``GHashTable`` holds, and which is first depends on GLib's hashing.
This module reproduces it:

- :func:`qdict_order` is the order a ``QDict`` iterates its keys in (512
  buckets by ``tdb_hash``; in a bucket, the newest key first);
- :class:`StrHashTable` is a ``GHashTable`` of ``g_str_hash`` keys as GLib
  2.74 lays it out: open addressing with quadratic probing, tombstones, and
  the in-place resize when it grows past 15/16 or shrinks below 1/4.
"""

from __future__ import annotations

import functools
from typing import Iterator, List, Optional, Sequence

__all__ = ["qdict_order", "g_str_hash", "StrHashTable"]

_U32 = 0xFFFFFFFF
_QDICT_BUCKETS = 512

#: GLib's prime modulus per table shift (``prime_mod``), up to 2**16 slots.
_PRIME_MOD = (1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749,
              65521)
_MIN_SHIFT = 3
_UNUSED, _TOMBSTONE = 0, 1


@functools.lru_cache(maxsize=4096)
def _tdb_hash(key: str) -> int:
    """QDict's bucket hash of a key (its UTF-8 bytes)."""
    data = key.encode("utf-8", "surrogateescape")
    value = (0x238F13AF * len(data)) & _U32
    for i, byte in enumerate(data):
        value = (value + (byte << (i * 5 % 24))) & _U32
    return (1103515243 * value + 12345) & _U32


def qdict_order(keys: Sequence[str]) -> List[str]:
    """``keys``, inserted in this order, as ``qdict_first``/``qdict_next`` return them."""
    numbered = list(enumerate(dict.fromkeys(keys)))
    numbered.sort(key=lambda item: (_tdb_hash(item[1]) % _QDICT_BUCKETS, -item[0]))
    return [key for _, key in numbered]


def g_str_hash(key: str) -> int:
    """GLib's ``g_str_hash``: djb2 over the bytes as signed chars."""
    value = 5381
    for byte in key.encode("utf-8", "surrogateescape"):
        value = (value * 33 + (byte - 256 if byte > 127 else byte)) & _U32
    return value


class StrHashTable:
    """The slots of a ``g_hash_table_new(g_str_hash, g_str_equal)`` table."""

    def __init__(self) -> None:
        self._set_shift(_MIN_SHIFT)
        self.hashes: List[int] = [_UNUSED] * self.size
        self.keys: List[Optional[str]] = [None] * self.size
        self.nnodes = 0
        self.noccupied = 0

    def _set_shift(self, shift: int) -> None:
        self.size = 1 << shift
        self.mod = _PRIME_MOD[shift]
        self.mask = self.size - 1

    def _index(self, hashed: int) -> int:
        return (hashed * 11 & _U32) % self.mod

    def _lookup(self, key: str, hashed: int) -> int:
        """The key's slot, or where it would go (the first tombstone on the way)."""
        index, step, tombstone = self._index(hashed), 0, -1
        while self.hashes[index] != _UNUSED:
            if self.hashes[index] == hashed and self.keys[index] == key:
                return index
            if self.hashes[index] == _TOMBSTONE and tombstone < 0:
                tombstone = index
            step += 1
            index = (index + step) & self.mask
        return tombstone if tombstone >= 0 else index

    def insert(self, key: str) -> None:
        """``g_hash_table_insert``/``add`` of a new or existing key."""
        hashed = g_str_hash(key)
        hashed = hashed if hashed >= 2 else 2
        index = self._lookup(key, hashed)
        if self.hashes[index] >= 2:
            return
        was_unused = self.hashes[index] == _UNUSED
        self.hashes[index], self.keys[index] = hashed, key
        self.nnodes += 1
        if was_unused:
            self.noccupied += 1
            self._maybe_resize()

    def remove(self, key: str) -> None:
        """``g_hash_table_remove``: a tombstone in its slot, and maybe a smaller table."""
        hashed = g_str_hash(key)
        index = self._lookup(key, hashed if hashed >= 2 else 2)
        if self.hashes[index] < 2:
            return
        self.hashes[index], self.keys[index] = _TOMBSTONE, None
        self.nnodes -= 1
        self._maybe_resize()

    def __iter__(self) -> Iterator[str]:
        """The keys in slot order, as ``g_hash_table_iter_next`` gives them."""
        return (key for hashed, key in zip(self.hashes, self.keys) if hashed >= 2 and key)

    def _maybe_resize(self) -> None:
        if (self.size > self.nnodes * 4 and self.size > 1 << _MIN_SHIFT) or \
                self.size <= self.noccupied + self.noccupied // 16:
            self._resize()

    def _resize(self) -> None:
        """``g_hash_table_resize``: relocate every key in place (``resize_set``)."""
        old_size = self.size
        self._set_shift(max(int(self.nnodes * 1.333).bit_length(), _MIN_SHIFT))
        if self.size > old_size:
            self.hashes += [_UNUSED] * (self.size - old_size)
            self.keys += [None] * (self.size - old_size)
        placed = [False] * max(self.size, old_size)
        for i in range(old_size):
            hashed = self.hashes[i]
            if hashed < 2:
                self.hashes[i] = _UNUSED
                continue
            if placed[i]:
                continue
            self.hashes[i] = _UNUSED
            key = self.keys[i]
            while True:
                index, step = self._index(hashed), 0
                while placed[index]:
                    step += 1
                    index = (index + step) & self.mask
                placed[index] = True
                replaced = self.hashes[index]
                self.hashes[index] = hashed
                if replaced < 2:
                    self.keys[index] = key
                    break
                hashed = replaced
                key, self.keys[index] = self.keys[index], key
        if self.size < old_size:
            del self.hashes[self.size:], self.keys[self.size:]
        self.noccupied = self.nnodes
