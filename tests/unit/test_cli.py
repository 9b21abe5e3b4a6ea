"""The command line: options, --qmp values, exit statuses, and start-up against fakes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, List

import pytest
from twisted.internet.address import UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import clientFromString
from twisted.internet.error import CannotListenError, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.test.iosim import IOPump, connect, makeFakeClient, makeFakeServer

from hmpbridge import __version__
from hmpbridge.cli import (DEFAULT_LISTEN, EXIT_FAILURE, EXIT_LISTEN_FAILED, EXIT_OK,
                           EXIT_QMP_UNREACHABLE, EXIT_USAGE, MIN_REPLY, Fatal, _reason, _run, build_parser,
                           main, qmp_endpoint_string, serve)
from hmpbridge.qmp_protocol import MAX_REPLY
from hmpbridge.server import HMPServerFactory
from hmpbridge.testing import FakeQEMU, failure_of

# -- options ----------------------------------------------------------------------


def test_defaults() -> None:
    """Without options: own QEMU, default listener, passthrough on, 10 s to connect."""
    options = build_parser().parse_args([])
    assert options.qmp is None
    assert options.listen is None
    assert options.no_passthrough is False
    assert options.connect_timeout == 10.0
    assert options.qemu is None  # qemu-system-x86_64 when one is started
    assert options.qemu_arg == []
    assert options.log_level == "info"


def test_reply_limit_leaves_room_for_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """--max-reply defaults to the client's limit and refuses one too small for the schema."""
    assert build_parser().parse_args([]).max_reply == MAX_REPLY
    assert build_parser().parse_args(["--max-reply", str(MIN_REPLY)]).max_reply == MIN_REPLY
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--max-reply", str(MIN_REPLY - 1)])
    assert exited.value.code == EXIT_USAGE
    assert f"--max-reply: must be at least {MIN_REPLY}" in capsys.readouterr().err


def test_every_option() -> None:
    """Repeatable options collect in order; values are converted."""
    options = build_parser().parse_args([
        "--qmp", "/run/vm.qmp", "--listen", "tcp:4444", "--listen", "unix:/run/vm.hmp",
        "--no-passthrough", "--connect-timeout", "2.5", "--qemu", "/opt/qemu",
        "--qemu-arg=-m", "--qemu-arg", "512", "--log-level", "debug"])
    assert options.qmp == "/run/vm.qmp"
    assert options.listen == ["tcp:4444", "unix:/run/vm.hmp"]
    assert options.no_passthrough is True
    assert options.connect_timeout == 2.5
    assert options.qemu == "/opt/qemu"
    assert options.qemu_arg == ["-m", "512"]
    assert options.log_level == "debug"


@pytest.mark.parametrize("argv", [
    ["--connect-timeout", "soon"],
    ["--log-level", "chatty"],
    ["--frobnicate"],
    ["positional"],
])
def test_bad_command_lines_exit_with_the_usage_status(
        argv: List[str], capsys: pytest.CaptureFixture[str]) -> None:
    """argparse refuses bad input with status 2, which is EXIT_USAGE."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == EXIT_USAGE
    assert "usage: hmpbridge" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the program and version and exits 0."""
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--version"])
    assert exc.value.code == EXIT_OK
    assert capsys.readouterr().out.strip() == f"hmpbridge {__version__}"


def test_help_documents_the_exit_statuses() -> None:
    """--help ends with every exit status and its meaning."""
    text = build_parser().format_help()
    for status, words in [(EXIT_OK, "stopped normally"), (EXIT_FAILURE, "could not be started"),
                          (EXIT_USAGE, "bad command line"),
                          (EXIT_QMP_UNREACHABLE, "could not be reached"),
                          (EXIT_LISTEN_FAILED, "could not be bound")]:
        assert any(line.strip().startswith(f"{status}  ") and words in line
                   for line in text.splitlines()), (status, words)


def test_exit_statuses_are_distinct() -> None:
    """Each outcome has its own status; usage errors keep argparse's 2."""
    statuses = [EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_QMP_UNREACHABLE, EXIT_LISTEN_FAILED]
    assert statuses == [0, 1, 2, 3, 4]


