"""Command histories kept per authenticated user in a state directory (--state-dir)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import List, Tuple

import pytest
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hmpbridge.access import OPERATOR
from hmpbridge.channel import ChardevChannel
from hmpbridge.history import HISTORY_SIZE, FileHistoryStore, cap_line, file_name, merge
from hmpbridge.login import LoginGate
from hmpbridge.model import Identity
from hmpbridge.passwords import PasswordEntry
from hmpbridge.runner import CommandRunner
from hmpbridge.server import HMPServerFactory
from hmpbridge.limits import MAX_LINE
from hmpbridge.testing import FakeExecutor

ALICE = Identity("alice", method="password", peer="127.0.0.1:5000")
BOB = Identity("bob", method="password", peer="127.0.0.1:5001")
PEER = Identity("127.0.0.1:5002", method="peer", peer="127.0.0.1:5002")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def connect(factory: HMPServerFactory, identity: Identity
            ) -> Tuple[ChardevChannel, StringTransport]:
    """A session of ``identity`` on ``factory``, connected to a string transport."""
    channel = ChardevChannel("plain", lambda ch: factory.session(identity, ch), Clock())
    channel.factory = factory
    tcp = StringTransport()
    channel.makeConnection(tcp)
    tcp.clear()
    return channel, tcp


def run(channel: ChardevChannel, tcp: StringTransport, line: str) -> str:
    """What ``line`` prints, without its echo and the prompt."""
    tcp.clear()
    channel.dataReceived(line.encode() + b"\r")
    printed = tcp.value().decode().split("\r\n", 1)[1]  # after the echo and its Enter
    return printed.replace("\r\n", "\n").removesuffix("(qemu) ")


def history(factory: HMPServerFactory, channel: ChardevChannel) -> List[str]:
    state = factory.state_of(channel)
    assert state is not None
    return state.history


def bridge(tmp_path: Path) -> Tuple[HMPServerFactory, FileHistoryStore]:
    store = FileHistoryStore(str(tmp_path / "state"))
    return HMPServerFactory(CommandRunner(FakeExecutor()), "tcp:4444", history=store), store


# -- file names and the directory ---------------------------------------------

@pytest.mark.parametrize("who", ["alice", "../../etc/passwd", "/", ".", "", "a b\tc",
                                 "Zoë", "x" * 256, "\udcff"])
def test_any_user_name_is_one_plain_file_inside_the_directory(tmp_path: Path, who: str) -> None:
    """Whatever a user name holds (slashes, dots, blanks, non-ASCII), its file stays in DIR."""
    store = FileHistoryStore(str(tmp_path))
    path = store.path(who)
    assert os.path.dirname(path) == str(tmp_path)
    assert len(os.path.basename(path)) < 255
    assert os.path.basename(path).replace("-", "").replace(".", "").isalnum()
    store.save(who, ["info status"])
    assert os.listdir(tmp_path) == [os.path.basename(path)]
    assert store.load(who) == ["info status"]


def test_names_differing_in_case_or_length_get_different_files() -> None:
    """Alice and alice, and two long names sharing a prefix, never share a file."""
    assert file_name("alice") == "u-616c696365.history"
    assert file_name("Alice") != file_name("alice")
    assert file_name("x" * 300 + "a") != file_name("x" * 300 + "b")
    assert file_name("x" * 300).startswith("h-")


def test_directory_is_made_0700_and_files_are_0600(tmp_path: Path) -> None:
    """A missing state directory is made private, and history files are readable by none else."""
    old = os.umask(0o022)
    try:
        store = FileHistoryStore(str(tmp_path / "a" / "state"))
        store.save("alice", ["info status"])
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "a" / "state") == 0o700
    assert mode_of(Path(store.path("alice"))) == 0o600


def test_an_existing_open_directory_is_narrowed_to_0700(tmp_path: Path) -> None:
    """A state directory others may read is made private before anything is written."""
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    FileHistoryStore(str(state))
    assert mode_of(state) == 0o700


def test_a_file_in_place_of_the_directory_is_refused(tmp_path: Path) -> None:
    """--state-dir naming a file fails at start rather than at the first save."""
    (tmp_path / "f").write_text("")
    with pytest.raises(OSError):
        FileHistoryStore(str(tmp_path / "f"))


# -- loading and saving ---------------------------------------------------------

def test_saved_lines_come_back_in_order(tmp_path: Path) -> None:
    """What a session saved is what the next one loads, oldest first, bytes included."""
    store = FileHistoryStore(str(tmp_path))
    lines = ["info status", "stop", "frob\udcff", "print 'é'", "x  /4x 0"]
    store.save("alice", lines)
    assert FileHistoryStore(str(tmp_path)).load("alice") == lines


def test_unknown_users_and_address_only_operators_have_nothing(tmp_path: Path) -> None:
    """A user with no file starts empty; None (known only by address) is never written."""
    store = FileHistoryStore(str(tmp_path))
    assert store.load("nobody") == []
    store.save(None, ["stop"])
    assert store.load(None) == []
    assert os.listdir(tmp_path) == []


def test_history_is_bounded_to_qemus_size(tmp_path: Path) -> None:
    """Only the newest HISTORY_SIZE lines are kept, as QEMU's readline keeps them."""
    store = FileHistoryStore(str(tmp_path))
    lines = [f"print {n}" for n in range(HISTORY_SIZE + 10)]
    store.save("alice", lines)
    assert store.load("alice") == lines[-HISTORY_SIZE:]


