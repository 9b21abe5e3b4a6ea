"""``python -m bench``: run every benchmark part against one QEMU and print PASS/MISS.

Example: ``.venv/bin/python -m bench --count 10000`` (one to two minutes on two cores).
``.venv/bin/python -m bench abuse [--quick] [--only N]`` runs the misbehaving-client
benchmark instead (:mod:`bench.abuse`); the default run does not include it.
Part ``vms`` (:mod:`bench.vms`, about 1.5 minutes; 2 with ``--real``) serves
1, 100 and 1,000 fake VMs from one bridge: ``--only vms [--real]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from typing import List, Optional

from bench import latency, parse_render, scale, startup, throughput, vms
from bench.procs import Rig, qemu_version, raise_nofile
from bench.stats import TARGETS

PARTS = ("latency", "throughput", "scale", "parse", "startup", "vms")


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's options."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--count", type=int, default=10000,
                   help="sequential commands per latency method (default 10000)")
    p.add_argument("--sessions", default="1,10,100,1000",
                   help="concurrent session counts for throughput (default 1,10,100,1000)")
    p.add_argument("--client-procs", type=int, default=1,
                   help="client worker processes for throughput (default 1)")
    p.add_argument("--duration", type=float, default=4.0,
                   help="seconds per throughput run, warm-up included (default 4)")
    p.add_argument("--warmup", type=float, default=1.0,
                   help="unmeasured seconds at the start of each throughput run (default 1)")
    p.add_argument("--idle", type=int, default=10000,
                   help="idle sessions for the memory measurement (default 10000)")
    p.add_argument("--parse-seconds", type=float, default=3.0,
                   help="seconds for the parse-and-render mix (default 3)")
    p.add_argument("--startup-trials", type=int, default=7,
                   help="bridge start-ups to time (default 7)")
    p.add_argument("--only", default=",".join(PARTS),
                   help=f"comma-separated parts to run (default all: {','.join(PARTS)})")
    p.add_argument("--profile", metavar="DIR",
                   help="also profile: py-spy on the bridge during a 100-session run and "
                        "pyinstrument on the parse-and-render mix, written to DIR")
    p.add_argument("--real", action="store_true",
                   help="part vms: also serve 20 real QEMUs in one bridge")
    return p


def _heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the parts asked for; exit status 0 when every checked target passed."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["abuse"]:
        from bench import abuse

        return abuse.main(argv[1:])
    args = build_parser().parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        print(f"unknown part(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    soft, hard = raise_nofile()
    print(f"hmpbridge benchmark: {qemu_version()}; Python {platform.python_version()}; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; "
          f"open files {soft}/{hard}")
    started = time.monotonic()
    if "parse" in parts:
        _heading("parse and render (no I/O, canned replies)")
        parse_render.report_parse_render(parse_render.measure_parse_render(args.parse_seconds))
    rig = Rig() if set(parts) - {"parse", "vms"} or args.profile else None
    try:
        if rig is not None:
            rig.start_floor()
        if "latency" in parts:
            _heading(f"latency: {args.count} sequential commands per method")
            latency.report_latency(asyncio.run(latency.measure_latency(rig, args.count)))
        if "throughput" in parts:
            _heading(f"throughput: sessions sending info status back-to-back, "
                     f"{args.client_procs} client process(es)")
            runs = []
            plan = [(int(n), False) for n in args.sessions.split(",")] + [(100, True)]
            for n, floor in plan:
                ceiling = asyncio.run(throughput.measure_ceiling(rig, 1.5))
                run = throughput.measure_sessions(rig, n, args.client_procs, args.duration,
                                                  args.warmup, floor=floor)
                run["ceiling"] = ceiling
                runs.append(run)
            throughput.report_throughput(runs)
        if "scale" in parts:
            _heading(f"scale: {args.idle:,} idle sessions")
            scale.report_idle(asyncio.run(scale.measure_idle(rig, args.idle)))
        if rig is not None:
            rig.stop_floor()
        if "startup" in parts:
            _heading("start-up")
            startup.report_startup(startup.measure_startup(rig, args.startup_trials))
        if args.profile:
            _profile(rig, args)
    finally:
        if rig is not None:
            rig.close()
    if "vms" in parts:
        _heading(f"many VMs in one bridge: {', '.join(f'{n:,}' for n in vms.COUNTS)} fake VMs"
                 + (f", {vms.REAL_VMS} real QEMUs" if args.real else ""))
        vms.report_vms(vms.measure_vms(real=args.real))
    _heading(f"targets (whole run {time.monotonic() - started:.0f} s; "
             f"load average now {os.getloadavg()[0]:.2f})")
    for target in TARGETS:
        print(target.line())
    return 0 if all(t.ok for t in TARGETS) else 1


def _profile(rig: Rig, args: argparse.Namespace) -> None:
    from bench import profile

    os.makedirs(args.profile, exist_ok=True)
    _heading(f"profile (written to {args.profile})")
    raw = os.path.join(args.profile, "bridge-100-sessions.txt")
    spy = profile.start_py_spy(rig.bridge.pid, args.duration + 1, raw)
    time.sleep(0.5)
    run = throughput.measure_sessions(rig, 100, args.client_procs, args.duration, args.warmup)
    spy.wait()
    print(f"100 sessions under py-spy: {run['rate']:,.0f} commands/s")
    summary = profile.summarise_collapsed(raw)
    with open(os.path.join(args.profile, "bridge-100-sessions-summary.txt"), "w") as f:
        f.write(summary + "\n")
    print(summary)
    text = profile.profile_parse_render(args.parse_seconds)
    with open(os.path.join(args.profile, "parse-render-pyinstrument.txt"), "w") as f:
        f.write(text)
    print("parse-and-render profile: parse-render-pyinstrument.txt")


if __name__ == "__main__":
    sys.exit(main())