# -- --qmp values ------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("/run/vm1.qmp", "unix:path=/run/vm1.qmp"),
    ("./vm.qmp", "unix:path=./vm.qmp"),
    ("../vm.qmp", "unix:path=../vm.qmp"),
    ("/tmp/odd:name", "unix:path=/tmp/odd\\:name"),
    ("/tmp/back\\slash", "unix:path=/tmp/back\\\\slash"),
    ("unix:path=/run/vm1.qmp", "unix:path=/run/vm1.qmp"),
    ("tcp:host=127.0.0.1:port=4445", "tcp:host=127.0.0.1:port=4445"),
    ("no-such-file", "no-such-file"),
])
def test_qmp_endpoint_string(value: str, expected: str) -> None:
    """Paths become unix endpoints (escaped); endpoint strings pass through unchanged."""
    assert qmp_endpoint_string(value) == expected


def test_home_relative_path_is_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    """~/x is a path in the home directory."""
    monkeypatch.setenv("HOME", "/home/alice")
    assert qmp_endpoint_string("~/vm.qmp") == "unix:path=/home/alice/vm.qmp"


def test_existing_bare_file_name_is_a_unix_socket(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare name without a colon that exists in the current directory is a path."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vm.qmp").touch()
    assert qmp_endpoint_string("vm.qmp") == "unix:path=vm.qmp"


@pytest.mark.parametrize("path", ["/run/vm1.qmp", "/tmp/a:b", "/tmp/a=b", "/tmp/a\\b",
                                  "/tmp/sp ace"])
def test_escaped_paths_survive_endpoint_parsing(path: str) -> None:
    """Whatever the path holds, Twisted's parser gets it back exactly."""
    endpoint = clientFromString(MemoryReactorClock(), qmp_endpoint_string(path))
    assert endpoint._path == path


def test_reason_keeps_only_the_cause() -> None:
    """Connection failures are reported by their cause, without Twisted's preamble."""
    assert _reason(Exception("An error occurred while connecting: 2: No such file.")) == \
        "2: No such file"
    assert _reason(ConnectionRefusedError()) == "Connection was refused by other side"
    assert _reason(TimeoutError()) == "TimeoutError"


# -- start-up, against a memory reactor ------------------------------------------------


