"""QEMU's readline, as a pure state machine: key bytes in, echo bytes out.

QEMU 7.2's monitor edits the line itself (``util/readline.c``) and echoes it
with ANSI sequences: after every key it moves the cursor back over what it
showed (``ESC[D`` per byte), writes the whole line, erases the rest of the
screen line (``ESC[K``) and moves the cursor to its place (``ESC[C`` or
``ESC[D``); when nothing changed it writes nothing.  :class:`LineEditor`
does the same, byte for byte, for the keys QEMU knows:

====================  ===============================================
Left/Right            ``ESC[D`` / ``ESC[C``
Home/End              ``ESC[1~`` ``ESC[4~`` ``ESC OH`` ``ESC OF``, ^A / ^E
Delete, ^D            delete under the cursor (``ESC[3~``)
Backspace (8, 127)    delete before the cursor
^W                    delete the word before the cursor
^L                    clear the screen, redraw prompt and line
Up/Down               walk the history (``ESC[A``/``ESC[B``, also ``ESC[F``/``ESC[E``)
Tab                   completion (candidates come from outside)
CR, LF                end the line
====================  ===============================================

Two keys QEMU 7.2 ignores and later QEMU versions and shells know are
added: ^K deletes to the end of the line and ^U to its start.

The editor does no I/O.  :meth:`LineEditor.feed` stops at a finished line
or a Tab, handing back what is left of the input; the caller runs the line
(or finds completions and calls :meth:`LineEditor.completed`) and feeds the
rest afterwards, as QEMU's monitor does not read input while a command runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

__all__ = ["LineEditor", "Step", "MAX_LINE", "MAX_COMPLETIONS", "format_candidates"]

#: QEMU's readline buffer holds at most 4095 bytes of a line.
MAX_LINE = 4095

#: QEMU keeps at most this many completion candidates.
MAX_COMPLETIONS = 256

_LEFT, _RIGHT, _ERASE = b"\x1b[D", b"\x1b[C", b"\x1b[K"
_CLEAR_SCREEN = b"\x1b[2J\x1b[1;1H"
_NORM, _ESC, _CSI, _SS3 = range(4)


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
    """

    def __init__(self, history: Callable[[], Sequence[str]], prompt: bytes = b"(qemu) ",
                 max_line: int = MAX_LINE) -> None:
        self._history = history
        self.prompt = prompt
        self._max = max_line
        self.buf = bytearray()
        self.index = 0
        self._shown = b""  # the line as the terminal shows it
        self._shown_index = 0
        self._state = _NORM
        self._param = 0
        self._hist_entry = -1
        self._out = bytearray()

    # -- the caller's side ------------------------------------------------------

    @property
    def line(self) -> str:
        """The line as typed so far."""
        return _dec(bytes(self.buf))

    def show_prompt(self) -> bytes:
        """The prompt, on a fresh line; the editor then knows nothing is shown after it."""
        self._shown, self._shown_index = b"", 0
        self._state = _NORM
        return self.prompt

    def feed(self, data: bytes) -> Step:
        """Handle key bytes up to the first Enter or Tab."""
        pasted = self._pasted_line(data)
        if pasted is not None:
            return pasted
        self._out.clear()
        for position, byte in enumerate(data):
            step = self._key(byte)
            self._update()
            if step is not None:
                step.echo = bytes(self._out)
                step.rest = data[position + 1:]
                return step
        return Step(echo=bytes(self._out))

    def completed(self, candidates: Sequence[str], index: int) -> bytes:
        """Apply Tab's candidates (each the whole word; ``index`` bytes of it are typed)."""
        self._out.clear()
        unique: List[str] = []
        for candidate in candidates:
            if candidate not in unique and len(unique) < MAX_COMPLETIONS:
                unique.append(candidate)
        unique.sort(key=_enc)
        words = [_enc(c) for c in unique]
        if len(words) == 1:
            self._insert(words[0][index:])
            if words[0] and not words[0].endswith(b"/"):
                self._insert(b" ")
        elif words:
            self._out += b"\r\n"
            prefix = _common_prefix(words)
            if prefix:
                self._insert(prefix[index:])
            self._out += format_candidates(unique)
            self._out += self.show_prompt()
        self._update()
        return bytes(self._out)

    def interrupt(self, text: str) -> bytes:
        """Print ``text`` (whole lines) above the prompt, then redraw prompt and line."""
        self._out.clear()
        self._out += b"\r" + _ERASE + _enc(text).replace(b"\n", b"\r\n")
        self._out += self.show_prompt()
        self._update()
        return bytes(self._out)

    # -- keys --------------------------------------------------------------------

    def _key(self, ch: int) -> Optional[Step]:
        state = self._state
        if state == _NORM:
            return self._plain(ch)
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

    def _plain(self, ch: int) -> Optional[Step]:
        if ch == 1:
            self.index = 0
        elif ch == 4:
            self._delete()
        elif ch == 5:
            self.index = len(self.buf)
        elif ch == 9:
            return Step(complete=_dec(bytes(self.buf[:self.index])))
        elif ch in (10, 13):
            line = _dec(bytes(self.buf))
            self._out += b"\r\n"
            self.buf.clear()
            self.index = 0
            self._shown, self._shown_index = b"", 0
            self._hist_entry = -1
            return Step(line=line)
        elif ch == 11:  # ^K
            del self.buf[self.index:]
        elif ch == 12:
            self._out += _CLEAR_SCREEN + self.show_prompt()
        elif ch == 21:  # ^U
            del self.buf[:self.index]
            self.index = 0
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
            self._param = 0
        elif ch >= 32:
            self._insert(bytes((ch,)))
        return None

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

    def _insert(self, data: bytes) -> None:
        for byte in data:
            if len(self.buf) >= self._max:
                return
            self.buf.insert(self.index, byte)
            self.index += 1

    def _delete(self) -> None:
        if self.index < len(self.buf):
            del self.buf[self.index]

    def _backword(self) -> None:
        if self.index == 0:
            return
        start = self.index - 1
        while start > 0 and self.buf[start] in b" \t\n\v\f\r":
            start -= 1
        while start > 0:
            if self.buf[start] in b" \t\n\v\f\r":
                start += 1
                break
            start -= 1
        del self.buf[start:self.index]
        self.index = start

    def _up(self) -> None:
        history = self._history()
        if self._hist_entry == 0:
            return
        if self._hist_entry == -1:
            self._hist_entry = len(history)
        self._hist_entry -= 1
        if self._hist_entry >= 0:
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

    # -- display -----------------------------------------------------------------

    def _update(self) -> None:
        """Bring the terminal's line up to date, as QEMU's readline_update does."""
        if bytes(self.buf) != self._shown:
            self._out += _LEFT * self._shown_index + bytes(self.buf) + _ERASE
            self._shown = bytes(self.buf)
            self._shown_index = len(self.buf)
        delta = self.index - self._shown_index
        self._out += (_RIGHT * delta) if delta > 0 else (_LEFT * -delta)
        self._shown_index = self.index

    def _pasted_line(self, data: bytes) -> Optional[Step]:
        """A whole line arriving at an empty prompt is echoed as it came, without redraws.

        ``telnet`` sends what a script or a paste put on its terminal in one
        packet; echoing it as plain text keeps such transcripts readable.
        """
        if self.buf or self._shown or self._state != _NORM:
            return None
        for position, byte in enumerate(data):
            if byte in (10, 13):
                if position == 0:
                    return None
                text = data[:position][:self._max]
                self._hist_entry = -1
                return Step(echo=text + b"\r\n", line=_dec(text), rest=data[position + 1:])
            if byte < 32 or byte in (127, 155):
                return None
        return None


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
