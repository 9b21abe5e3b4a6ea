#!/bin/sh
# Run hmpbridge: installs what is missing, then serves HMP on localhost:4444.
# Without --qmp it starts a QEMU of its own (stopped again when hmpbridge exits).
#   ./run.sh                               # own QEMU, telnet localhost 4444
#   ./run.sh --qmp /run/vm1.qmp            # an existing QEMU's QMP socket
# Every argument is passed to hmpbridge; see ./run.sh --help.
set -eu
. "$(dirname "$0")/scripts/bootstrap.sh"

case " $* " in
    *" --qmp "* | *" --qmp="* | *" --help "* | *" -h "* | *" --version "*) ;;
    *) ensure_commands qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils ;;
esac
ensure_venv
exec "$VENV/bin/hmpbridge" "$@"
