"""The twin corpora's file format (``tests/corpus/*.hmp``) and the known-differences list.

Pure parsing, no QEMU: :mod:`tests.integration.test_fidelity` runs what
this reads, and the unit tests check the format.

- ``#!qemu ARGS``: QEMU arguments for both twins (shell words);
- ``#!releases >=10.0``: the whole file runs only on releases in that range;
- a line, or a ``#!qemu`` line, ending in ``  #@ >=8.1 <11.0`` runs only
  on releases in that range (``>=``, ``>``, ``<=``, ``<``, ``==`` with
  ``X.Y``; every condition must hold);
- other lines starting with ``#`` and blank lines are comments; every other
  line is an HMP line, numbered from 0 in file order whichever releases run it.

``known-differences.txt``: ``X.Y corpus:NNN reason`` per line (``X.Y`` may be
``11.1-as-7.2``: QEMU 11.1 behind ``--hmp-version 7.2``), ``#`` comments.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from typing import Dict, List, Tuple

__all__ = ["CORPUS_DIR", "KNOWN_DIFFERENCES", "Release", "Condition", "parse_conditions",
           "in_range", "CorpusLine", "Corpus", "read_corpus", "parse_corpus",
           "read_known_differences", "parse_known_differences", "label_release"]

CORPUS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "corpus")
KNOWN_DIFFERENCES = os.path.join(CORPUS_DIR, "known-differences.txt")

Release = Tuple[int, int]
Condition = Tuple[str, Release]

_LINE_RANGE = re.compile(r"\s+#@\s*(.*)$")
_CONDITION = re.compile(r"(>=|<=|==|<|>)(\d+)\.(\d+)")
_COMPARE = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
            "<": lambda a, b: a < b, "==": lambda a, b: a == b}


def parse_conditions(text: str) -> Tuple[Condition, ...]:
    """``">=8.1 <11.0"`` as ``((">=", (8, 1)), ("<", (11, 0)))``; ValueError if malformed."""
    conditions = []
    for word in text.split():
        found = _CONDITION.fullmatch(word)
        if not found:
            raise ValueError(f"not a release condition (>=X.Y, <X.Y, ...): {word!r}")
        conditions.append((found.group(1), (int(found.group(2)), int(found.group(3)))))
    if not conditions:
        raise ValueError("a release marker with no condition")
    return tuple(conditions)


def in_range(release: Release, conditions: Tuple[Condition, ...]) -> bool:
    """Whether ``release`` meets every condition (no condition: always)."""
    return all(_COMPARE[op](release, bound) for op, bound in conditions)


@dataclass(frozen=True)
class CorpusLine:
    """One HMP line of a corpus: its number in the file, its text, the releases it runs on."""

    number: int
    text: str
    conditions: Tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Corpus:
    """One ``.hmp`` file: QEMU arguments for both twins, the releases it runs on, its lines."""

    path: str
    qemu_args: Tuple[Tuple[Tuple[str, ...], Tuple[Condition, ...]], ...]
    conditions: Tuple[Condition, ...]
    lines: Tuple[CorpusLine, ...]

    @property
    def name(self) -> str:
        return os.path.basename(self.path)[:-len(".hmp")]

    def lines_for(self, release: Release) -> List[CorpusLine]:
        """The lines that run on ``release`` (none if the file does not)."""
        if not in_range(release, self.conditions):
            return []
        return [line for line in self.lines if in_range(release, line.conditions)]

    def args_for(self, release: Release) -> List[str]:
        """The QEMU arguments of the ``#!qemu`` lines that hold for ``release``."""
        return [arg for args, conditions in self.qemu_args if in_range(release, conditions)
                for arg in args]


def _split_marker(line: str) -> Tuple[str, Tuple[Condition, ...]]:
    """``line`` without its trailing ``  #@ ...`` release marker, and the marker's conditions."""
    marker = _LINE_RANGE.search(line)
    if not marker:
        return line, ()
    return line[:marker.start()], parse_conditions(marker.group(1))


def read_corpus(path: str) -> Corpus:
    """Read and parse one corpus file."""
    with open(path) as f:
        return parse_corpus(path, f.read())


def parse_corpus(path: str, text: str) -> Corpus:
    """Parse the text of the corpus file at ``path``."""
    qemu_args: List[Tuple[Tuple[str, ...], Tuple[Condition, ...]]] = []
    conditions: Tuple[Condition, ...] = ()
    lines: List[CorpusLine] = []
    for line in text.splitlines():
        if line.startswith("#!qemu "):
            args, ranges = _split_marker(line[len("#!qemu "):])
            qemu_args.append((tuple(shlex.split(args)), ranges))
        elif line.startswith("#!releases "):
            conditions += parse_conditions(line[len("#!releases "):])
        elif line.strip() and not line.lstrip().startswith("#"):
            hmp, ranges = _split_marker(line)
            lines.append(CorpusLine(len(lines), hmp, ranges))
    return Corpus(path, tuple(qemu_args), conditions, tuple(lines))


def read_known_differences(path: str = KNOWN_DIFFERENCES) -> Dict[Tuple[str, str], str]:
    """The list at ``path`` (none if there is no such file)."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return parse_known_differences(f.read(), path)


def parse_known_differences(text: str, path: str = "known-differences.txt"
                            ) -> Dict[Tuple[str, str], str]:
    """``("10.0", "core:014") -> reason`` from lines ``X.Y corpus:NNN reason``.

    The first word is the release (``10.0``), or a release printing an older
    one's text (``11.1-as-7.2``: QEMU 11.1 behind ``--hmp-version 7.2``).
    """
    known: Dict[Tuple[str, str], str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        words = raw.split(None, 2)
        if len(words) < 3 or not re.fullmatch(r"\d+\.\d+(-as-\d+\.\d+)?", words[0]) \
                or not re.fullmatch(r"[\w-]+:\d{3}", words[1]):
            raise ValueError(f"{path}:{number}: want 'X.Y corpus:NNN reason': {raw!r}")
        known[words[0], words[1]] = words[2].strip()
    return known


def label_release(label: str) -> Release:
    """The release whose lines and text a list's first word stands for (``11.1-as-7.2``: 7.2)."""
    major, minor = label.split("-as-")[-1].split(".")
    return int(major), int(minor)


