"""--qmp-dir on the command line: its options, usage errors, and start-up against fakes."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Dict, List

import pytest
from twisted.internet.address import UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from twisted.test.iosim import connect, makeFakeClient, makeFakeServer

from hmpbridge.chardev import PLAIN
from hmpbridge.cli import EXIT_USAGE, build_parser, check_exposure, fleet_usage, serve
from hmpbridge.qmp_server import QMPServerFactory
from hmpbridge.server import HMPServerFactory
from hmpbridge.testing import FakeQEMU
from tests.unit.test_cli import fatal_of, options


def test_defaults_serve_no_directory() -> None:
    parsed = options()
    assert parsed.qmp_dir is None and parsed.qmp_glob == "*.qmp"
    assert parsed.listen_each == [] and parsed.qmp_listen_each == []
    assert fleet_usage(parsed) == ""
    assert fleet_usage(options("--qmp", "/run/vm.qmp")) == ""


@pytest.mark.parametrize("argv, words", [
    (["--qmp-dir", "/run/vms"], "--qmp-dir needs a listener: --listen-each"),
    (["--qmp-dir", "/run/vms", "--qmp", "/run/vm.qmp", "--listen-each", "unix:/r/{vm}.hmp"],
     "--qmp and --qmp-dir exclude each other"),
    (["--listen-each", "unix:/r/{vm}.hmp"], "serve the VMs of --qmp-dir"),
    (["--qmp", "/run/vm.qmp", "--qmp-listen-each", "unix:/r/{vm}.qmp"],
     "serve the VMs of --qmp-dir"),
    (["--qmp-dir", "/run/vms", "--listen-each", "unix:/r/one.hmp"],
     "invalid --listen-each 'unix:/r/one.hmp': it has no {vm}"),
    (["--qmp-dir", "/run/vms", "--qmp-listen-each", "unix:/r/{id}-{vm}.qmp"],
     "invalid --qmp-listen-each 'unix:/r/{id}-{vm}.qmp': {id} is not a field"),
    (["--qmp-dir", "/run/vms", "--qemu", "/opt/qemu", "--listen", "tcp:4444"],
     "--qemu starts a QEMU of hmpbridge's own, which --qmp-dir does not"),
    (["--qmp-dir", "/run/vms", "--qemu-arg=-S", "--listen", "tcp:4444"],
     "--qemu-arg starts a QEMU of hmpbridge's own"),
    (["--qmp-dir", "/run/vms", "--listen-each", "unix:/r/{vm}.hmp", "--qmp-listen",
      "unix:/r/q"], "--qmp-listen serves one VM"),
    (["--qmp-dir", "/run/vms", "--listen-each", "unix:/r/{vm}.hmp", "--qmp-glob", "a/*.qmp"],
     "invalid --qmp-glob 'a/*.qmp'"),
    (["--qmp-dir", "/run/vms", "--qmp-listen-each", "unix:/run/vms/{vm}-mux.qmp"],
     "its sockets would be in --qmp-dir and match --qmp-glob"),
    (["--qmp-dir", "/run/vms/", "--listen-each", "plain:unix:path=/run/vms/{vm}.hmp",
      "--qmp-glob", "*"], "its sockets would be in --qmp-dir and match --qmp-glob"),
])
def test_bad_fleet_command_lines_are_usage_errors(argv: List[str], words: str) -> None:
    """Each is refused before anything is bound or connected, with the reason."""
    reactor = MemoryReactorClock()
    fatal = fatal_of(Deferred.fromCoroutine(serve(reactor, options(*argv))))
    assert fatal.status == EXIT_USAGE
    assert words in fatal.message
    assert reactor.unixClients == [] and reactor.unixServers == [] and reactor.tcpServers == []


def test_a_qmp_dir_that_is_not_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    reactor = MemoryReactorClock()
    d = Deferred.fromCoroutine(serve(reactor, options(
        "--qmp-dir", str(tmp_path / "missing"), "--listen-each", "unix:/r/{vm}.hmp")))
    fatal = fatal_of(d)
    assert fatal.status == EXIT_USAGE and "not a directory" in fatal.message


def test_listeners_beside_the_vms_are_fine_when_the_glob_leaves_them_out() -> None:
    assert fleet_usage(options("--qmp-dir", "/run/vms", "--listen-each",
                               "unix:/run/vms/{vm}.hmp")) == ""


def test_exposure_judges_the_templates() -> None:
    """A per-VM listener reachable from other hosts needs a guard like any other."""
    assert check_exposure(options("--qmp-dir", "/d", "--listen-each",
                                  "plain:unix:/run/{vm}.hmp")) == []
    with pytest.raises(Exception, match="reachable from other hosts"):
        check_exposure(options("--qmp-dir", "/d", "--qmp-listen-each",
                               "unix:/run/{vm}.qmp", "--listen-each", "tcp:4444:{vm}"))


def test_help_documents_the_fleet_options() -> None:
    text = build_parser().format_help()
    for option in ("--qmp-dir", "--qmp-glob", "--listen-each", "--qmp-listen-each"):
        assert option in text
    assert "{vm}" in text


def _socket_node(path: Path) -> None:
    try:
        os.mknod(path, stat.S_IFSOCK | 0o600)
    except (OSError, AttributeError) as err:
        pytest.skip(f"cannot make a socket node here: {err}")


def test_each_socket_of_the_directory_gets_its_own_connection_and_listeners(
        tmp_path: Path) -> None:
    """Two sockets (and a file that is no socket): each VM is connected on its own, and once
    up gets the listeners of every template, named after it."""
    _socket_node(tmp_path / "vm1.qmp")
    _socket_node(tmp_path / "vm2.qmp")
    (tmp_path / "vm3.qmp").write_text("not a socket")
    reactor = MemoryReactorClock()
    d = Deferred.fromCoroutine(serve(reactor, options(
        "--qmp-dir", str(tmp_path), "--listen-each", "plain:unix:/run/h/{vm}.hmp",
        "--qmp-listen-each", "unix:/run/h/{vm}.qmp")))
    assert not d.called
    clients = sorted(path for path, *_ in reactor.unixClients)
    assert clients == [str(tmp_path / "vm1.qmp"), str(tmp_path / "vm2.qmp")]
    assert reactor.unixServers == []  # nothing listens before the VM's QMP is up
    factories: Dict[str, Any] = {}
    for path, factory, _, _ in list(reactor.unixClients):
        qemu = FakeQEMU()
        client = factory.buildProtocol(UNIXAddress(path))
        connect(qemu, makeFakeServer(qemu), client, makeFakeClient(client), greet=False).flush()
    for path, factory, *_ in reactor.unixServers:
        factories[path] = factory
    assert sorted(factories) == ["/run/h/vm1.hmp", "/run/h/vm1.qmp", "/run/h/vm2.hmp",
                                 "/run/h/vm2.qmp"]
    assert isinstance(factories["/run/h/vm1.hmp"], HMPServerFactory)
    assert factories["/run/h/vm1.hmp"].chardev == PLAIN
    assert isinstance(factories["/run/h/vm2.qmp"], QMPServerFactory)
    # each VM has its own runner and board
    one, two = factories["/run/h/vm1.hmp"], factories["/run/h/vm2.hmp"]
    assert one.runner is not two.runner and one.board is not two.board
    assert one.upstream is not two.upstream
    assert one.clients is two.clients  # --max-clients counts every listener of every VM
