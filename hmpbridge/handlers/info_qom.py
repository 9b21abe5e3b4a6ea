"""``info qom-tree [path]``: the QOM composition tree, rebuilt with ``qom-list``.

QEMU prints the object at ``path`` (``/machine`` by default) as
``/name (type)`` and then each of its children, sorted by name with
``strcmp`` and indented two more spaces per level.  The children of an
object are its ``child<T>`` properties, so the tree is walked one
``qom-list`` per object; the starting object's type comes from its ``type``
property.  A path QEMU cannot resolve, or can resolve more than one way,
prints ``Path '<path>' could not be resolved.``.

QEMU names the starting object by its own (canonical) name, which differs
from the path's last word when that word is a link property.  ``qom-get``
of a child or link property returns the canonical path of the object it
holds, so the parent is asked for it.

Known difference: a one-word partial path (``vblk0``) has no parent to ask;
if that word is a link, QEMU prints the linked object's name and this the
link's.
"""

from __future__ import annotations

from typing import Any, Generator, List, Optional, Tuple, Union

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Delay, Invocation, QMPCommand
from hmpbridge.render.info_more import child_entries, render_qom_tree

__all__ = ["info_qom_tree"]

_Line = Tuple[int, str, str]
_Walk = Generator[Union[QMPCommand, Delay], Any, None]


def _join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name if parent.rstrip("/") else "/" + name


def _last_component(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    return parts[-1] if parts else ""


def _parent_and_name(path: str) -> Optional[Tuple[str, str]]:
    """The parent path and last word of ``path``, when it has a parent to ask."""
    parts = [p for p in path.split("/") if p]
    absolute = path.startswith("/")
    if not parts or (not absolute and len(parts) < 2):
        return None
    parent = "/".join(parts[:-1])
    return ("/" + parent if absolute else parent), parts[-1]


def _walk(path: str, props: Any, indent: int, lines: List[_Line]) -> _Walk:
    """Append the lines of every child of ``path`` (whose ``qom-list`` is ``props``)."""
    for name, typ in child_entries(props):
        child = _join(path, name)
        lines.append((indent, name, typ))
        try:
            child_props = yield QMPCommand("qom-list", {"path": child})
        except QMPCommandError:
            continue  # gone since its parent was listed
        yield from _walk(child, child_props, indent + 2, lines)


@handler("info qom-tree")
def info_qom_tree(inv: Invocation, ctx: Context) -> HandlerResult:
    """``info qom-tree [path]``: the composition tree below ``path`` (``/machine``)."""
    path = inv.args.get("path")
    start = "/machine" if path is None else path
    try:
        props = yield QMPCommand("qom-list", {"path": start})
    except QMPCommandError:
        if path is None:
            raise
        return f"Path '{path}' could not be resolved.\n"
    split = _parent_and_name(start) if path is not None else None
    if split is not None:
        try:
            canonical = yield QMPCommand("qom-get", {"path": split[0], "property": split[1]})
        except QMPCommandError:
            canonical = None
        if isinstance(canonical, str) and canonical.startswith("/"):
            start = canonical
    typ = yield QMPCommand("qom-get", {"path": start, "property": "type"})
    lines: List[_Line] = [(0, _last_component(start), str(typ))]
    yield from _walk(start, props, 2, lines)
    return render_qom_tree(lines)
