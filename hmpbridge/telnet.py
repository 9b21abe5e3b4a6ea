"""Telnet framing for HMP sessions, forgiving of clients that do not speak telnet.

:class:`HMPTelnetTransport` is Twisted's telnet transport with what HMP
clients need on top: a line ending in a bare ``\\r`` runs at once, ``\\r\\r\\n``
ends the same lines however it is split, a client that half-closes (``nc -N``)
still gets every answer, descriptors passed over a unix socket reach the
session (``getfd``), and an invalid telnet command is ignored instead of
dropping the connection.

Input is parsed with ``bytes.find``: runs of data, escaped 0xff bytes
included, reach the session in one call, and only telnet commands are read a
byte at a time.  Every byte written to the client, the answers to option
negotiation included, is reported to the session's write guard
(:meth:`HMPTelnetTransport.count_output`), so a client that never reads the
answers to its own option flood is dropped at ``--max-unread`` like any other.

An option flood (``IAC DO`` for every option, over and over) costs little and
holds up no other client:

* A run of option commands that would change no option's state is answered
  in one step, without a Python call per command: a request to enter the
  state an option is already in needs no answer (RFC 1143), and a request to
  enable an option the session refused before is refused again without
  asking the session (its answer to an option is taken as fixed for the
  connection).  Each such refusal is sent once per read: a client cannot
  have seen the first one before it sent the rest of what was read with it.
  Any command that may change state goes through Twisted's state machine,
  one at a time, and the refusals count from scratch after it.
* One client's input gets at most :data:`TURN_STEPS` steps per turn of the
  reactor; the rest of a read waits for the next turn, with reading from
  that client paused, so every other client is served in between.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Set, Tuple, cast

from twisted.conch.telnet import (
    AO,
    AYT,
    BRK,
    DM,
    DO,
    DONT,
    EC,
    EL,
    EOR,
    GA,
    IAC,
    IP,
    NOP,
    SB,
    SE,
    WILL,
    WONT,
    TelnetTransport,
)
from twisted.internet.interfaces import (IDelayedCall, IFileDescriptorReceiver,
                                         IHalfCloseableProtocol, IReactorTime)
from twisted.logger import Logger
from zope.interface import implementer

from hmpbridge.interfaces import connected

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IAddress

    from hmpbridge.model import SessionState

__all__ = ["HMPTelnetTransport", "OutputMeter", "TURN_STEPS"]

#: Told the size of every write to the client (the session's write guard).
OutputMeter = Callable[[int], None]

_IAC_RUN = re.compile(rb"\xff+")
_CR_PAIR = re.compile(rb"\r([\s\S])")
_BARE_COMMANDS = frozenset((EOR, NOP, DM, BRK, IP, AO, AYT, EC, EL, GA))
_OPTION_COMMANDS = frozenset((WILL, WONT, DO, DONT))

#: Steps of one client's input handled per turn of the reactor.  A step is a
#: run of data handed to the session (a chunk ends at each ``\\r``), or a
#: telnet command, either handled by Twisted's state machine or the first of
#: a run answered together, or 64 more option commands of that run scanned
#: or answered; none costs more than a few microseconds, and a 64 KiB read
#: can hold 21,845 of them.
TURN_STEPS = 1024

#: Option commands (of three bytes) looked at together: at first, and at most.
_FIRST_WINDOW = 16
_WINDOW_COMMANDS = 1024
#: Option commands scanned for the cost of one step.
_SCAN_COMMANDS = 64
#: A run of option commands: IAC, WILL/WONT/DO/DONT, any option byte.  The
#: commands of a run can only be found at multiples of three from its start:
#: the byte after an option is IAC, never a command byte.
_OPTION_RUN = re.compile(rb"(?:\xff[\xfb-\xfe][\x00-\xff])+")
_BYTES = tuple(bytes((value,)) for value in range(256))
_WILL, _WONT, _DO, _DONT = WILL[0], WONT[0], DO[0], DONT[0]


def _cr_pair(match: "re.Match[bytes]") -> bytes:
    """Telnet's reading of ``\\r`` and the byte after it (as Twisted's state machine)."""
    after = match.group(1)
    if after == b"\n":
        return b"\n"
    if after == b"\0":
        return b"\r"
    return b"\r" + after


def _ends_in_bare_cr(run: bytes) -> bool:
    """Whether ``run`` ends in a ``\\r`` that no byte follows (an odd run of them)."""
    return (len(run) - len(run.rstrip(b"\r"))) % 2 == 1


@implementer(IHalfCloseableProtocol, IFileDescriptorReceiver)
class HMPTelnetTransport(TelnetTransport):
    """Telnet framing for an :class:`HMPSession`.

    Adds what HMP clients need on top of Twisted's telnet transport: a line
    ending in a bare ``\\r`` runs at once, a client that half-closes
    (``nc -N``) still gets every answer, and a stray telnet command byte
    from a client that does not speak telnet is ignored instead of dropping
    the connection.
    """

    _log = Logger()
    _after_cr = False
    _line_seen = False
    _warned = False
    _meter: Optional[OutputMeter] = None
    _replies: Optional[bytearray] = None  # negotiation answers gathered while parsing
    _backlog: Optional[bytes] = None  # the rest of a read, parsed in a later turn
    _next_turn: Optional[IDelayedCall] = None
    _held = False  # reading paused until the backlog is parsed
    _session_paused = False  # reading paused by the session
    _closing = False
    _read_closed = False  # the client half-closed while a backlog waited
    _budget = TURN_STEPS  # steps left in this turn
    _window = _FIRST_WINDOW  # option commands to look at together next
    commands: bytearray  # type: ignore[assignment]  # the sub-negotiation being read
    command: bytes  # the option command whose option byte is awaited

    #: the state of the session inside, set by the server factory
    session_state: Optional[SessionState]

    def __init__(self, protocolFactory: Optional[Callable[..., Any]] = None, *args: Any,
                 **kw: Any) -> None:
        """Twisted's arguments: the session's factory and its arguments.

        The session's ``clock`` (the reactor when not given) also times the
        turns in which a long read is parsed.
        """
        super().__init__(protocolFactory, *args, **kw)  # type: ignore[no-untyped-call]
        self._clock: Optional[IReactorTime] = kw.get("clock")
        self._refused_local: Set[int] = set()  # options the session would not enable
        self._refused_remote: Set[int] = set()  # options the session would not have enabled
        self._answered: Set[Tuple[int, int]] = set()  # (command, option) answered in this read
        #: (command, option) that would change no state, with Twisted's answer
        self._quiet: Dict[Tuple[int, int], bytes] = {}

    if TYPE_CHECKING:
        # Twisted's telnet classes are unannotated: the inherited methods this
        # class, the server and the session use, with their types
        options: Dict[bytes, Any]

        def applicationDataReceived(self, data: bytes) -> None: ...

        def unhandledSubnegotiation(self, command: bytes, data: bytes) -> None: ...

        def getPeer(self) -> IAddress: ...

    def dataReceived(self, data: bytes) -> None:
        if self._backlog is not None:
            self._backlog += data  # delivered while reading is paused (TLS): after the rest
            return
        if not self._line_seen and (b"\r" in data or b"\n" in data):
            # telnet sends its first line as "text\r\n" in one packet
            self._line_seen = True
            if data.endswith(b"\r\n") and data.find(b"\r") == len(data) - 2 \
                    and data.find(b"\n") == len(data) - 1 and b"\xff" not in data:
                hook = getattr(self.protocol, "first_line_crlf", None)
                if hook is not None:
                    hook()
        self._answered.clear()
        self._budget = TURN_STEPS
        self._work(data)

    def _work(self, data: bytes) -> None:
        """Parse ``data`` as far as this turn's steps go; the rest waits for the next turn.

        Plain lines: every ``\\r`` ends a chunk of its own, so a line ends the
        same way however the bytes were split (``\\r\\r\\n`` is two lines).
        Interactive sessions take ``\\r`` as the Enter key in their editor.
        """
        split = not getattr(self.protocol, "interactive", False)
        start, size = 0, len(data)
        while start < size and self._budget > 0:
            cr = data.find(b"\r", start) if split else -1
            end = size if cr < 0 else cr + 1
            start += self._feed(data[start:end] if start or end < size else data)
            if start < end:
                break  # out of steps inside the chunk
        if start < size:
            self._hold(data[start:])
        else:
            self._release()

    def _hold(self, rest: bytes) -> None:
        """Keep the rest of a read for the next turn, reading nothing more meanwhile."""
        self._backlog = rest
        if not self._held:
            self._held = True
            if not self._closing and not self._session_paused:
                connected(self).pauseProducing()
        if self._next_turn is None:
            self._next_turn = self._reactor().callLater(0, self._continue)

    def _continue(self) -> None:
        self._next_turn = None
        data, self._backlog = self._backlog, None
        if data is not None:
            self._budget = TURN_STEPS
            self._work(data)

    def _release(self) -> None:
        """The whole read is parsed: reading resumes unless the session paused it."""
        if self._held:
            self._held = False
            if not self._closing and not self._session_paused:
                connected(self).resumeProducing()
        if self._read_closed:
            self._read_closed = False
            self.readConnectionLost()

    def _reactor(self) -> IReactorTime:
        if self._clock is None:
            from twisted.internet import reactor
            self._clock = cast(IReactorTime, reactor)
        return self._clock

    def _feed(self, data: bytes) -> int:
        """Parse one chunk: runs of data are found with ``bytes.find`` and passed on whole.

        Only the bytes of telnet commands are looked at one by one, so a chunk
        costs a few Python calls per command, not per byte.  The states are
        Twisted's (``data``, ``escaped``, ``command``, ``subnegotiation``,
        ``subnegotiation-escaped``); a chunk ending in ``\\r`` ends its line at
        once instead of waiting in ``newline``.  Returns how many bytes were
        parsed: fewer than given when this turn's steps ran out.
        """
        skipped = 0
        if self._after_cr and data:
            # the line already ended at the \r; its \n or \0 is not a new line
            self._after_cr = False
            if data[:1] in (b"\n", b"\0") and self.state == "data":
                data = data[1:]
                skipped = 1
        out: List[bytes] = []
        self._replies = bytearray()
        try:
            parsed = self._parse(data, out)
        finally:
            self._deliver(out)
            self._flush_replies()
            self._replies = None
        return skipped + parsed

    def _parse(self, data: bytes, out: List[bytes]) -> int:
        pos, size = 0, len(data)
        while pos < size:
            if self._budget <= 0:
                return pos
            self._budget -= 1
            state = self.state
            if state == "data":
                iac = data.find(IAC, pos)
                end = size if iac < 0 else iac
                if end > pos:
                    run = data[pos:end]
                    if b"\r" in run:
                        if iac < 0 and _ends_in_bare_cr(run):
                            self._after_cr = True
                        run = _CR_PAIR.sub(_cr_pair, run)
                    out.append(run)
                if iac < 0:
                    break
                pos = iac + 1
                if data[pos:pos + 1] == IAC:
                    # IAC IAC is a data byte 0xff: a run of them costs one step
                    escapes = _IAC_RUN.match(data, iac).end() - iac  # type: ignore[union-attr]
                    out.append(b"\xff" * (escapes // 2))
                    pos = iac + escapes // 2 * 2
                    if escapes % 2 == 0:
                        continue
                    pos += 1
                command = data[pos:pos + 1]
                if command in _OPTION_COMMANDS and pos + 1 < size:
                    # the usual command, whole in this chunk, and any that follow it
                    self._deliver(out)
                    pos = self._options(data, pos - 1)
                else:
                    self.state = "escaped"
            elif state == "escaped":
                byte = data[pos:pos + 1]
                pos += 1
                self.state = "data"
                if byte == IAC:
                    out.append(byte)
                elif byte == SB:
                    self.state = "subnegotiation"
                    self.commands = bytearray()
                elif byte in _BARE_COMMANDS:
                    self._deliver(out)
                    self.commandReceived(byte, None)
                elif byte in _OPTION_COMMANDS:
                    self.state = "command"
                    self.command = byte
                else:
                    self._invalid()
            elif state == "command":
                option = data[pos:pos + 1]
                pos += 1
                self.state = "data"
                self._deliver(out)
                self.commandReceived(self.command, option)
            elif state == "subnegotiation":
                iac = data.find(IAC, pos)
                end = size if iac < 0 else iac
                if not self._collect(data[pos:end]):
                    break
                if iac < 0:
                    break
                self.state = "subnegotiation-escaped"
                pos = iac + 1
            else:  # subnegotiation-escaped
                byte = data[pos:pos + 1]
                pos += 1
                if byte == SE:
                    self.state = "data"
                    self._deliver(out)
                    self._subnegotiated(bytes(self.commands))
                else:
                    self.state = "subnegotiation"
                    if not self._collect(byte):
                        break
        return size

    # -- option commands: a run that changes nothing is answered at once ------------

    def _options(self, data: bytes, start: int) -> int:
        """The option commands from ``start`` on; returns where the next step starts.

        The commands up to the first that may change an option's state are
        answered together, each distinct one answered once per read; that
        one goes through Twisted's state machine.  A window of commands all
        known to change nothing and all answered already costs a step per
        :data:`_SCAN_COMMANDS` commands, no Python call per command.  The window
        doubles while whole windows change nothing, and starts small again
        after a command that may change state, so a stream that mixes the
        two is not scanned far ahead for every command.
        """
        window = self._window
        end = _OPTION_RUN.match(data, start, start + 3 * window).end()  # type: ignore[union-attr]
        run = data[start:end]
        self._budget -= len(run) // (3 * _SCAN_COMMANDS)
        keys = dict.fromkeys(zip(run[1::3], run[2::3])).keys()  # distinct, in order
        quiet = self._quiet
        changes: Optional[Tuple[int, int]] = None
        if not keys <= quiet.keys():
            for key in keys:
                if key not in quiet:
                    answer = self._quiet_answer(*key)
                    if answer is None:
                        changes = key
                        break
                    quiet[key] = answer
        before: Iterable[Tuple[int, int]] = keys
        if changes is None:
            fresh = keys - self._answered
            if len(run) == 3 * window:
                self._window = min(window * 2, _WINDOW_COMMANDS)
        else:
            self._window = _FIRST_WINDOW
            ordered = list(keys)
            before = ordered[:ordered.index(changes)]
            fresh = set(before) - self._answered
        if fresh:
            replies = self._replies
            assert replies is not None, "option commands are only read by _feed"
            self._budget -= len(fresh) // _SCAN_COMMANDS
            for key in before:
                if key in fresh:
                    replies += quiet[key]
            self._answered |= fresh
        if changes is None:
            return end
        # its first command: every command before it is of a kind before it in keys
        at = start + run.find(IAC + _BYTES[changes[0]] + _BYTES[changes[1]])
        self.commandReceived(_BYTES[changes[0]], _BYTES[changes[1]])
        return at + 3

    def _quiet_answer(self, command: int, option: int) -> Optional[bytes]:
        """Twisted's answer to an option command that changes no state; None if it may.

        Enabling an enabled option, or disabling a disabled one, is not
        answered; enabling an option the session refused is refused.
        """
        state = self.options.get(_BYTES[option])
        local = command in (_DO, _DONT)
        enabled = False
        if state is not None:
            side = state.us if local else state.him
            if side.negotiating:
                return None
            enabled = side.state == "yes"
        if command in (_WONT, _DONT):
            return None if enabled else b""
        if enabled:
            return b""
        if local and option in self._refused_local:
            return IAC + WONT + _BYTES[option]
        if not local and option in self._refused_remote:
            return IAC + DONT + _BYTES[option]
        return None

    def commandReceived(self, command: bytes, argument: Optional[bytes]) -> None:
        """Twisted's state machine, noting the options the session refuses.

        Only this option's state may change here (the bridge's own offers
        start a negotiation, which only a command for that option ends), so
        only its refusals are sent afresh.
        """
        self._budget -= 1
        if command not in _OPTION_COMMANDS or not argument:
            super().commandReceived(command, argument)  # type: ignore[no-untyped-call]
            return
        option = argument[0]
        self._forget(option)
        super().commandReceived(command, argument)  # type: ignore[no-untyped-call]
        if command in (DO, WILL):
            state = self.options.get(argument)
            side = None if state is None else state.us if command == DO else state.him
            if side is not None and side.state == "no" and not side.negotiating:
                # refused: as refused next time, and already answered in this read
                (self._refused_local if command == DO else self._refused_remote).add(option)
                self._answered.add((command[0], option))

    def _forget(self, option: int) -> None:
        """The option's state may change: what was known of its commands no longer holds."""
        for kind in (_WILL, _WONT, _DO, _DONT):
            self._quiet.pop((kind, option), None)
            self._answered.discard((kind, option))

    # the bridge's own requests start a negotiation of the option

    def will(self, option: bytes) -> Deferred[bool]:
        self._forget(option[0])
        return super().will(option)  # type: ignore[no-untyped-call,no-any-return]

    def wont(self, option: bytes) -> Deferred[bool]:
        self._forget(option[0])
        return super().wont(option)  # type: ignore[no-untyped-call,no-any-return]

    def do(self, option: bytes) -> Deferred[bool]:
        self._forget(option[0])
        return super().do(option)  # type: ignore[no-untyped-call,no-any-return]

    def dont(self, option: bytes) -> Deferred[bool]:
        self._forget(option[0])
        return super().dont(option)  # type: ignore[no-untyped-call,no-any-return]

    def _deliver(self, out: List[bytes]) -> None:
        """Hand the data gathered so far to the session, in one call."""
        if out:
            data = b"".join(out)
            out.clear()
            if data:
                self.applicationDataReceived(data)

    def _collect(self, data: bytes) -> bool:
        """Add to the sub-negotiation; False (and the client dropped) past Twisted's cap."""
        room = self._MAX_SUBNEGOTIATION_LENGTH - len(self.commands)
        if len(data) > room:
            self.commands += data[:max(room, 0)]
            self._subnegotiationLengthExceeded()
            return False
        self.commands += data
        return True

    def _subnegotiated(self, payload: bytes) -> None:
        """A complete ``IAC SB ... IAC SE``; an empty one carries nothing and is skipped."""
        if not payload:
            self._invalid()
            return
        command = payload[:1]
        handler = self.negotiationMap.get(command)
        if handler is None:
            self.unhandledSubnegotiation(command, payload[1:])
        else:
            handler([payload[index:index + 1] for index in range(1, len(payload))])

    def _invalid(self) -> None:
        """A command Twisted would raise on: ignored (said once per connection)."""
        if not self._warned:
            self._warned = True
            self._log.warn("Ignoring invalid telnet commands from {peer}", peer=self.getPeer())

    # -- output: every byte is counted, negotiation answers included ------------

    def count_output(self, meter: OutputMeter) -> None:
        """Have ``meter`` told the size of every write to the client from now on."""
        self._meter = meter

    def _written(self, size: int) -> None:
        if self._meter is not None:
            self._meter(size)

    def _write(self, data: bytes) -> None:
        """Telnet commands: answers to a chunk's commands go out together, after it."""
        if self._replies is not None:
            self._replies += data
            return
        connected(self).write(data)
        self._written(len(data))

    def _flush_replies(self) -> None:
        replies = self._replies
        if replies:
            self._replies = None
            self._write(bytes(replies))
            self._replies = bytearray()

    def write(self, data: bytes) -> None:
        """Session output: 0xff doubled, each ``\\n`` sent as CR LF."""
        self._flush_replies()  # answers to earlier commands go first
        data = data.replace(b"\xff", b"\xff\xff").replace(b"\n", b"\r\n")
        connected(self).write(data)
        self._written(len(data))

    def writeSequence(self, seq: Iterable[bytes]) -> None:
        """Raw bytes, as Twisted's (no escaping), counted like the rest."""
        self._flush_replies()
        data = b"".join(seq)
        connected(self).write(data)
        self._written(len(data))

    def readConnectionLost(self) -> None:
        if self._backlog is not None:
            self._read_closed = True  # told once the rest of the read is parsed
            return
        protocol = self.protocol
        if protocol is not None and hasattr(protocol, "readConnectionLost"):
            protocol.readConnectionLost()
        else:
            self.loseConnection()

    def writeConnectionLost(self) -> None:
        self.loseConnection()

    def loseConnection(self) -> None:
        self._closing = True
        super().loseConnection()  # type: ignore[no-untyped-call]

    def connectionLost(self, reason: Any = None) -> None:
        self._backlog = None
        if self._next_turn is not None and self._next_turn.active():
            self._next_turn.cancel()
        self._next_turn = None
        super().connectionLost(reason)  # type: ignore[no-untyped-call]

    # The session stops reading from a client with too many lines waiting;
    # reading resumes when neither it nor a backlog holds it.

    def pauseProducing(self) -> None:
        self._session_paused = True
        if not self._held:
            connected(self).pauseProducing()

    def resumeProducing(self) -> None:
        self._session_paused = False
        if not self._held:
            connected(self).resumeProducing()

    def stopProducing(self) -> None:
        connected(self).stopProducing()

    def fileDescriptorReceived(self, descriptor: int) -> None:
        """A descriptor passed over a unix socket (SCM_RIGHTS), for ``getfd``."""
        protocol = self.protocol
        if protocol is not None and hasattr(protocol, "fd_received"):
            protocol.fd_received(descriptor)
        else:
            os.close(descriptor)