def options(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def fatal_of(d: "Deferred[Any]") -> Fatal:
    value = failure_of(d, Fatal).value
    assert isinstance(value, Fatal)
    return value


def complete_unix_connection(reactor: MemoryReactorClock, qemu: FakeQEMU) -> IOPump:
    """Let the pending connectUNIX reach ``qemu`` and negotiate."""
    path, factory, _, _ = reactor.unixClients[-1]
    client = factory.buildProtocol(UNIXAddress(path))
    pump = connect(qemu, makeFakeServer(qemu), client, makeFakeClient(client), greet=False)
    pump.flush()
    return pump


def test_invalid_qmp_endpoint_is_a_usage_error() -> None:
    """An unparseable --qmp stops with EXIT_USAGE before connecting anywhere."""
    reactor = MemoryReactorClock()
    d = Deferred.fromCoroutine(serve(reactor, options("--qmp", "bogus:thing")))
    fatal = fatal_of(d)
    assert fatal.status == EXIT_USAGE
    assert "invalid --qmp endpoint 'bogus:thing'" in fatal.message
    assert reactor.unixClients == [] and reactor.tcpClients == []


def test_unreachable_qmp_stops_with_its_own_status() -> None:
    """A refused QMP connection at start-up stops with EXIT_QMP_UNREACHABLE and the cause."""
    reactor = MemoryReactorClock()
    d = Deferred.fromCoroutine(serve(reactor, options("--qmp", "/run/none.qmp")))
    path, factory, _, _ = reactor.unixClients[0]
    assert path == "/run/none.qmp"
    factory.clientConnectionFailed(reactor.connectors[0], Failure(ConnectionRefusedError()))
    assert not d.called
    reactor.advance(0)
    fatal = fatal_of(d)
    assert fatal.status == EXIT_QMP_UNREACHABLE
    assert fatal.message == ("cannot connect to QMP at unix:path=/run/none.qmp: "
                             "Connection was refused by other side")
    assert reactor.tcpServers == []


def test_qmp_peer_that_never_greets_stops_after_the_connect_timeout() -> None:
    """A QMP socket that accepts but never greets fails start-up after --connect-timeout."""
    reactor = MemoryReactorClock()
    d = Deferred.fromCoroutine(serve(reactor, options(
        "--qmp", "/run/busy.qmp", "--connect-timeout", "3")))
    pump = complete_unix_connection(reactor, FakeQEMU(greet=False))
    reactor.advance(3)
    pump.flush()
    reactor.advance(0)
    fatal = fatal_of(d)
    assert fatal.status == EXIT_QMP_UNREACHABLE
    assert "no QMP greeting within 3 s" in fatal.message


def test_serves_hmp_on_every_listener_once_connected() -> None:
    """With QMP negotiated, every --listen endpoint is bound with an HMP factory."""
    reactor = MemoryReactorClock()
    d = Deferred.fromCoroutine(serve(reactor, options(
        "--qmp", "/run/vm.qmp", "--listen", "tcp:4444:interface=127.0.0.1",
        "--listen", "unix:/run/vm.hmp")))
    assert reactor.tcpServers == []
    qemu = FakeQEMU()
    complete_unix_connection(reactor, qemu)
    assert qemu.commands == ["qmp_capabilities", "query-qmp-schema"]
    assert not d.called  # serving until the reactor stops
    (port, factory, _, interface), = reactor.tcpServers
    assert (port, interface) == (4444, "127.0.0.1")
    assert isinstance(factory, HMPServerFactory)
    (address, unix_factory, *_), = reactor.unixServers
    assert address == "/run/vm.hmp"
    assert isinstance(unix_factory, HMPServerFactory)
    assert unix_factory.runner is factory.runner
    shutdown = [call for call, _, _ in reactor.triggers["before"]["shutdown"]]
    assert len(shutdown) == 1  # one ordered shutdown: drain, listeners, QMP, QEMU


def test_default_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --listen, HMP is served on the default endpoint (loopback port 4444)."""
    assert DEFAULT_LISTEN == "telnet:tcp:4444:interface=127.0.0.1"
    reactor = MemoryReactorClock()
    Deferred.fromCoroutine(serve(reactor, options("--qmp", "/run/vm.qmp")))
    complete_unix_connection(reactor, FakeQEMU())
    (port, _, _, interface), = reactor.tcpServers
    assert (port, interface) == (4444, "127.0.0.1")


def test_listen_failure_stops_with_its_own_status() -> None:
    """A listener that cannot be bound stops with EXIT_LISTEN_FAILED and the reason."""
    class Busy(MemoryReactorClock):
        def listenTCP(self, port: int, factory: Any, backlog: int = 50,
                      interface: str = "") -> Any:
            raise CannotListenError(interface, port, OSError(98, "Address already in use"))

    reactor = Busy()
    d = Deferred.fromCoroutine(serve(reactor, options(
        "--qmp", "/run/vm.qmp", "--listen", "tcp:4444:interface=127.0.0.1")))
    complete_unix_connection(reactor, FakeQEMU())
    fatal = fatal_of(d)
    assert fatal.status == EXIT_LISTEN_FAILED
    assert fatal.message == ("cannot listen on tcp:4444:interface=127.0.0.1: "
                             "[Errno 98] Address already in use")


def test_invalid_listen_endpoint_is_a_usage_error() -> None:
    """A --listen of a kind Twisted does not know stops with EXIT_USAGE before connecting."""
    reactor = MemoryReactorClock()
    d = Deferred.fromCoroutine(serve(reactor, options(
        "--qmp", "/run/vm.qmp", "--listen", "bogus:1")))
    assert reactor.unixClients == []
    fatal = fatal_of(d)
    assert fatal.status == EXIT_USAGE
    assert "'bogus:1'" in fatal.message


def test_run_turns_fatal_into_a_message_and_exit_status(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A start-up failure prints one line on stderr and exits with its status."""
    d = _run(MemoryReactorClock(), options("--qmp", "bogus:thing"))
    exit_status = failure_of(d, SystemExit).value
    assert isinstance(exit_status, SystemExit) and exit_status.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("hmpbridge: invalid --qmp endpoint 'bogus:thing'")
    assert err.count("\n") == 1


def test_bare_path_reaches_connect_unix(tmp_path: Path) -> None:
    """A bare socket path given to --qmp is connected to as a unix socket."""
    sock = str(tmp_path / "vm.qmp")
    reactor = MemoryReactorClock()
    Deferred.fromCoroutine(serve(reactor, options("--qmp", sock)))
    assert [client[0] for client in reactor.unixClients] == [sock]


@pytest.mark.parametrize("listen", ["tcp:4444", "tcp:port=4444:interface=0.0.0.0",
                                    "tcp6:4444:interface=\\:\\:"])
def test_remote_listeners_need_a_guard_or_an_explicit_flag(listen: str) -> None:
    """A listener reachable from other hosts without TLS or a password stops with EXIT_USAGE."""
    reactor = MemoryReactorClock()
    d = Deferred.fromCoroutine(serve(reactor, options("--qmp", "/run/vm.qmp",
                                                      "--listen", listen)))
    fatal = fatal_of(d)
    assert fatal.status == EXIT_USAGE
    assert "--allow-remote" in fatal.message and reactor.unixClients == []


def test_remote_listeners_are_allowed_with_the_flag_and_warned_about() -> None:
    """With --allow-remote, a remote listener is bound, and a warning names it."""
    from hmpbridge.cli import check_exposure

    warnings = check_exposure(options("--listen", "tcp:4444", "--allow-remote",
                                      "--listen", "unix:/run/x"))
    assert warnings == ["tcp:4444 is reachable from other hosts and not encrypted"]


def test_a_password_file_guards_remote_hmp_listeners_but_not_qmp_ones(tmp_path: Path) -> None:
    """A password file makes a remote HMP listener acceptable; QMP has no login, so not QMP."""
    from hmpbridge.cli import Fatal, check_exposure

    assert check_exposure(options("--listen", "tcp:4444", "--password-file", "pw")) == [
        "tcp:4444 is reachable from other hosts and not encrypted"]
    with pytest.raises(Fatal):
        check_exposure(options("--qmp-listen", "tcp:4445", "--password-file", "pw"))


def test_timeouts_by_class() -> None:
    """--timeout CLASS=SECONDS collects per class; bad classes or numbers are usage errors."""
    assert build_parser().parse_args(["--timeout", "query=5", "--timeout", "long=0"]).timeout \
        == [("query", 5.0), ("long", 0.0)]
    for bad in ["query", "fast=1", "query=soon", "query=-1"]:
        with pytest.raises(SystemExit):
            build_parser().parse_args(["--timeout", bad])


def test_read_only_listeners_cap_the_role() -> None:
    """--read-only-listen and --qmp-read-only-listen bind factories with the read-only role."""
    from hmpbridge.qmp_server import QMPServerFactory

    reactor = MemoryReactorClock()
    Deferred.fromCoroutine(serve(reactor, options(
        "--qmp", "/run/vm.qmp", "--read-only-listen", "unix:/run/ro.hmp",
        "--qmp-read-only-listen", "unix:/run/ro.qmp", "--timeout", "query=7")))
    complete_unix_connection(reactor, FakeQEMU())
    factories = {address: factory for address, factory, *_ in reactor.unixServers}
    assert factories["/run/ro.hmp"].access.role == "read-only"
    assert isinstance(factories["/run/ro.qmp"], QMPServerFactory)
    assert factories["/run/ro.qmp"].role == "read-only"
    assert factories["/run/ro.hmp"].runner.timeouts["query"] == 7


def test_bad_password_file_is_a_usage_error(tmp_path: Path) -> None:
    """A password file that cannot be read stops with EXIT_USAGE and says why."""
    reactor = MemoryReactorClock()
    d = Deferred.fromCoroutine(serve(reactor, options(
        "--qmp", "/run/vm.qmp", "--password-file", str(tmp_path / "none"))))
    fatal = fatal_of(d)
    assert fatal.status == EXIT_USAGE and "cannot read password file" in fatal.message


@pytest.mark.parametrize("given,used", [
    ("tcp:4444:interface=127.0.0.1", "tcp:4444:interface=127.0.0.1:backlog=1024"),
    ("unix:/run/vm.hmp", "unix:/run/vm.hmp:backlog=1024"),
    ("tcp:4444:backlog=10", "tcp:4444:backlog=10"),
    ("tcp:4444:127.0.0.1:10", "tcp:4444:127.0.0.1:10"),
    ("TCP6:4444", "TCP6:4444:backlog=1024"),
    ("tcp6:4444:10", "tcp6:4444:10"),
    ("systemd:domain=INET:index=0", "systemd:domain=INET:index=0")])
def test_listeners_get_a_deep_backlog_unless_they_set_one(given: str, used: str) -> None:
    """A burst of connections queues in the kernel instead of retrying SYNs after a second."""
    from hmpbridge.cli import with_backlog

    assert with_backlog(given) == used
