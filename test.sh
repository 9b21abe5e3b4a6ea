#!/bin/sh
# Install everything the tests need (QEMU, telnet, nc, socat, a virtualenv)
# and run the whole suite.  Extra arguments go to pytest (e.g. -k eject).
set -eu
. "$(dirname "$0")/scripts/bootstrap.sh"

ensure_commands qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils \
    qemu-storage-daemon:qemu-system-common telnet:telnet nc:netcat-openbsd socat:socat \
    tmux:tmux
ensure_venv test
# QEMU 10.0 and 11.1 beside the system's 7.2 (tests that need one say so when it is missing)
sh "$HMPBRIDGE_ROOT/scripts/qemu-releases.sh" || say "hmpbridge: newer QEMU releases not installed"

# The installed package (not the checkout) must parse lines and start.
smoke=$(mktemp -d)
trap 'rm -rf "$smoke"' EXIT
(cd "$smoke" && "$VENV/bin/python" - <<'PY'
import hmpbridge, os
from hmpbridge.hmp_parser import parse
assert "site-packages" in hmpbridge.__file__, hmpbridge.__file__
inv = parse("eject -f ide1-cd0")
assert inv.spec.name == "eject" and dict(inv.args) == {"force": True, "device": "ide1-cd0"}, inv
print("installed package parses lines:", os.path.dirname(hmpbridge.__file__))
PY
) >&2
(cd "$smoke" && "$VENV/bin/hmpbridge" --help >/dev/null && "$VENV/bin/python" -m hmpbridge --version) >&2

cd "$HMPBRIDGE_ROOT"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
