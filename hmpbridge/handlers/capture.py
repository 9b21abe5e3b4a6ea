"""Audio capture commands: ``wavcapture``, ``stopcapture``, ``info capture``.

No QMP command reaches audio capture, so they go through QEMU's own
monitor.  QEMU 10.2 deprecated them: the first use of each prints
``warning: 'NAME' is deprecated since v10.2, to be removed``, which an older
release's text (``--hmp-version``) leaves out.
"""

from __future__ import annotations

from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.handlers.passthrough import passthrough
from hmpbridge.model import Invocation

__all__ = ["capture", "DEPRECATED_SINCE"]

#: The release that deprecated audio capture (``audio/audio-hmp-cmds.c``).
DEPRECATED_SINCE = (10, 2)


@handler("wavcapture", "stopcapture", "info capture")
def capture(inv: Invocation, ctx: Context) -> HandlerResult:
    """The line through QEMU's monitor, less 10.2's deprecation warning before 10.2's text."""
    text = yield from passthrough(inv, ctx)
    if not ctx.profile.since(*DEPRECATED_SINCE):
        warning = f"warning: '{inv.spec.key}' is deprecated since v10.2, to be removed\n"
        if text.startswith(warning):
            text = text[len(warning):]
    return text