def test_long_lines_are_cut_to_the_line_byte_cap(tmp_path: Path) -> None:
    """A line longer than QEMU's line buffer is kept cut to MAX_LINE bytes."""
    store = FileHistoryStore(str(tmp_path))
    store.save("alice", ["é" * MAX_LINE])
    (kept,) = store.load("alice")
    assert len(kept.encode("utf-8", "surrogateescape")) == MAX_LINE
    assert cap_line("short") == "short"


def test_a_tampered_file_is_bounded_on_load(tmp_path: Path) -> None:
    """A file holding more or longer lines than allowed loads within the bounds, the empty
    line dropped and a line of blanks kept (as QEMU's readline keeps it)."""
    store = FileHistoryStore(str(tmp_path))
    lines: List[str] = [f"print {n}" for n in range(100)] + ["", "   ", "y" * 9000]
    Path(store.path("alice")).write_text(json.dumps({"version": 1, "lines": lines}))
    loaded = store.load("alice")
    assert len(loaded) == HISTORY_SIZE
    assert loaded[-1] == "y" * MAX_LINE and loaded[-2] == "   " and loaded[0] == "print 38"


@pytest.mark.parametrize("content", [b"", b"not json", b"[1, 2]", b'{"lines": [1]}',
                                     b"\xff\xfe", b'{"lines": "stop"}'])
