"""Run state, machine and miscellaneous queries, printed as QEMU's HMP.

Each function takes the ``return`` value of the QMP query named in its
docstring and returns the text with ``"\\n"`` line ends.  Where the text
changed between releases, the caller says which form to print (the release
whose text the session prints decides, see :mod:`hmpbridge.profile`); a
member the QEMU at hand does not send is left out rather than made up.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from hmpbridge.render.common import float32, range_list

__all__ = [
    "render_status",
    "render_version",
    "render_name",
    "render_uuid",
    "render_kvm",
    "render_cpus",
    "render_mice",
    "render_balloon",
    "render_iothreads",
    "render_memdev",
    "render_dump",
    "render_chardev",
    "render_accelerators",
    "cpu_model",
]

Obj = Mapping[str, Any]


def render_status(info: Obj, single_step_suffix: bool = True) -> str:
    """``info status`` from ``query-status``.

    :param single_step_suffix: print `` (single step mode)`` when the reply's
        ``singlestep`` says so (QEMU 8.0 and older; the member is gone in 9.0).
    """
    text = "VM status: " + ("running" if info.get("running") else "paused")
    if single_step_suffix and info.get("singlestep"):
        text += " (single step mode)"
    if not info.get("running") and info.get("status") != "paused":
        text += f" ({info.get('status')})"
    return text + "\n"


def render_version(info: Obj) -> str:
    """``info version`` from ``query-version``: the package follows with no space."""
    qemu = info["qemu"]
    return f"{qemu['major']}.{qemu['minor']}.{qemu['micro']}{info.get('package', '')}\n"


def render_name(info: Obj) -> str:
    """``info name`` from ``query-name``: nothing at all when no name is set."""
    return f"{info['name']}\n" if "name" in info else ""


def render_uuid(info: Obj) -> str:
    """``info uuid`` from ``query-uuid``."""
    return f"{info['UUID']}\n"


def render_kvm(info: Obj) -> str:
    """``info kvm`` from ``query-kvm`` (or the same two members worked out
    from ``query-accelerators``)."""
    if info.get("present"):
        return "kvm support: " + ("enabled" if info.get("enabled") else "disabled") + "\n"
    return "kvm support: not compiled\n"


def cpu_model(qom_type: str) -> str:
    """``cpu_model_from_type()``: the CPU type without its ``-<arch>-cpu`` suffix.

    ``qemu64-x86_64-cpu`` -> ``qemu64``; ``cortex-a57-arm-cpu`` -> ``cortex-a57``.
    """
    head, sep, tail = qom_type.rpartition("-")
    if sep and tail == "cpu":
        stem, sep, _ = head.rpartition("-")
        if sep and stem:
            return stem
    return qom_type


def render_cpus(cpus: Sequence[Obj], current: int, model: bool = False) -> str:
    """``info cpus`` from ``query-cpus-fast``.

    :param current: the session's current CPU index, marked with ``*``.
    :param model: append `` model=<cpu>`` from ``qom-type`` (QEMU 10.1's
        form); a CPU whose reply has no ``qom-type`` gets none.
    """
    out = []
    for cpu in cpus:
        line = "%s CPU #%d: thread_id=%d" % (
            "*" if cpu["cpu-index"] == current else " ", cpu["cpu-index"], cpu["thread-id"])
        if model and "qom-type" in cpu:
            line += " model=" + cpu_model(str(cpu["qom-type"]))
        out.append(line + "\n")
    return "".join(out)


def render_mice(mice: Sequence[Obj]) -> str:
    """``info mice`` from ``query-mice``."""
    if not mice:
        return "No mouse devices connected\n"
    return "".join(
        "%s Mouse #%d: %s%s\n"
        % ("*" if m.get("current") else " ", m["index"], m["name"],
           " (absolute)" if m.get("absolute") else "")
        for m in mice
    )


def render_balloon(info: Obj) -> str:
    """``info balloon`` from ``query-balloon``: the size in MiB, rounded down."""
    return "balloon: actual=%d\n" % (info["actual"] >> 20)


def render_iothreads(threads: Sequence[Obj], poll_weight: bool = False) -> str:
    """``info iothreads`` from ``query-iothreads``; an empty list prints nothing.

    :param poll_weight: print ``poll-weight`` after ``poll-shrink`` (QEMU
        11.x's form) when the reply has it.
    """
    out = []
    for t in threads:
        out.append(f"{t['id']}:\n")
        out.append("  thread_id=%d\n" % t["thread-id"])
        out.append("  poll-max-ns=%d\n" % t["poll-max-ns"])
        out.append("  poll-grow=%d\n" % t["poll-grow"])
        out.append("  poll-shrink=%d\n" % t["poll-shrink"])
        if poll_weight and "poll-weight" in t:
            out.append("  poll-weight=%d\n" % t["poll-weight"])
        out.append("  aio-max-batch=%d\n" % t["aio-max-batch"])
    return "".join(out)


def _bool(value: Any) -> str:
    return "true" if value else "false"


def render_memdev(backends: Sequence[Obj]) -> str:
    """``info memdev`` from ``query-memdev``, with QEMU's closing empty line.

    An error from ``query-memdev`` is printed by QEMU *after* that empty line;
    the caller appends it.
    """
    out = []
    for m in backends:
        out.append(f"memory backend: {m['id']}\n")
        out.append("  size:  %d\n" % m["size"])
        out.append(f"  merge: {_bool(m.get('merge'))}\n")
        out.append(f"  dump: {_bool(m.get('dump'))}\n")
        out.append(f"  prealloc: {_bool(m.get('prealloc'))}\n")
        out.append(f"  share: {_bool(m.get('share'))}\n")
        if "reserve" in m:
            out.append(f"  reserve: {_bool(m['reserve'])}\n")
        out.append(f"  policy: {m['policy']}\n")
        out.append(f"  host nodes: {range_list(m.get('host-nodes', []))}\n")
    out.append("\n")
    return "".join(out)


def render_dump(info: Obj) -> str:
    """``info dump`` from ``query-dump``; an active dump adds its progress."""
    text = f"Status: {info['status']}\n"
    if info["status"] == "active":
        total = info.get("total") or 0
        percent = float32(100.0 * info.get("completed", 0) / total) if total else 0.0
        text += "Finished: %.2f %%\n" % percent
    return text


def render_chardev(chardevs: Sequence[Obj]) -> str:
    """``info chardev`` from ``query-chardev``."""
    return "".join(f"{c['label']}: filename={c['filename']}\n" for c in chardevs)


def render_accelerators(info: Obj) -> str:
    """``info accelerators`` from ``query-accelerators``: the enabled one in brackets.

    QEMU prints the list on one line, each name followed by a space and the
    last by the line end; an empty list prints nothing.
    """
    present = [str(name) for name in info.get("present", [])]
    enabled = info.get("enabled")
    names = [f"[{name}]" if name == enabled else name for name in present]
    return " ".join(names) + "\n" if names else ""
