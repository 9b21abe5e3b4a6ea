"""``python -m bench abuse``: the bridge stays healthy while one client misbehaves.

One paused QEMU 7.2 (16 MiB of guest memory, a QMP socket for the bridge and
one for direct checks) and one hmpbridge with every kind of listener: HMP
(``--listen``) and read-only HMP (``--read-only-listen``) on loopback TCP, QMP
(``--qmp-listen``) and read-only QMP (``--qmp-read-only-listen``) on unix
sockets, a password file (hmpbridge asks every HMP client to log in once one
is given: user ``op`` is an operator, ``ro`` is read-only; "the password
listener" below is ``--listen``) and an audit log.  The bridge runs with its
default limits.  Attacking HMP sessions log in before the probe starts, so
that a login's own cost (scrypt's 16 MiB while it runs) is not counted against
the attack, except in attack 8, where failed logins are the attack.

Then one misbehaving client at a time, each attack for ``--seconds``:

* a probe process, logged in as ``op``, sends ``info status`` every 20 ms and
  times each answer; it also samples the bridge's ``VmRSS`` and its open
  descriptors (``/proc/PID/fd``) every 100 ms;
* after the attack: is QEMU alive (its process, and ``query-status`` on the
  direct socket), and does the bridge answer a fresh HMP client and a fresh
  QMP client?

Each attack prints what it did and what it got back, then PASS or MISS for
each target: bridge RSS under 200 MB, probe max latency under 50 ms, no probe
command failed or went unanswered, QEMU alive, bridge answers (attack 3 also:
no round crossed).  When an attack misses a target, or leaves memory or
descriptors behind in the bridge, QEMU and the bridge are started afresh
before the next one, so that one attack's damage is not counted against the
next.

The probe is :mod:`bench.abuse_probe`, QEMU and the bridge
:mod:`bench.abuse_rig`, the attacking clients' sockets :mod:`bench.abuse_clients`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from bench.abuse_clients import (PROMPT, Client, describe_reply, pump, qmp_call, qmp_open,
                                 qmp_reply, run_threads, sleep_until)
from bench.abuse_probe import ProbeResult, latency_summary
from bench.abuse_rig import AbuseRig, Health, Probe, checkout_state, make_password_file
from bench.procs import qemu_version, raise_nofile
from bench.stats import Target

__all__ = ["main", "build_parser", "ATTACKS", "Attack", "Report", "classify_dump", "judge",
           "fmt_mib", "restart_reason", "select_attacks"]

#: The targets every attack is judged against.
RSS_LIMIT = 200e6
PROBE_MAX_MS = 50.0
#: What an attack may leave behind in the bridge before the next one gets a fresh bridge
#: (one password login keeps scrypt's 16 MiB in a worker thread's arena).
LEFT_BEHIND_RSS = 24 * 1024 * 1024
LEFT_BEHIND_FDS = 8
IAC, DO = 255, 253
_MIB = 1024 * 1024


def classify_dump(size: int, lengths: Dict[str, int], slack: int = 64 * 1024) -> Optional[str]:
    """Whose dump a file of ``size`` bytes holds: the name whose length it fits, else None.

    A dump of ``length`` bytes of guest memory is that many bytes plus ELF
    headers (under ``slack``).
    """
    for name, length in lengths.items():
        if length <= size < length + slack:
            return name
    return None


def fmt_mib(value: float) -> str:
    """Bytes as MiB with one decimal."""
    return f"{value / _MIB:.1f} MiB"


def judge(key: str, probe: ProbeResult, health: Health) -> List[Target]:
    """The five targets of one attack, PASS or MISS."""
    summary = latency_summary(probe.latencies_ns)
    worst = summary["max"]
    if probe.unanswered:  # an unanswered command waited at least as long as the attack
        worst = float("inf")
    bad = probe.failed + probe.unanswered
    lost = f"; probe connection lost: {probe.lost}" if probe.lost else ""
    return [
        Target(f"attack {key}: bridge RSS < 200 MB", probe.rss_peak < RSS_LIMIT
               and not probe.bridge_gone and probe.error is None,
               f"peak {fmt_mib(probe.rss_peak)}" + (" (bridge exited)" if probe.bridge_gone
                                                    else "")),
        Target(f"attack {key}: probe max < 50 ms", worst < PROBE_MAX_MS and probe.error is None,
               f"max {summary['max']:.1f} ms over {int(summary['n'])} answers"
               + (f", {probe.unanswered} unanswered" if probe.unanswered else "")),
        Target(f"attack {key}: no probe failure", bad == 0 and probe.lost is None
               and probe.error is None and probe.sent > 0,
               f"{probe.failed} failed, {probe.unanswered} unanswered of {probe.sent}{lost}"
               + (f"; probe error: {probe.error}" if probe.error else "")),
        Target(f"attack {key}: QEMU alive", health.qemu_alive, health.qemu_detail),
        Target(f"attack {key}: bridge answers", health.hmp_ok and health.qmp_ok,
               f"HMP {health.hmp_detail}; QMP {health.qmp_detail}"),
    ]


# -- the attacks -------------------------------------------------------------------------------

@dataclass
class Report:
    """What an attack did and got back; ``checks``: targets of its own (besides the five)."""

    notes: List[str]
    checks: List[Target] = field(default_factory=list)


def attack_nothing(rig: AbuseRig, seconds: float) -> Report:
    """0: nobody misbehaves; the probe alone shows the machine's noise."""
    sleep_until(time.monotonic() + seconds)
    return Report(["no attacking client: the probe's figures are the floor for the others"])


