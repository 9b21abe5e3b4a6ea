"""Record what a QEMU release prints for its migration lines, with the QMP
replies they are printed from.

Usage::

    python -m tests.tools.capture_migration PROGRAM RELEASE [MACHINE]

writes ``tests/fixtures/releases/RELEASE/migration.json`` (or
``migration-MACHINE.json``) and, when missing, ``schema.json`` (the live
``query-qmp-schema``) with its ``schema.source`` line.  Three states are
recorded: QEMU as started; after a few ``migrate_set_parameter`` and
``migrate_set_capability`` lines; after a completed ``migrate`` to ``exec:``.
Each state holds the replies of ``query-migrate-parameters``,
``query-migrate-capabilities`` and ``query-migrate`` and QEMU's own text for
the ``info`` lines, read at the same moment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from tests.tools.qmp_sync import FIXTURES, QMPSync

#: Lines that change the state between the first two snapshots, per release range.
SET_LINES: Dict[str, List[str]] = {
    "7.2": ["migrate_set_parameter max-bandwidth 64", "migrate_set_parameter downtime-limit 500",
            "migrate_set_parameter tls-authz authz0", "migrate_set_capability events on",
            "migrate_set_parameter max-postcopy-bandwidth 1k",
            "migrate_set_parameter compress-threads 4"],
    "10.0": ["migrate_set_parameter max-bandwidth 64", "migrate_set_parameter downtime-limit 500",
             "migrate_set_parameter tls-authz authz0", "migrate_set_capability events on",
             "migrate_set_parameter max-postcopy-bandwidth 1k",
             "migrate_set_parameter avail-switchover-bandwidth 1000",
             "migrate_set_parameter vcpu-dirty-limit 5", "migrate_set_parameter mode cpr-reboot"],
    "11.1": ["migrate_set_parameter max-bandwidth 64", "migrate_set_parameter downtime-limit 500",
             "migrate_set_parameter tls-authz authz0", "migrate_set_capability events on",
             "migrate_set_parameter max-postcopy-bandwidth 1k",
             "migrate_set_parameter avail-switchover-bandwidth 1000",
             "migrate_set_parameter vcpu-dirty-limit 5",
             "migrate_set_parameter cpr-exec-command qemu-x 'a b' c"],
}


def snapshot(qmp: QMPSync, release: str) -> Dict[str, Any]:
    """The replies and QEMU's own text, read together."""
    replies = {name: qmp.execute(name)["return"] for name in (
        "query-migrate-parameters", "query-migrate-capabilities", "query-migrate")}
    lines = ["info migrate_parameters", "info migrate_capabilities", "info migrate"]
    if tuple(int(p) for p in release.split(".")) >= (10, 1):
        lines.append("info migrate -a")
    return {"replies": replies, "hmp": {line: qmp.hmp(line) for line in lines}}


def capture(program: str, release: str, machine: str = "pc") -> Dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix="hmpbridge-capture-")
    path = os.path.join(workdir, "qmp.sock")
    proc = subprocess.Popen([program, "-M", machine, "-accel", "tcg", "-nodefaults",
                             "-display", "none", "-S", "-m", "128",
                             "-qmp", f"unix:{path},server=on,wait=off"], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while not os.path.exists(path):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("QEMU did not start")
            time.sleep(0.05)
        qmp = QMPSync(path)
        version = qmp.greeting["QMP"]["version"]
        out: Dict[str, Any] = {"qemu": "%(major)d.%(minor)d.%(micro)d" % version["qemu"]
                               + (f" {version['package'].strip()}" if version["package"] else ""),
                               "machine": machine, "states": {}}
        out["states"]["started"] = snapshot(qmp, release)
        set_lines = SET_LINES.get(release, SET_LINES["10.0"])
        out["set_lines"] = {line: qmp.hmp(line) for line in set_lines}
        out["states"]["set"] = snapshot(qmp, release)
        qmp.execute("migrate", {"uri": "exec:cat > /dev/null"})
        while qmp.execute("query-migrate")["return"].get("status") in ("setup", "active", None):
            time.sleep(0.05)
        out["states"]["migrated"] = snapshot(qmp, release)
        schema_path = os.path.join(FIXTURES, "releases", release, "schema.json")
        if machine == "pc" and not os.path.exists(schema_path):
            with open(schema_path, "w") as f:
                json.dump(qmp.execute("query-qmp-schema")["return"], f, indent=None)
            with open(schema_path[:-len(".json")] + ".source", "w") as f:
                f.write(f"query-qmp-schema of QEMU {out['qemu']} "
                        f"({os.path.basename(program)}, -M {machine})\n")
        qmp.close()
        return out
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: List[str]) -> None:
    program, release = argv[0], argv[1]
    machine = argv[2] if len(argv) > 2 else "pc"
    name = "migration.json" if machine == "pc" else f"migration-{machine}.json"
    data = capture(program, release, machine)
    with open(os.path.join(FIXTURES, "releases", release, name), "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
