"""Record, per QEMU release, the QMP replies behind the machine commands and
the text QEMU's own monitor prints from them.

    python -m tests.tools.capture_machine_releases              # the system's QEMU (7.2)
    python -m tests.tools.capture_machine_releases --qemu .qemu/10.0.2/qemu-system-x86_64
    python -m tests.tools.capture_machine_releases --qemu .qemu/11.1.3/qemu-system-x86_64
    python -m tests.tools.capture_machine_releases --qemu .qemu/11.1.3/qemu-system-x86_64 \
        --machine pc-i440fx-7.2

starts the golden VM (``tests.golden.vm``, paused) with a built-in crypto
backend, asks each QMP query below and the HMP line that prints it (through
``human-monitor-command``), and once more ``info pci`` after letting the
firmware map the BARs for two seconds, and writes them to
``tests/fixtures/machine_releases/X.Y.json`` (``X.Y-MACHINE.json`` with
``--machine``: 7.2's machine type on a newer QEMU, for ``--hmp-version 7.2``),
with the schema entities the translation reads (``query-kvm``'s deprecation)
and the QEMU that answered.
``tests/unit/test_machine_releases.py`` renders the replies and compares.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Dict, List

from tests.golden.vm import BASE_ARGS, VM, default_devices

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures", "machine_releases")

#: HMP line -> the QMP queries its text is made from.
LINES = {
    "info status": ["query-status"],
    "info cpus": ["query-cpus-fast"],
    "info pci": ["query-pci"],
    "info iothreads": ["query-iothreads"],
    "info kvm": ["query-kvm", "query-accelerators"],
    "info accelerators": ["query-accelerators"],
    "info cryptodev": ["query-cryptodev"],
}

#: Schema entities kept (the rest of ``query-qmp-schema`` is not needed here).
SCHEMA_ENTITIES = ("query-kvm", "query-accelerators", "query-cryptodev", "query-firmware-log")

EXTRA = ["-object", "cryptodev-backend-builtin,id=cr0"]


def capture(qemu: str, machine: str = "") -> Dict[str, Any]:
    base = [qemu, *BASE_ARGS[1:]]
    if machine:
        base[base.index("-M") + 1] = machine
    vm = VM(base=base, devices=lambda d: default_devices(d) + EXTRA)
    try:
        version = vm.qmp.command("query-version")
        schema = vm.qmp.command("query-qmp-schema")
        replies: Dict[str, Any] = {}
        hmp: Dict[str, str] = {}
        for line, queries in LINES.items():
            for name in queries:
                replies[name] = vm.qmp.send({"execute": name})
            hmp[line] = vm.qmp.hmp(line)
        # Once the firmware has run, BARs are mapped: stop it there and ask again.
        vm.qmp.command("cont")
        time.sleep(2)
        vm.qmp.command("stop")
        replies["query-pci after firmware"] = vm.qmp.send({"execute": "query-pci"})
        hmp["info pci after firmware"] = vm.qmp.hmp("info pci")
        kept: List[Dict[str, Any]] = [e for e in schema if e.get("name") in SCHEMA_ENTITIES]
        return {"qemu": version, "args": base[1:] + EXTRA, "replies": replies,
                "hmp": hmp, "schema": kept}
    finally:
        vm.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qemu", default=BASE_ARGS[0])
    parser.add_argument("--machine", default="", help="machine type instead of pc")
    args = parser.parse_args()
    record = capture(args.qemu if os.sep not in args.qemu else os.path.abspath(args.qemu),
                     args.machine)
    qemu = record["qemu"]["qemu"]
    os.makedirs(OUT_DIR, exist_ok=True)
    suffix = f"-{args.machine}" if args.machine else ""
    path = os.path.join(OUT_DIR, f"{qemu['major']}.{qemu['minor']}{suffix}.json")
    with open(path, "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.write("\n")
    print(path)


if __name__ == "__main__":
    main()