def _dlp(typename: str) -> bytes:
    return json.dumps({"execute": "device-list-properties",
                       "arguments": {"typename": typename}}).encode() + b"\n"


def attack_gl_devices(rig: AbuseRig, seconds: float) -> Report:
    """1: a read-only QMP client asks for the options of the GL display devices."""
    deadline = time.monotonic() + seconds
    requests = [
        ("device-list-properties virtio-gpu-gl-pci", _dlp("virtio-gpu-gl-pci")),
        ("device-list-properties virtio-vga-gl", _dlp("virtio-vga-gl")),
        ("human-monitor-command 'device_add virtio-gpu-gl-pci,help'",
         b'{"execute": "human-monitor-command", '
         b'"arguments": {"command-line": "device_add virtio-gpu-gl-pci,help"}}\n'),
    ]
    notes = []
    client: Optional[Client] = None
    for what, request in requests:
        step = min(deadline, time.monotonic() + 3)
        try:
            if client is None or client.closed:
                client = qmp_open(rig.ro_qmp, step)
            reply = qmp_call(client, request, step)
            notes.append(f"{what}: {describe_reply(reply)}")
        except (OSError, ConnectionError, TimeoutError) as err:
            notes.append(f"{what}: {err}")
            if client is not None:
                client.close()
            client = None
    if client is not None:
        client.close()
    sleep_until(deadline)
    return Report(notes)


def attack_invalid_utf8_hmp(rig: AbuseRig) -> Callable[[float], Report]:
    """2a: 8 read-only HMP sessions send ``qom-get /machine`` and invalid UTF-8, in a loop.

    The sessions log in one after the other before the probe starts: password
    logins at once cost memory of their own (scrypt's 16 MiB each, see 8b),
    which is not what this measures.
    """
    line = b"qom-get /machine \xc3\x28\n"
    sessions: List[Client] = []
    problems: List[str] = []
    lock = threading.Lock()
    for _ in range(8):
        try:
            sessions.append(rig.hmp("ro", time.monotonic() + 10))
        except (OSError, ConnectionError, TimeoutError) as err:
            problems.append(f"login: {err}")

    def attack(seconds: float) -> Report:
        deadline = time.monotonic() + seconds
        counts = {"sent": 0, "answered": 0}
        answers: Dict[bytes, int] = {}

        def session(client: Client) -> None:
            try:
                while time.monotonic() < deadline:
                    client.send(line, deadline)
                    with lock:
                        counts["sent"] += 1
                    answer = client.read_until(PROMPT, deadline + 1)
                    if answer is None:
                        with lock:
                            problems.append("a line was not answered within 1 s of the end")
                        return
                    with lock:
                        counts["answered"] += 1
                        key = answer[:-len(PROMPT)].strip()[:100]
                        answers[key] = answers.get(key, 0) + 1
            except (OSError, ConnectionError) as err:
                with lock:
                    problems.append(str(err))
            finally:
                client.close()

        hung = run_threads([partial(session, c) for c in sessions], deadline + 3)
        notes = [f"{len(sessions)} sessions (logged in before the probe started) sent "
                 f"{counts['sent']:,} lines, {counts['answered']:,} answered"]
        notes += [f"answer x{n:,}: {text!r}" for text, n in sorted(answers.items())][:4]
        notes += _problems(problems, hung)
        return Report(notes)

    return attack


