"""QEMU's readline, as a pure state machine: key bytes in, echo bytes out.

QEMU's HMP monitor edits the line itself (``util/readline.c``), one byte at a
time, on every chardev kind (telnet, tcp, unix alike), and echoes it with
ANSI sequences: after every key it moves the cursor back over what it showed
(``ESC[D`` per byte), writes the whole line, erases the rest of the screen
line (``ESC[K``) and moves the cursor to its place (``ESC[C`` or ``ESC[D``);
when nothing changed it writes nothing.  A pasted line is echoed the same
way, key by key.  :class:`LineEditor` does the same, byte for byte:

====================  ===============================================
Left/Right            ``ESC[D`` / ``ESC[C``
Home/End              ``ESC[1~`` ``ESC[4~`` ``ESC OH`` ``ESC OF``, ^A / ^E
Delete, ^D            delete under the cursor (``ESC[3~``)
Backspace (8, 127)    delete before the cursor
^W                    delete the word before the cursor
^L                    clear the screen, redraw prompt and line
Up/Down               walk the history (``ESC[A``/``ESC[B``, also ``ESC[F``/``ESC[E``)
^P/^N, ^U             previous/next history line, delete to the start
                      (QEMU 9.1 on; before, ignored like ^K, ^C and
                      every other control byte)
Tab                   completion (candidates come from outside)
CR, LF                each ends a line (so CR LF is a line and an empty line)
====================  ===============================================

Line ends in what it writes are ``\\r\\n``, as QEMU's ``monitor_puts``
writes them.  The editor does no I/O.  :meth:`LineEditor.feed` stops at a
finished line or a Tab, handing back what is left of the input; the caller
runs the line (or finds completions and calls :meth:`LineEditor.completed`)
and feeds the rest afterwards, as QEMU's monitor reads nothing while a
command runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

__all__ = ["LineEditor", "Step", "MAX_LINE", "MAX_COMPLETIONS", "format_candidates",
           "HISTORY_KEYS_SINCE"]

#: QEMU's readline buffer (``READLINE_CMD_BUF_SIZE``): a key is taken while
#: the cursor is before this position, so typing at the end keeps 4095 bytes.
MAX_LINE = 4095

#: QEMU keeps at most this many completion candidates.
MAX_COMPLETIONS = 256

#: The release whose readline first binds ^P, ^N (history) and ^U (kill to the start).
HISTORY_KEYS_SINCE = (9, 1)

#: The first release measured to refuse a key on a full line wherever the
#: cursor is (11.1.3; 11.0's sources as of 2026-02 still take one more byte
#: before the end, and 11.0 itself is not at hand to measure).
FULL_LINE_SINCE = (11, 1)

_LEFT, _RIGHT, _ERASE = b"\x1b[D", b"\x1b[C", b"\x1b[K"
_CLEAR_SCREEN = b"\x1b[2J\x1b[1;1H"
_NORM, _ESC, _CSI, _SS3 = range(4)
_SPACES = b" \t\n\v\f\r"

Release = Tuple[int, int]


#: Keys that only insert themselves (printable, neither DEL nor the 8-bit CSI):
#: nothing at all when the line has no room.
_INERT = re.compile(rb"[\x20-\x7e\x80-\x9a\x9c-\xff]+")


def _enc(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _dec(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


@dataclass
class Step:
    """What one call to :meth:`LineEditor.feed` produced.

    :ivar echo: bytes to send to the terminal.
    :ivar line: a finished line, when Enter was pressed.
    :ivar complete: the text before the cursor, when Tab was pressed.
    :ivar rest: input not read yet (after the line end or the Tab).
    """

    echo: bytes = b""
    line: Optional[str] = None
    complete: Optional[str] = None
    rest: bytes = b""


def format_candidates(candidates: Sequence[str]) -> bytes:
    """The candidate table QEMU prints: columns of ``max(len)+2`` (10 to 80) in 80 columns."""
    width = min(max(max(len(_enc(c)) for c in candidates) + 2, 10), 80)
    per_row = 80 // width
    out = bytearray()
    for number, candidate in enumerate(candidates, 1):
        out += _enc(candidate).ljust(width)
        if number % per_row == 0 or number == len(candidates):
            out += b"\r\n"
    return bytes(out)


class LineEditor:
    """One terminal's line being typed, with QEMU's keys and redraw.

    :param history: returns the session's history, oldest first (read
        afresh at each Up/Down, so it is whatever the session keeps).
    :param prompt: the prompt the line is typed after.
    :param release: returns the QEMU release whose keys to follow.
    """

    #: type a run of printable keys at the end of the line in one pass (the same
    #: bytes as one key at a time, which tests compare it with)
    typed_runs = True

    def __init__(self, history: Callable[[], Sequence[str]], prompt: bytes = b"(qemu) ",
                 release: Callable[[], Release] = lambda: (7, 2),
                 max_line: int = MAX_LINE) -> None:
        self._history = history
        self._release = release
        self.prompt = prompt
        self._max = max_line
        self.buf = bytearray()
        self.index = 0
        self._shown = b""  # the line as the terminal shows it
        self._dirty = False  # the line may differ from what is shown
        self._shown_index = 0
        self._state = _NORM
        self._param = 0
        self._hist_entry = -1
        self._full_line = False
        self._out = bytearray()

    # -- the caller's side ------------------------------------------------------

    @property
    def line(self) -> str:
        """The line as typed so far."""
        return _dec(bytes(self.buf))

    @property
    def full(self) -> bool:
        """Whether the line takes no more printable keys (a run of them changes nothing)."""
        return self._state == _NORM and not self._has_room()

    def show_prompt(self) -> bytes:
        """The prompt; nothing is shown after it now (QEMU's readline_show_prompt)."""
        self._shown, self._shown_index = b"", 0
        self._dirty = True
        self._state = _NORM
        return self.prompt

    def feed(self, data: bytes) -> Step:
        """Handle key bytes up to the first Enter or Tab."""
        self._out.clear()
        release = self._release()
        history_keys = release >= HISTORY_KEYS_SINCE
        self._full_line = release >= FULL_LINE_SINCE
        position, size = 0, len(data)
        while position < size:
            if self.full:
                # a full line takes no more printable keys and redraws nothing:
                # a run of them is passed over at once, not a key at a time
                inert = _INERT.match(data, position)
                if inert is not None:
                    position = inert.end()
                    continue
            elif self.typed_runs and self._at_end():
                # keys typed at the end of the line, each echoed as QEMU redraws
                # it (the whole line again), produced in one pass
                run = _INERT.match(data, position)
                if run is not None:
                    position = self._append(data, position, run.end())
                    continue
            byte = data[position]
            position += 1
            step = self._key(byte, history_keys)
            if step is not None and step.complete is not None:
                step.echo = bytes(self._out)  # the table and redraw come with the candidates
                step.rest = data[position:]
                return step
            self._update()
            if step is not None:
                step.echo = bytes(self._out)
                step.rest = data[position:]
                return step
        return Step(echo=bytes(self._out))

    def completed(self, candidates: Sequence[str], index: int) -> bytes:
        """Apply Tab's candidates (each the whole word; ``index`` bytes of it are typed)."""
        self._out.clear()
        self._full_line = self._release() >= FULL_LINE_SINCE
        unique: List[str] = []
        for candidate in candidates:
            if candidate not in unique and len(unique) < MAX_COMPLETIONS:
                unique.append(candidate)
        words = [_enc(c) for c in unique]
        if len(words) == 1:
            for byte in words[0][index:]:
                self._insert(byte)
            if words[0] and not words[0].endswith(b"/"):
                self._insert(0x20)
        elif words:
            words.sort()
            unique = [_dec(w) for w in words]
            self._out += b"\r\n"
            prefix = _common_prefix(words)
            for byte in prefix[index:]:
                self._insert(byte)
            self._out += format_candidates(unique)
            self._out += self.show_prompt()
        self._update()
        return bytes(self._out)

    def interrupt(self, text: str) -> bytes:
        """Print ``text`` (whole lines) above the prompt, then redraw prompt and line."""
        self._out.clear()
        self._out += b"\r" + _ERASE + _enc(text).replace(b"\n", b"\r\n")
        state = self._state  # an escape sequence half typed goes on after it
        self._out += self.show_prompt()
        self._state = state
        self._update()
        return bytes(self._out)

    # -- keys --------------------------------------------------------------------

    def _key(self, ch: int, history_keys: bool) -> Optional[Step]:
        state = self._state
        if state == _NORM:
            return self._plain(ch, history_keys)
        if state == _ESC:
            self._param = 0
            self._state = {0x5B: _CSI, 0x4F: _SS3}.get(ch, _NORM)
        elif state == _CSI:
            if 0x30 <= ch <= 0x39:
                self._param = self._param * 10 + ch - 0x30
                return None
            self._csi(ch)
            self._state = _NORM
        else:
            if ch == 0x46:  # F: End
                self.index = len(self.buf)
            elif ch == 0x48:  # H: Home
                self.index = 0
            self._state = _NORM
        return None

    def _plain(self, ch: int, history_keys: bool) -> Optional[Step]:
        if ch == 1:
            self.index = 0
        elif ch == 4:
            self._delete()
        elif ch == 5:
            self.index = len(self.buf)
        elif ch == 9:
            return Step(complete=_dec(bytes(self.buf[:self.index])))
        elif ch in (10, 13):
            return self._enter()
        elif ch == 12:
            self._out += _CLEAR_SCREEN + self.show_prompt()
        elif ch == 14 and history_keys:  # ^N
            self._down()
        elif ch == 16 and history_keys:  # ^P
            self._up()
        elif ch == 21 and history_keys:  # ^U
            del self.buf[:self.index]
            self.index = 0
            self._dirty = True
        elif ch == 23:
            self._backword()
        elif ch == 27:
            self._state = _ESC
        elif ch in (8, 127):
            if self.index > 0:
                self.index -= 1
                self._delete()
        elif ch == 155:
            self._state = _CSI
        elif ch >= 32:
            self._insert(ch)
        return None

    def _enter(self) -> Step:
        line = _dec(bytes(self.buf))
        if self.buf:
            # QEMU's readline_hist_add: an empty line leaves the history walk where it was
            self._hist_entry = -1
        self._out += b"\r\n"
        self.buf.clear()
        self.index = 0
        self._shown, self._shown_index = b"", 0
        return Step(line=line)

    def _csi(self, ch: int) -> None:
        if ch in (0x41, 0x46):  # A, F
            self._up()
        elif ch in (0x42, 0x45):  # B, E
            self._down()
        elif ch == 0x44:  # D
            self.index = max(self.index - 1, 0)
        elif ch == 0x43:  # C
            self.index = min(self.index + 1, len(self.buf))
        elif ch == 0x7E:  # ~
            if self._param == 1:
                self.index = 0
            elif self._param == 3:
                self._delete()
            elif self._param == 4:
                self.index = len(self.buf)

    # -- editing -----------------------------------------------------------------

    def _has_room(self) -> bool:
        """Whether a printable key would go in where the cursor is."""
        # QEMU before 11.1 checks the cursor, not the length: a key typed
        # before the end of a full line still goes in (one byte to spare)
        room = len(self.buf) < self._max if self._full_line else len(self.buf) <= self._max
        return self.index < self._max and room

    def _at_end(self) -> bool:
        """Whether the cursor is at the end of a line shown as it is (no key half read)."""
        return self._state == _NORM and self.index == len(self.buf) and \
            self._shown_index == self.index and \
            (not self._dirty or self._shown == bytes(self.buf))

    def _append(self, data: bytes, start: int, end: int) -> int:
        """Type the printable keys ``data[start:end]`` at the end of the line, as many
        as fit (:meth:`_insert` then :meth:`_update` for each); where the rest begins."""
        end = min(end, start + self._max - len(self.buf))  # as _has_room at the end
        if end <= start:
            return start
        self.buf += data[start:end]
        line = bytes(self.buf)
        out = self._out
        for length in range(len(line) - (end - start) + 1, len(line) + 1):
            out += _LEFT * (length - 1)
            out += line[:length]
            out += _ERASE
        self._shown = line
        self.index = self._shown_index = len(line)
        self._dirty = False
        return end

    def _insert(self, byte: int) -> None:
        if self._has_room():
            self.buf.insert(self.index, byte)
            self.index += 1
            self._dirty = True

    def _delete(self) -> None:
        if self.index < len(self.buf):
            del self.buf[self.index]
            self._dirty = True

    def _backword(self) -> None:
        if self.index == 0:
            return
        start = self.index - 1
        while start > 0 and self.buf[start] in _SPACES:
            start -= 1
        while start > 0:
            if self.buf[start] in _SPACES:
                start += 1
                break
            start -= 1
        del self.buf[start:self.index]
        self.index = start
        self._dirty = True

    def _up(self) -> None:
        history = self._history()
        if self._hist_entry == 0:
            return
        if self._hist_entry == -1:
            self._hist_entry = len(history)
        self._hist_entry -= 1
        if 0 <= self._hist_entry < len(history):
            self._set(_enc(history[self._hist_entry]))

    def _down(self) -> None:
        if self._hist_entry == -1:
            return
        history = self._history()
        self._hist_entry += 1
        if self._hist_entry < len(history):
            self._set(_enc(history[self._hist_entry]))
        else:
            self._hist_entry = -1
            self._set(b"")

    def _set(self, text: bytes) -> None:
        self.buf[:] = text[:self._max]
        self.index = len(self.buf)
        self._dirty = True

    # -- display -----------------------------------------------------------------

    def _update(self) -> None:
        """Bring the terminal's line up to date, as QEMU's readline_update does."""
        if self._dirty and bytes(self.buf) != self._shown:
            if len(self.buf) > self._max:
                # QEMU ends the line with a NUL at cmd_buf[size]: one byte past
                # its buffer, on the low byte of the cursor position (x86)
                self.index &= ~0xFF
            self._out += _LEFT * self._shown_index + bytes(self.buf) + _ERASE
            self._shown = bytes(self.buf)
            self._shown_index = len(self.buf)
        self._dirty = False
        delta = self.index - self._shown_index
        self._out += (_RIGHT * delta) if delta > 0 else (_LEFT * -delta)
        self._shown_index = self.index


def _common_prefix(words: Sequence[bytes]) -> bytes:
    first = words[0]
    length = len(first)
    for word in words[1:]:
        length = min(length, len(word))
        for position in range(length):
            if word[position] != first[position]:
                length = position
                break
    return first[:length]
