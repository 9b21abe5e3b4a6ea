"""Password files: one user per line, ``name:role:scrypt$...[:vms]``.

::

    # hmpbridge password file
    alice:operator:scrypt$16384$8$1$<salt>$<hash>
    bob:read-only:scrypt$16384$8$1$<salt>$<hash>
    carol:operator:scrypt$16384$8$1$<salt>$<hash>:web-*,db1

The optional last field limits the user to some VMs when hmpbridge serves
several (``--qmp-dir``): comma-separated name patterns (``*``, ``?``,
``[...]``, as ``fnmatch``).  Without it, the user may reach every VM.

Hashes are scrypt with a random salt, compared in constant time.  An unknown
user costs the same scrypt run as a known one, so timing does not tell which
names exist.  ``hmpbridge-passwd FILE USER [--role read-only]`` adds or
changes a user (the password is read from the terminal, or from stdin).
"""

from __future__ import annotations

import argparse
import base64
import functools
import getpass
import hashlib
import hmac
import os
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from hmpbridge.access import OPERATOR, ROLES

__all__ = ["PasswordEntry", "PasswordFile", "PasswordFileError", "hash_password", "main",
           "vm_patterns"]

_N, _R, _P = 2 ** 14, 8, 1


class PasswordFileError(Exception):
    """The password file cannot be read or has a bad line."""


@dataclass(frozen=True)
class PasswordEntry:
    """One user: name, role and stored hash."""

    name: str
    role: str
    hashed: str
    #: VM name patterns the user may reach (empty: every VM)
    vms: Tuple[str, ...] = ()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, salt: Optional[bytes] = None,
                  n: int = _N, r: int = _R, p: int = _P) -> str:
    """The stored form of ``password``: ``scrypt$N$r$p$salt$hash``."""
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches the stored ``hashed`` form (constant time)."""
    try:
        scheme, n, r, p, salt, digest = hashed.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt),
                             n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@functools.lru_cache(maxsize=1)
def _dummy() -> str:
    """A hash checked for unknown users so that they cost as much as known ones."""
    return hash_password("", salt=b"\0" * 16)


class PasswordFile:
    """The users of one password file, read at start-up."""

    def __init__(self, entries: Dict[str, PasswordEntry], path: str = "") -> None:
        self.entries = entries
        self.path = path

    @classmethod
    def load(cls, path: str) -> "PasswordFile":
        """Read ``path``; raises :class:`PasswordFileError` with the line at fault."""
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as err:
            raise PasswordFileError(f"cannot read password file {path}: {err.strerror}")
        return cls(parse_lines(lines, path), path)

    def authenticate(self, name: str, password: str) -> Optional[PasswordEntry]:
        """The user's entry when ``password`` is right, else None."""
        entry = self.entries.get(name)
        ok = check_password(password, entry.hashed if entry else _dummy())
        return entry if ok and entry is not None else None


def parse_lines(lines: List[str], path: str = "") -> Dict[str, PasswordEntry]:
    """The entries of a password file's lines."""
    entries: Dict[str, PasswordEntry] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(":", 3)
        if len(parts) < 3 or not parts[0] or parts[1] not in ROLES or \
                not parts[2].startswith("scrypt$"):
            raise PasswordFileError(f"{path}:{number}: expected name:role:scrypt$...[:vms], "
                                    f"role one of {', '.join(ROLES)}")
        vms: Tuple[str, ...] = ()
        if len(parts) == 4:
            try:
                vms = vm_patterns(parts[3])
            except ValueError as err:
                raise PasswordFileError(f"{path}:{number}: {err}")
        entries[parts[0]] = PasswordEntry(parts[0], parts[1], parts[2], vms)
    return entries


def vm_patterns(text: str) -> Tuple[str, ...]:
    """The VM name patterns of a password file's last field (``web-*,db1``)."""
    patterns = tuple(p.strip() for p in text.split(","))
    if not all(patterns) or any(":" in p or p.isspace() for p in patterns):
        raise ValueError(f"bad VM list {text!r}: expected comma-separated VM name patterns")
    return patterns


def set_user(path: str, name: str, role: str, password: str,
             vms: Sequence[str] = ()) -> None:
    """Add ``name`` to the file at ``path`` (created 0600), or replace its line.

    :param vms: the VM name patterns the user may reach (empty: every VM).
    """
    lines: List[str] = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    parse_lines(lines, path)
    kept = [ln for ln in lines if ln.split(":", 1)[0] != name]
    limit = f":{','.join(vms)}" if vms else ""
    kept.append(f"{name}:{role}:{hash_password(password)}{limit}")
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(kept) + "\n")
    os.replace(path + ".tmp", path)


def main(argv: Optional[List[str]] = None) -> int:
    """``hmpbridge-passwd FILE USER [--role ROLE] [--vms PATTERNS]``."""
    parser = argparse.ArgumentParser(
        prog="hmpbridge-passwd",
        description="Add a user to an hmpbridge password file, or change their password "
                    "or role. The password is read from the terminal (twice), or from the "
                    "first line of stdin when it is not a terminal.")
    parser.add_argument("file", help="the password file (created mode 0600 if missing)")
    parser.add_argument("user", help="the user name (no ':')")
    parser.add_argument("--role", choices=ROLES, default=OPERATOR,
                        help="what the user may do (default: %(default)s)")
    parser.add_argument("--vms", metavar="PATTERNS", default="",
                        help="with --qmp-dir: the VMs the user may reach, as comma-separated "
                             "name patterns (web-*,db1); default: every VM")
    options = parser.parse_args(argv)
    if ":" in options.user or not options.user.strip():
        parser.error("the user name must be non-empty and may not contain ':'")
    vms: Tuple[str, ...] = ()
    if options.vms:
        try:
            vms = vm_patterns(options.vms)
        except ValueError as err:
            parser.error(str(err))
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            sys.stderr.write("hmpbridge-passwd: the passwords differ\n")
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        sys.stderr.write("hmpbridge-passwd: empty password refused\n")
        return 1
    try:
        set_user(options.file, options.user, options.role, password, vms)
    except (PasswordFileError, OSError) as err:
        sys.stderr.write(f"hmpbridge-passwd: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