def attack_bad_json_values(rig: AbuseRig, seconds: float) -> Report:
    """2b: a read-only QMP client sends a lone surrogate escape and 1e400 as arguments and ids."""
    deadline = time.monotonic() + seconds
    requests = [
        ('argument "\\udc80"',
         b'{"execute": "qom-get", "arguments": {"path": "/machine", "property": "\\udc80"}}\n'),
        ("argument 1e400",
         b'{"execute": "qom-get", "arguments": {"path": "/machine", "property": 1e400}}\n'),
        ('id "\\udc80"', b'{"execute": "query-status", "id": "\\udc80"}\n'),
        ("id 1e400", b'{"execute": "query-status", "id": 1e400}\n'),
    ]
    replies: Dict[str, Dict[str, int]] = {what: {} for what, _ in requests}
    drops = 0
    client: Optional[Client] = None
    first_pass = True
    while first_pass or time.monotonic() < deadline:
        first_pass = False
        for what, request in requests:  # each at least once, however short the attack
            step = time.monotonic() + 1
            try:
                if client is None or client.closed:
                    client = qmp_open(rig.ro_qmp, step)
                reply = qmp_call(client, request, step)
                text = describe_reply(reply)
                if reply is None:  # its reply may still come: start afresh
                    text = "no reply within 1 s"
                    client.close()
                    client = None
            except (OSError, ConnectionError, TimeoutError) as err:
                text = f"connection: {err}"
                drops += 1
                if client is not None:
                    client.close()
                client = None
            replies[what][text] = replies[what].get(text, 0) + 1
    if client is not None:
        client.close()
    notes = []
    for what, seen in replies.items():
        for text, n in seen.items():
            notes.append(f"{what}: x{n:,} {text}")
    for what, request in requests:  # for comparison: QEMU's own answer, once
        try:
            direct = rig.direct_call(request)
        except (OSError, ConnectionError, TimeoutError) as err:
            direct = f"{err}"
        notes.append(f"QEMU itself, {what}: {direct}")
    if drops:
        notes.append(f"the QMP connection failed {drops:,} times (each time reconnected)")
    return Report(notes)


@dataclass
class _RaceResult:
    """Rounds of :func:`_dump_race`: how many ran, crossed, had an error; examples."""

    done: int = 0
    crossed: int = 0
    errors: int = 0
    examples: List[str] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    hung: int = 0


