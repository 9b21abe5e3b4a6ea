"""Password files: scrypt hashes, roles, constant-time checks, and the passwd tool."""

from __future__ import annotations

import io
import os
import stat

import pytest

from hmpbridge.passwords import (
    PasswordFile,
    PasswordFileError,
    check_password,
    hash_password,
    main,
    parse_lines,
)


def test_hash_round_trip() -> None:
    """When a password is hashed, only the same password matches it, and salts differ."""
    stored = hash_password("s3cret")
    assert check_password("s3cret", stored)
    assert not check_password("s3cret ", stored)
    assert hash_password("s3cret") != stored


@pytest.mark.parametrize("stored", ["", "plain", "md5$x$y", "scrypt$a$b$c$d$e", "scrypt$1$2"])
def test_malformed_hashes_never_match(stored: str) -> None:
    """When a stored hash is malformed, no password matches it and nothing raises."""
    assert not check_password("", stored)


def test_file_gives_users_with_roles(tmp_path) -> None:
    """When users are added with the tool, the file authenticates them with their roles."""
    path = str(tmp_path / "pw")
    assert main_with_stdin([path, "alice"], "a-pass\n") == 0
    assert main_with_stdin([path, "bob", "--role", "read-only"], "b-pass\n") == 0
    assert main_with_stdin([path, "alice"], "new-pass\n") == 0
    users = PasswordFile.load(path)
    assert users.authenticate("alice", "a-pass") is None
    assert users.authenticate("alice", "new-pass").role == "operator"
    assert users.authenticate("bob", "b-pass").role == "read-only"
    assert users.authenticate("carol", "b-pass") is None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def main_with_stdin(argv, text: str) -> int:
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        return main(argv)
    finally:
        sys.stdin = old


def test_empty_password_is_refused(tmp_path) -> None:
    """When the tool gets an empty password, it refuses and writes nothing."""
    path = tmp_path / "pw"
    assert main_with_stdin([str(path), "alice"], "\n") == 1
    assert not path.exists()


@pytest.mark.parametrize("line", ["alice", "alice:admin:scrypt$x", "alice:operator:plain",
                                  ":operator:scrypt$x"])
def test_bad_lines_name_the_line(line: str) -> None:
    """When a line is malformed, loading fails with the file and line number."""
    with pytest.raises(PasswordFileError, match=r"^pw:2: "):
        parse_lines(["# comment", line], "pw")


def test_missing_file_is_a_clear_error(tmp_path) -> None:
    """When the password file cannot be read, the error names it."""
    with pytest.raises(PasswordFileError, match="cannot read password file"):
        PasswordFile.load(str(tmp_path / "nope"))