def test_a_damaged_file_loads_as_empty(tmp_path: Path, content: bytes) -> None:
    """A file that is not a history is ignored (logged) rather than failing the session."""
    store = FileHistoryStore(str(tmp_path))
    Path(store.path("alice")).write_bytes(content)
    assert store.load("alice") == []
    store.save("alice", ["stop"])
    assert store.load("alice") == ["stop"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is replaced by rename: a write that fails leaves the previous history whole."""
    store = FileHistoryStore(str(tmp_path))
    store.save("alice", ["info status"])

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", refuse)
    store.save("alice", ["info status", "stop"])
    monkeypatch.undo()
    assert store.load("alice") == ["info status"]
    assert os.listdir(tmp_path) == [os.path.basename(store.path("alice"))]


# -- two sessions of one user ---------------------------------------------------

def test_merge_keeps_the_other_sessions_lines_and_orders_by_the_saver() -> None:
    """Lines only the file holds stay in place; the saving session's new lines come last."""
    assert merge(["x", "a1"], ["x", "b1"]) == ["x", "a1", "b1"]
    # the session re-ran "a" after "b": its order wins; "c" stays after the common "b"
    assert merge(["a", "b", "c"], ["b", "a"]) == ["b", "a", "c"]
    assert merge([f"{n}" for n in range(60)], ["x", "y", "z", "w", "v"], size=64)[-5:] == \
        ["x", "y", "z", "w", "v"]
    assert len(merge([f"a{n}" for n in range(64)], [f"b{n}" for n in range(64)])) == 64


def test_two_sessions_of_one_user_each_keep_their_lines(tmp_path: Path) -> None:
    """Concurrent sessions of alice: each walks its own lines; the file gets both lines,
    the last saver's newest."""
    factory, store = bridge(tmp_path)
    store.save("alice", ["info name"])
    one, tcp_one = connect(factory, ALICE)
    two, tcp_two = connect(factory, ALICE)
    run(one, tcp_one, "info status")
    run(two, tcp_two, "info version")
    run(one, tcp_one, "info uuid")
    assert history(factory, one) == ["info name", "info status", "info uuid"]
    assert history(factory, two) == ["info name", "info version"]
    assert store.load("alice") == ["info name", "info status", "info version", "info uuid"]
    one.loseConnection()
    two.loseConnection()
    one.connectionLost(None)
    two.connectionLost(None)
    assert store.load("alice") == ["info name", "info status", "info version", "info uuid"]
    three, tcp_three = connect(factory, ALICE)
    assert run(three, tcp_three, "info history") == (
        "0: 'info name'\n1: 'info status'\n2: 'info version'\n3: 'info uuid'\n"
        "4: 'info history'\n")


# -- sessions --------------------------------------------------------------------

def test_each_line_is_saved_at_once_so_a_crash_loses_nothing(tmp_path: Path) -> None:
    """A line is on disk as soon as it runs, before the session ends."""
    factory, store = bridge(tmp_path)
    telnet, tcp = connect(factory, ALICE)
    run(telnet, tcp, "info status")
    assert store.load("alice") == ["info status"]
    run(telnet, tcp, ".events off")
    assert store.load("alice") == ["info status", ".events off"]


def test_a_reconnecting_user_gets_their_history_and_no_one_elses(tmp_path: Path) -> None:
    """alice's next session shows her lines in info history; bob's shows none of them."""
    factory, store = bridge(tmp_path)
    telnet, tcp = connect(factory, ALICE)
    run(telnet, tcp, "info status")
    run(telnet, tcp, "stop")
    telnet.connectionLost(None)
    again, tcp_again = connect(factory, ALICE)
    assert run(again, tcp_again, "info history") == (
        "0: 'info status'\n1: 'stop'\n2: 'info history'\n")
    bob, tcp_bob = connect(factory, BOB)
    assert run(bob, tcp_bob, "info history") == "0: 'info history'\n"


def test_address_only_sessions_keep_history_per_connection(tmp_path: Path) -> None:
    """An operator known by address keeps lines for the connection only; nothing is written."""
    factory, _ = bridge(tmp_path)
    telnet, tcp = connect(factory, PEER)
    run(telnet, tcp, "info status")
    assert history(factory, telnet) == ["info status"]
    telnet.connectionLost(None)
    assert os.listdir(tmp_path / "state") == []
    again, tcp_again = connect(factory, PEER)
    assert run(again, tcp_again, "info history") == "0: 'info history'\n"


def test_a_password_login_session_starts_with_the_users_history(tmp_path: Path) -> None:
    """The session the login gate builds after alice logs in has her kept lines."""
    factory, store = bridge(tmp_path)
    store.save("alice", ["info status", "stop"])

    def gate(channel: ChardevChannel) -> LoginGate:
        return LoginGate(lambda name, password: succeed(PasswordEntry(name, OPERATOR, "x")),
                         lambda identity: factory.session(identity, channel), "tcp:4444",
                         OPERATOR, Clock())
    channel = ChardevChannel("plain", gate, Clock())
    tcp = StringTransport()
    channel.makeConnection(tcp)
    channel.dataReceived(b"alice\nsecret\n")
    assert run(channel, tcp, "info history") == (
        "0: 'info status'\n1: 'stop'\n2: 'info history'\n")


def test_a_certificate_name_known_after_connect_brings_its_history(tmp_path: Path) -> None:
    """After the TLS handshake names carol, her kept lines come first, lines typed before stay."""
    factory, store = bridge(tmp_path)
    store.save("carol", ["info status"])
    telnet, tcp = connect(factory, PEER)
    run(telnet, tcp, "info name")
    factory.identified(telnet, "carol")
    assert history(factory, telnet) == ["info status", "info name"]
    run(telnet, tcp, "info version")
    assert store.load("carol") == ["info status", "info name", "info version"]
