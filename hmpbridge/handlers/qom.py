"""QOM: ``qom-list``, ``qom-get``, ``qom-set``.

``qom-get`` prints the value in QEMU's pretty JSON.  ``qom-set`` without
``-j`` takes the value as text, the way QEMU's string input visitor reads it;
QMP wants a typed value, so the property's type is looked up with
``qom-list`` and the text converted first.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from hmpbridge.errors import QMPCommandError
from hmpbridge.handlers import Context, HandlerResult, handler
from hmpbridge.model import Invocation, QMPCommand
from hmpbridge.qemu_opts import OptsError, string_visitor_value
from hmpbridge.qjson import JSONError, from_json, json_wording, to_pretty_json

__all__ = ["qom_list", "qom_get", "qom_set", "property_type"]


@handler("qom-list")
def qom_list(inv: Invocation, ctx: Context) -> HandlerResult:
    """``qom-list [path]``: ``name (type)`` per property; no path prints ``/``."""
    path = inv.args.get("path")
    if path is None:
        return "/\n"
    props = yield QMPCommand("qom-list", {"path": path})
    return "".join(f"{p['name']} ({p['type']})\n" for p in props or [])


@handler("qom-get")
def qom_get(inv: Invocation, ctx: Context) -> HandlerResult:
    """``qom-get path property``: the value as QEMU's pretty JSON."""
    value = yield QMPCommand("qom-get", {"path": inv.args["path"],
                                         "property": inv.args["property"]})
    return to_pretty_json(value) + "\n"


def property_type(props: List[Dict[str, Any]], name: str) -> Optional[str]:
    """The type ``qom-list`` gives for property ``name``, or None."""
    for prop in props or []:
        if prop.get("name") == name:
            return str(prop.get("type"))
    return None


@handler("qom-set")
def qom_set(inv: Invocation, ctx: Context) -> HandlerResult:
    """``qom-set [-j] path property value``."""
    path, prop, text = inv.args["path"], inv.args["property"], inv.args["value"]
    arguments = {"path": path, "property": prop}
    if inv.args.get("json"):
        try:
            value = from_json(text, json_wording(ctx.profile.release))
        except JSONError as err:
            return f"Error: {err}\n"
        yield QMPCommand("qom-set", {**arguments, "value": value})
        return ""
    try:
        props = yield QMPCommand("qom-list", {"path": path})
    except QMPCommandError:
        # HMP resolves the path itself; an ambiguous path is "not found" too.
        return f"Error: Device '{path}' not found\n"
    prop_type = property_type(props, prop)
    warnings: List[str] = []
    try:
        value = text if prop_type is None else string_visitor_value(prop_type, prop, text,
                                                                     warnings)
    except OptsError as bad:
        # QEMU refuses some sets (realized device, read-only property) before
        # it reads the text; let it say so, and print the text's error otherwise.
        try:
            yield QMPCommand("qom-set", {**arguments, "value": text})
        except QMPCommandError as err:
            if err.desc.startswith("Invalid parameter type for "):
                return _lines(warnings) + bad.text()
            raise
        return ""
    try:
        yield QMPCommand("qom-set", {**arguments, "value": value})
    except QMPCommandError as err:
        return _lines(warnings) + f"Error: {err.desc}\n"
    return _lines(warnings)


def _lines(lines: List[str]) -> str:
    return "".join(line + "\n" for line in lines)
