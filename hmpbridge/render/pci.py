"""``info pci``: every device of every PCI bus, as QEMU prints it.

Until 9.1 an unmapped BAR prints its all-ones address (``I/O at
0xffffffffffffffff [0x000e].``) and every BAR line ends with ``.``; from 9.2
(``hw/pci/pci-hmp-cmds.c``) an unmapped BAR prints ``(not mapped)`` and no
BAR line has the final ``.``.  The renderer is told which form to print.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Sequence

from hmpbridge.render.common import u64

__all__ = ["render_pci", "render_pci_device", "PCI_NOT_SUPPORTED", "PCI_BAR_UNMAPPED"]

Obj = Mapping[str, Any]

#: What HMP prints when ``query-pci`` fails (no ``Error:`` prefix).
PCI_NOT_SUPPORTED = "PCI devices not supported\n"

#: The address ``query-pci`` gives a BAR the guest has not mapped (``~(pcibus_t)0``).
PCI_BAR_UNMAPPED = (1 << 64) - 1


def render_pci(buses: Sequence[Obj], not_mapped: bool = False) -> str:
    """``info pci`` from ``query-pci``.

    :param not_mapped: print QEMU 9.2's form (``(not mapped)``, no final ``.``).
    """
    out: List[str] = []
    for bus in buses:
        for dev in bus.get("devices", []):
            render_pci_device(dev, out, not_mapped)
    return "".join(out)


def render_pci_device(dev: Obj, out: List[str], not_mapped: bool = False) -> None:
    """Append one device block (and, for a bridge, the devices behind it) to ``out``."""
    out.append("  Bus %2d, device %3d, function %d:\n" % (dev["bus"], dev["slot"], dev["function"]))
    class_info = dev["class_info"]
    desc = class_info["desc"] if "desc" in class_info else "Class %04d" % class_info["class"]
    ident = dev["id"]
    out.append("    %s: PCI device %04x:%04x\n" % (desc, ident["vendor"], ident["device"]))
    if "subsystem-vendor" in ident and "subsystem" in ident:
        out.append("      PCI subsystem %04x:%04x\n"
                   % (ident["subsystem-vendor"], ident["subsystem"]))
    if "irq" in dev:
        pin = chr((ord("A") + dev["irq_pin"] - 1) & 0xFF)
        out.append("      IRQ %d, pin %s\n" % (dev["irq"], pin))
    bridge = dev.get("pci_bridge")
    if bridge is not None:
        bus = bridge["bus"]
        out.append("      BUS %d.\n" % bus["number"])
        out.append("      secondary bus %d.\n" % bus["secondary"])
        out.append("      subordinate bus %d.\n" % bus["subordinate"])
        out.append("      IO range [0x%04x, 0x%04x]\n"
                   % (u64(bus["io_range"]["base"]), u64(bus["io_range"]["limit"])))
        out.append("      memory range [0x%08x, 0x%08x]\n"
                   % (u64(bus["memory_range"]["base"]), u64(bus["memory_range"]["limit"])))
        out.append("      prefetchable memory range [0x%08x, 0x%08x]\n"
                   % (u64(bus["prefetchable_range"]["base"]),
                      u64(bus["prefetchable_range"]["limit"])))
    dot = "" if not_mapped else "."
    for region in dev.get("regions", []):
        addr = u64(region["address"])
        end = u64(addr + region["size"] - 1)
        out.append("      BAR%d: " % region["bar"])
        unmapped = not_mapped and addr == PCI_BAR_UNMAPPED
        if region["type"] == "io":
            kind = "I/O"
            where = "at 0x%04x [0x%04x]" % (addr, end)
        else:
            kind = "%d bit%s memory" % (64 if region.get("mem_type_64") else 32,
                                        " prefetchable" if region.get("prefetch") else "")
            where = "at 0x%08x [0x%08x]" % (addr, end)
        out.append(f"{kind} (not mapped)\n" if unmapped else f"{kind} {where}{dot}\n")
    out.append('      id "%s"\n' % dev.get("qdev_id", ""))
    if bridge is not None:
        for child in bridge.get("devices", []) or []:
            render_pci_device(child, out, not_mapped)