def _dump_race(rig: AbuseRig, fdnames: Dict[str, str], rounds: int,
               deadline: float) -> _RaceResult:
    """Two QMP clients, ``A`` and ``B``, pass a descriptor and dump into it at the same moments.

    Each round both clients open their own file, pass it with ``getfd`` (as
    ``fdnames[client]``) at the same moment, then both ask
    ``dump-guest-memory`` into it at the same moment; A dumps 64 KiB, B 128
    KiB, so each file's size tells whose dump it holds.  A round is crossed
    when either client got an error or its file holds the other's dump (or none).
    """
    lengths = {"A": 64 * 1024, "B": 128 * 1024}
    files = {name: os.path.join(rig.dir, f"dump-{name}.elf") for name in lengths}
    barrier = threading.Barrier(2, timeout=5)
    #: per client, per round: (error text or "", whose dump its file holds)
    outcome: Dict[str, List[Tuple[str, Optional[str]]]] = {name: [] for name in lengths}
    result = _RaceResult()

    def client(name: str) -> None:
        getfd = json.dumps({"execute": "getfd",
                            "arguments": {"fdname": fdnames[name]}}).encode() + b"\n"
        dump = json.dumps({"execute": "dump-guest-memory", "arguments": {
            "paging": False, "protocol": f"fd:{fdnames[name]}", "begin": 0,
            "length": lengths[name]}}).encode() + b"\n"
        conn: Optional[Client] = None
        try:
            conn = qmp_open(rig.mux_qmp, time.monotonic() + 5)
            for _ in range(rounds):
                barrier.wait()  # both have checked the last round's files
                if time.monotonic() >= deadline:
                    break
                fd = os.open(files[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                step = time.monotonic() + 3
                try:
                    barrier.wait()
                    first = qmp_call(conn, getfd, step, fds=[fd])
                finally:
                    os.close(fd)
                barrier.wait()
                second = qmp_call(conn, dump, step)
                barrier.wait()  # both dumps are done
                errors = [describe_reply(r) for r in (first, second)
                          if r is None or "return" not in r]
                owner = classify_dump(os.path.getsize(files[name]), lengths)
                outcome[name].append(("; ".join(errors), owner))
        except threading.BrokenBarrierError:
            result.problems.append(f"{name}: the other client stopped")
        except (OSError, ConnectionError, TimeoutError) as err:
            result.problems.append(f"{name}: {err}")
            barrier.abort()
        finally:
            if conn is not None:
                conn.close()

    result.hung = run_threads([lambda: client("A"), lambda: client("B")], deadline + 6)
    result.done = min(len(outcome["A"]), len(outcome["B"]))
    for i in range(result.done):
        bad = []
        for name in lengths:
            error, owner = outcome[name][i]
            if error:
                bad.append(f"{name} got {error}")
            if owner != name:
                bad.append(f"{name}'s file holds " + (f"{owner}'s dump" if owner else "no dump"))
        result.errors += any(outcome[name][i][0] for name in lengths)
        if bad:
            result.crossed += 1
            if len(result.examples) < 2:
                result.examples.append(f"e.g. round {i + 1}: " + "; ".join(bad))
    return result


def attack_fd_dump_race(rig: AbuseRig, seconds: float, rounds: int = 30) -> Report:
    """3: two QMP clients pass descriptors and dump guest memory into them at the same moments.

    First both name their descriptor ``dump`` (two copies of one tool), then
    each a name of its own; ``rounds`` rounds each (see :func:`_dump_race`).
    """
    notes: List[str] = []
    crossed = missing = 0
    for fdnames, how in (({"A": "dump", "B": "dump"}, "both name their descriptor 'dump'"),
                         ({"A": "dump-a", "B": "dump-b"}, "'dump-a' and 'dump-b'")):
        race = _dump_race(rig, fdnames, rounds, time.monotonic() + max(seconds, 8.0) / 2)
        crossed += race.crossed
        missing += rounds - race.done
        notes.append(f"{how}: {race.crossed} of {race.done} rounds in which a client's file "
                     f"got the other's dump or an error ({race.errors} with an error)")
        notes += [f"  {example}" for example in race.examples]
        notes += _problems(race.problems, race.hung)
    notes.append("(A dumps 64 KiB of guest memory, B 128 KiB: a file's size tells whose)")
    check = Target("attack 3: no round crossed", crossed == 0 and missing == 0,
                   f"{crossed} of {2 * rounds - missing} rounds crossed or failed"
                   + (f", {missing} rounds not run" if missing else ""))
    return Report(notes, [check])


def _problems(problems: List[str], hung: int) -> List[str]:
    notes = []
    distinct: Dict[str, int] = {}
    for p in problems:
        distinct[p] = distinct.get(p, 0) + 1
    notes += [f"client problem x{n}: {p}" for p, n in list(distinct.items())[:4]]
    if hung:
        notes.append(f"{hung} client thread(s) still blocked at the end (left behind)")
    return notes


def attack_schema_no_read(rig: AbuseRig, seconds: float) -> Report:
    """4: a read-only QMP client asks query-qmp-schema in a loop and never reads."""
    deadline = time.monotonic() + seconds
    client = qmp_open(rig.ro_qmp, time.monotonic() + 5)
    request = b'{"execute": "query-qmp-schema"}\n'
    sent, _, reason, ran = pump(client.sock, request, deadline)
    client.close()
    return Report([f"sent {sent // len(request):,} requests in {ran:.1f} s, read nothing; "
                   + (f"{reason} after {ran:.1f} s" if reason else "still connected at the end")])


def attack_fd_flood(rig: AbuseRig, seconds: float, total: int = 20000) -> Report:
    """5: a read-only QMP client that never negotiates passes 20,000 descriptors."""
    deadline = time.monotonic() + seconds
    client = Client.unix(rig.ro_qmp, deadline)
    null = os.open(os.devnull, os.O_RDONLY)
    passed = 0
    reason = None
    t0 = time.monotonic()
    try:
        while passed < total and time.monotonic() < deadline:
            batch = min(250, total - passed)  # SCM_MAX_FD is 253
            if not client.send(b" ", deadline, fds=[null] * batch):
                reason = "the bridge stopped reading"
                break
            passed += batch
    except ConnectionError as err:
        reason = str(err)
    finally:
        os.close(null)
    took = time.monotonic() - t0
    notes = [f"passed {passed:,} descriptors in {took:.2f} s"
             + (f"; then {reason}" if reason else "")]
    time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    notes.append("while the descriptors are held, a fresh HMP connection "
                 f"{_login_prompt(rig.port)}; a fresh QMP client: {rig.fresh_qmp()[1]}")
    sleep_until(deadline)
    client.close()
    return Report(notes)


def _login_prompt(port: int) -> str:
    """Whether a new connection to ``port`` gets ``login:`` (no login: it costs memory)."""
    deadline = time.monotonic() + 3
    try:
        client = Client.tcp(port, deadline)
    except OSError as err:
        return f"cannot connect ({err})"
    try:
        return "gets its login prompt" if client.read_until(b"login: ", deadline) else \
            "gets no login prompt within 3 s"
    except ConnectionError as err:
        return f"is {err}"
    finally:
        client.close()


def attack_telnet_options(client: Client, seconds: float) -> Report:
    """6a: a read-only HMP client asks IAC DO for every option, over and over, never reading."""
    deadline = time.monotonic() + seconds
    chunk = b"".join(bytes((IAC, DO, opt)) for opt in range(256))
    sent, _, reason, ran = pump(client.sock, chunk, deadline, rate=2e6)
    client.close()
    return Report([f"sent {sent // 3:,} IAC DO requests ({sent / 1e6:.1f} MB) in {ran:.1f} s, "
                   f"read nothing; " + (reason or "still connected at the end")])


def attack_iac_stream(client: Client, seconds: float) -> Report:
    """6b: a read-only HMP client streams 0xFF bytes at about 2 MB/s."""
    deadline = time.monotonic() + seconds
    sent, received, reason, ran = pump(client.sock, b"\xff" * 20000, deadline, rate=2e6,
                                       drain=True)
    client.close()
    rate = sent / 1e6 / max(ran, 1e-3)
    return Report([f"sent {sent / 1e6:.1f} MB of 0xFF in {ran:.1f} s ({rate:.1f} MB/s), read "
                   f"{received:,} bytes; " + (reason or "still connected at the end")])


def attack_failed_logins(rig: AbuseRig, seconds: float, connections: int = 4,
                         stream: bool = True) -> Report:
    """8a: clients fail a login, then stream lines during the failure delay; 8b: no stream.

    Every connection logs in as ``op`` with a wrong password at the same
    moment; with ``stream``, each then sends user names and passwords at 32
    MiB/s until the end; without, it waits (reading) until the end.
    """
    deadline = time.monotonic() + seconds
    results: List[str] = []
    lock = threading.Lock()
    chunk = b"nobody\n" * 9362 if stream else b""  # 64 KiB of user names and passwords
    rate = 32 * _MIB

    def connection() -> None:
        try:
            client = Client.tcp(rig.port, deadline)
            step = min(deadline, time.monotonic() + 3)
            for prompt, answer in ((b"login: ", b"op\n"), (b"Password: ", b"wrong\n")):
                if client.read_until(prompt, step) is None:
                    raise TimeoutError(f"no {prompt!r}")
                client.send(answer, step)
            sent, received, reason, ran = pump(client.sock, chunk, deadline, rate=rate,
                                               drain=True)
            client.close()
            text = (f"sent {sent / _MIB:,.1f} MiB, " if stream else "") + \
                f"read {received:,} bytes; " + \
                (f"{reason} after {ran:.1f} s" if reason else "still connected at the end")
        except (OSError, ConnectionError, TimeoutError) as err:
            text = f"failed: {err}"
        with lock:
            results.append(text)

    hung = run_threads([connection] * connections, deadline + 3)
    notes = [f"connection {i + 1}: {text}" for i, text in enumerate(results)]
    if stream:
        notes.append(f"each streams at most {rate / _MIB:.0f} MiB/s")
    return Report(notes + _problems([], hung))


def attack_huge_xp(client: Client, seconds: float) -> Report:
    """9a: a read-only HMP session asks for 3,000,000 quad words of guest memory, and reads."""
    deadline = time.monotonic() + max(seconds, 8.0)
    t0 = time.monotonic()
    received = 0
    head = tail = b""
    note = "answer still incomplete at the end"
    try:
        client.send(b"xp /3000000xg 0\n", deadline)
        while time.monotonic() < deadline:
            if not client.fill(deadline):
                continue
            received += len(client.buf)
            head = (head + client.buf)[:100] if len(head) < 100 else head
            tail = (tail + client.buf)[-len(PROMPT):]
            client.buf = b""
            if tail == PROMPT:
                note = f"answered in {time.monotonic() - t0:.1f} s"
                break
    except ConnectionError as err:
        note = f"{err} after {time.monotonic() - t0:.1f} s"
    client.close()
    return Report([f"read {received:,} bytes of output; {note}", f"output began {head[:70]!r}"])


def attack_huge_qmp(rig: AbuseRig, seconds: float, size: int = 16_000_000) -> Report:
    """9b: a QMP client sends one 16 MB message (a qom-get of a 16 MB property name)."""
    deadline = time.monotonic() + max(seconds, 6.0)
    client = qmp_open(rig.mux_qmp, time.monotonic() + 5)
    head = b'{"execute": "qom-get", "arguments": {"path": "/machine", "property": "'
    tail = b'"}}\n'
    message = head + b"a" * (size - len(head) - len(tail)) + tail
    t0 = time.monotonic()
    try:
        if not client.send(message, deadline):
            note = "the bridge did not take the whole message before the end"
        else:
            sent = time.monotonic() - t0
            reply = qmp_reply(client, deadline)
            size_text = f" ({len(json.dumps(reply)):,} bytes)" if reply is not None else ""
            note = (f"sent in {sent:.2f} s; reply after {time.monotonic() - t0:.2f} s: "
                    f"{describe_reply(reply)[:80]}{size_text}")
    except ConnectionError as err:
        note = f"{err} after {time.monotonic() - t0:.1f} s"
    client.close()
    return Report([f"one message of {size:,} bytes; {note}"])


#: Sets up an attack before the probe starts (logins, say); returns the attack itself,
#: which runs for the seconds it is given.
Start = Callable[[AbuseRig], Callable[[float], Report]]


def at_once(run: Callable[[AbuseRig, float], Report]) -> Start:
    """An attack without set-up."""
    return lambda rig: partial(run, rig)


def read_only_session(run: Callable[[Client, float], Report]) -> Start:
    """An attack by a read-only HMP session, logged in before the probe starts."""
    return lambda rig: partial(run, rig.hmp("ro", time.monotonic() + 10))


@dataclass(frozen=True)
class Attack:
    """One misbehaving client: its key (``--only``), what it does, and how."""

    key: str
    title: str
    start: Start


ATTACKS = (
    Attack("0", "none: the probe alone, for reference", at_once(attack_nothing)),
    Attack("1", "read-only QMP: device-list-properties of the GL devices, device_add ...,help",
           at_once(attack_gl_devices)),
    Attack("2a", "8 read-only HMP sessions: qom-get /machine with invalid UTF-8 (\\xc3\\x28)",
           attack_invalid_utf8_hmp),
    Attack("2b", "read-only QMP: arguments and ids \"\\udc80\" and 1e400",
           at_once(attack_bad_json_values)),
    Attack("3", "two QMP clients: getfd + dump-guest-memory fd:NAME at the same moments",
           at_once(attack_fd_dump_race)),
    Attack("4", "read-only QMP: query-qmp-schema in a loop, never reading",
           at_once(attack_schema_no_read)),
    Attack("5", "read-only QMP, never negotiating: 20,000 descriptors (SCM_RIGHTS)",
           at_once(attack_fd_flood)),
    Attack("6a", "read-only HMP, never reading: IAC DO for every option, over and over, "
           "at about 2 MB/s", read_only_session(attack_telnet_options)),
    Attack("6b", "read-only HMP: 0xFF bytes at about 2 MB/s", read_only_session(attack_iac_stream)),
    Attack("8a", "4 connections to the password listener: a failed login, then a stream "
           "during the failure delay", at_once(attack_failed_logins)),
    Attack("8b", "10 connections to the password listener: a failed login each, at once, "
           "no stream", at_once(partial(attack_failed_logins, connections=10, stream=False))),
    Attack("9a", "read-only HMP: xp /3000000xg 0", read_only_session(attack_huge_xp)),
    Attack("9b", "QMP: one 16 MB message", at_once(attack_huge_qmp)),
)


def select_attacks(only: Optional[str]) -> List[Attack]:
    """The attacks ``--only`` names (``6`` means 6a and 6b), all when None."""
    if not only:
        return list(ATTACKS)
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    chosen = [a for a in ATTACKS if a.key in wanted or a.key.rstrip("ab") in wanted]
    unknown = [w for w in wanted if not any(a.key == w or a.key.rstrip("ab") == w
                                            for a in ATTACKS)]
    if unknown:
        raise ValueError(f"unknown attack(s): {', '.join(unknown)}")
    return chosen


# -- the run ------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    attacks = "\n".join(f"  {a.key:3s} {a.title}" for a in ATTACKS)
    p = argparse.ArgumentParser(prog="python -m bench abuse", description=__doc__,
                                epilog=f"attacks:\n{attacks}",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float,
                   help="how long each attack runs (default 4, or 1.5 with --quick); attack 3 "
                        "may take up to 8 s for its 30 rounds, 9a up to 8 s and 9b up to 6 s "
                        "for their answers")
    p.add_argument("--quick", action="store_true",
                   help="shorter attacks: 1.5 s each, and the probe waits 1 s instead of 2 "
                        "for answers still owed at the end")
    p.add_argument("--only", metavar="N[,N...]",
                   help="run only these attacks, comma-separated: 0 (none, for reference), 1, 2 "
                        "(2a and 2b), 3, 4, 5, 6 (6a, 6b), 8 (8a, 8b), 9 (9a, 9b); default all")
    return p


def run_attack(rig: AbuseRig, attack: Attack, seconds: float,
               grace: float) -> Tuple[List[Target], List[Target], ProbeResult]:
    """Run one attack under the probe; print what happened and its targets.

    The probe keeps going for ``seconds`` at least, also when the attack ended
    sooner, to see what it left behind.  Returns the five targets, the
    attack's own checks, and what the probe saw.
    """
    print(f"\n== attack {attack.key}: {attack.title}", flush=True)
    log_mark = rig.log_size()
    try:
        go = attack.start(rig)
    except (OSError, ConnectionError, TimeoutError) as err:
        go = partial(_failed_start, f"{type(err).__name__}: {err}")
    cpu_start, wall_start = rig.cpu(), time.monotonic()
    probe = Probe(rig, grace)
    if not probe.ready or not probe.ready.get("ready"):
        result = probe.stop()
        print(f"   the probe could not start: {result.error}")
        report = Report([])
    else:
        t0 = time.monotonic()
        try:
            report = go(seconds)
        except (OSError, ConnectionError, TimeoutError) as err:
            report = Report([f"the attacking client failed: {type(err).__name__}: {err}"])
        report.notes.append(f"(attack took {time.monotonic() - t0:.1f} s)")
        sleep_until(t0 + seconds)
        result = probe.stop()
    cpu_end, wall = rig.cpu(), time.monotonic() - wall_start
    health = rig.health()
    for note in report.notes:
        print(f"   {note}")
    summary = latency_summary(result.latencies_ns)
    print(f"   bridge RSS {fmt_mib(result.rss_start)} -> peak {fmt_mib(result.rss_peak)} "
          f"(+{fmt_mib(result.rss_peak - result.rss_start)}), {fmt_mib(result.rss_end)} at the "
          f"end; descriptors {result.fds_start} -> peak {result.fds_peak}, "
          f"{result.fds_end} at the end")
    print(f"   CPU in {wall:.1f} s: " + _cpu_text("bridge", cpu_start[0], cpu_end[0], wall)
          + ", " + _cpu_text("QEMU", cpu_start[1], cpu_end[1], wall))
    print(f"   probe: {result.sent} info status sent, p50 {summary['p50']:.1f} ms, "
          f"p99 {summary['p99']:.1f} ms, max {summary['max']:.1f} ms; {result.failed} failed, "
          f"{result.unanswered} unanswered" + (f"; {result.notices} notices" if result.notices
                                               else "")
          + (f"; connection lost: {result.lost}" if result.lost else ""))
    for example in result.failed_examples:
        print(f"   probe failure: {example}")
    print(f"   QEMU: {health.qemu_detail}; fresh HMP client: {health.hmp_detail}; "
          f"fresh QMP client: {health.qmp_detail}")
    log = rig.log_since(log_mark)
    if log:
        tracebacks = log.count("Traceback")
        print(f"   hmpbridge wrote {len(log.splitlines()):,} lines ({len(log):,} bytes) to its log"
              + (f", {tracebacks} traceback(s)" if tracebacks else ""))
    targets = judge(attack.key, result, health)
    for target in targets + report.checks:
        print(f"   {target.line()}")
    if rig.fresh is None:
        rig.fresh = (result.rss_start, result.fds_start)
    return targets, report.checks, result


def _failed_start(error: str, seconds: float) -> Report:
    return Report([f"setting up the attack failed: {error}"])


def _cpu_text(who: str, start: Optional[float], end: Optional[float], wall: float) -> str:
    if start is None or end is None:
        return f"{who} gone"
    return f"{who} {end - start:.1f} s ({100 * (end - start) / wall:.0f} % of a core)"


def restart_reason(fresh: Optional[Tuple[int, int]], targets: Sequence[Target],
                   result: ProbeResult) -> str:
    """Why the next attack needs a fresh QEMU and bridge ('' when it does not).

    Missed targets, and memory or descriptors the attack left behind since
    ``fresh`` (the bridge's RSS and descriptors before its first attack):
    CPython keeps freed memory for reuse, so it would count against the next.
    """
    missed = [t.name.split(": ", 1)[1] for t in targets if not t.ok]
    if missed:
        return ", ".join(missed) + " missed"
    rss, fds = fresh or (result.rss_start, result.fds_start)
    if result.rss_end > rss + LEFT_BEHIND_RSS:
        return f"the bridge's RSS stays {fmt_mib(result.rss_end - rss)} above its start"
    if result.fds_end > fds + LEFT_BEHIND_FDS:
        return f"the bridge keeps {result.fds_end - fds} more descriptors than at its start"
    return ""


def main(argv: Optional[List[str]] = None) -> int:
    """Run the attacks asked for; exit status 0 when every target passed."""
    args = build_parser().parse_args(argv)
    try:
        attacks = select_attacks(args.only)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    seconds = args.seconds if args.seconds is not None else 1.5 if args.quick else 4.0
    grace = 1.0 if args.quick else 2.0
    soft, hard = raise_nofile()
    print(f"hmpbridge abuse benchmark: {qemu_version()}; Python {platform.python_version()}; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; open files "
          f"{soft}/{hard}; {seconds:g} s per attack")
    print(checkout_state())
    started = time.monotonic()
    base = tempfile.mkdtemp(prefix="hmpabuse")
    targets: List[Target] = []
    rig: Optional[AbuseRig] = None
    try:
        password_file = os.path.join(base, "passwords")
        make_password_file(password_file)
        for attack in attacks:
            if rig is None:
                rig = AbuseRig(base, password_file)
            own, checks, result = run_attack(rig, attack, seconds, grace)
            targets += own + checks
            reason = restart_reason(rig.fresh, own, result)
            if reason and attack is not attacks[-1]:
                print(f"   (QEMU and hmpbridge are started afresh: {reason})")
                rig.close()
                rig = None
    finally:
        if rig is not None:
            rig.close()
        shutil.rmtree(base, ignore_errors=True)
    print(f"\n== targets (whole run {time.monotonic() - started:.0f} s; "
          f"load average now {os.getloadavg()[0]:.2f})")
    for target in targets:
        print(target.line())
    missed_count = sum(not t.ok for t in targets)
    print(f"{len(targets) - missed_count} PASS, {missed_count} MISS")
    return 0 if missed_count == 0 else 1
