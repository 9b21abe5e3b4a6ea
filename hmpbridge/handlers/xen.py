"""``xen-event-list`` and ``xen-event-inject`` (8.0, x86 with Xen emulation).

Both call the QMP command of the same name, as QEMU's ``hmp_xen_event_*``
do; without Xen emulation QEMU answers ``Xen event channel emulation not
enabled``, printed as ``Error: <desc>``.
"""

from __future__ import annotations

from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.render.info_more import render_xen_events

__all__ = ["xen_event_list", "xen_event_inject"]


@handler("xen-event-list")
def xen_event_list(inv: Invocation, ctx: Context) -> HandlerResult:
    """``xen-event-list``: the guest's open event channel ports."""
    return render_xen_events((yield QMPCommand("xen-event-list")))


@handler("xen-event-inject")
def xen_event_inject(inv: Invocation, ctx: Context) -> HandlerResult:
    """``xen-event-inject port``: ``Delivered port N`` once QEMU has set it pending.

    HMP keeps the port in a C ``int`` and hands it to a ``uint32_t``; the
    QMP argument is that unsigned value.
    """
    port = int(inv.args["port"])
    yield QMPCommand("xen-event-inject", {"port": port & 0xFFFFFFFF})
    signed = (port & 0xFFFFFFFF) - (1 << 32) if port & 0x80000000 else port & 0xFFFFFFFF
    return "Delivered port %d\n" % signed
