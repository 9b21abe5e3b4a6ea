"""Which files of a ``--qmp-dir`` are VMs, their names, and per-VM listener templates.

Pure string work for :mod:`hmpbridge.fleet`: no reactor, no file system.

* A VM is a file of the directory whose name matches the glob (``*.qmp`` by
  default); its name is the file name without its extension
  (``vm1.qmp`` is ``vm1``).
* A name may not contain ``/``, start with ``.``, be empty or hold a control
  character: it names files (``{vm}.hmp``) and appears in logs.
* A listener template names its endpoint with ``{vm}`` (and no other field):
  ``plain:unix:/run/hmpbridge/{vm}.hmp``.  The name is put in with the
  characters Twisted's endpoint strings give a meaning (``\\``, ``:``, ``=``)
  escaped, so it stays one path.
"""

from __future__ import annotations

import fnmatch
import os
import re
from typing import Dict, Iterable, List, Optional, Tuple

from hmpbridge.endpoints import kind, split_description

__all__ = ["DEFAULT_GLOB", "PLACEHOLDER", "vm_name", "bad_name", "vm_files", "check_glob",
           "check_template", "render", "unix_path", "taken_for_vms"]

#: The files of ``--qmp-dir`` served by default.
DEFAULT_GLOB = "*.qmp"
#: What a ``--listen-each`` template names the VM with.
PLACEHOLDER = "{vm}"

_FIELD = re.compile(r"\{[^{}]*\}")


def vm_name(filename: str) -> str:
    """The VM a file names: the name without its extension (``vm1.qmp`` is ``vm1``)."""
    stem, _ = os.path.splitext(filename)
    return stem


def bad_name(name: str) -> str:
    """Why ``name`` cannot name a VM, or ``""`` when it can."""
    if not name:
        return "an empty name"
    if "/" in name:
        return "a name with '/'"
    if name.startswith("."):
        return "a name starting with '.'"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "a name with a control character"
    return ""


def vm_files(filenames: Iterable[str], pattern: str = DEFAULT_GLOB
             ) -> Tuple[Dict[str, str], List[Tuple[str, str]]]:
    """The VMs among ``filenames`` (entries of the directory) that match ``pattern``.

    :returns: ``{name: filename}`` of the VMs, and ``(filename, why)`` for
        each matching file whose name cannot be a VM's (a bad name, or a name
        another file already gave: the first in sorted order keeps it).
    """
    vms: Dict[str, str] = {}
    refused: List[Tuple[str, str]] = []
    for filename in sorted(filenames):
        if not fnmatch.fnmatchcase(filename, pattern):
            continue
        name = vm_name(filename)
        why = bad_name(name)
        if not why and name in vms:
            why = f"the name of {vms[name]!r} too"
        if why:
            refused.append((filename, why))
        else:
            vms[name] = filename
    return vms, refused


def check_glob(pattern: str) -> str:
    """Why ``pattern`` cannot select files of one directory, or ``""``."""
    if not pattern:
        return "an empty pattern"
    if "/" in pattern:
        return "a pattern with '/' (it matches names in the directory only)"
    return ""


def check_template(template: str) -> str:
    """Why ``template`` cannot make one listener per VM, or ``""``.

    Several VMs may appear, so every template must hold ``{vm}`` (two VMs
    cannot listen on one endpoint), and no other ``{...}`` field.
    """
    if PLACEHOLDER not in template:
        return f"it has no {PLACEHOLDER}, so every VM would listen on the same endpoint"
    others = [field for field in _FIELD.findall(template) if field != PLACEHOLDER]
    if others:
        return f"{others[0]} is not a field (only {PLACEHOLDER} is)"
    return ""


def _escaped(name: str) -> str:
    """``name`` as one value of a Twisted endpoint string."""
    return name.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def render(template: str, name: str) -> str:
    """The endpoint of VM ``name`` from ``template`` (checked with :func:`check_template`)."""
    why = bad_name(name)
    if why:
        raise ValueError(f"{name!r} cannot name a VM: {why}")
    return template.replace(PLACEHOLDER, _escaped(name))


def unix_path(endpoint: str) -> Optional[str]:
    """The socket path of a ``unix:`` endpoint string (``unix:/p``, ``unix:path=/p``), else None."""
    if kind(endpoint) != "unix":
        return None
    args, kwargs = split_description(endpoint)
    return kwargs.get("path", args[0] if args else None)


def taken_for_vms(endpoint_template: str, directory: str, pattern: str) -> bool:
    """Whether the unix sockets ``endpoint_template`` makes would land in ``directory`` and
    match ``pattern``, to be taken for VMs themselves (judged with a sample VM name)."""
    path = unix_path(render(endpoint_template, "vm"))
    if path is None:
        return False
    return os.path.normpath(os.path.dirname(path)) == os.path.normpath(directory) and \
        fnmatch.fnmatchcase(os.path.basename(path), pattern)
