"""The pure part of --qmp-dir: which files are VMs, their names, listener templates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hmpbridge.endpoints import hmp_listener, split_description
from hmpbridge.fleet_names import (DEFAULT_GLOB, bad_name, check_glob, check_template, render,
                                   taken_for_vms, unix_path, vm_files, vm_name)


def test_a_vm_is_named_after_its_file_without_the_extension() -> None:
    assert vm_name("vm1.qmp") == "vm1"
    assert vm_name("web.front.qmp") == "web.front"
    assert vm_name("vm2") == "vm2"


def test_only_files_matching_the_glob_are_vms() -> None:
    """The default glob is *.qmp; another glob picks other files, named the same way."""
    names = ["vm1.qmp", "vm2.qmp", "vm1.hmp", "notes.txt", "vm3.qmp.lock"]
    assert vm_files(names)[0] == {"vm1": "vm1.qmp", "vm2": "vm2.qmp"}
    assert vm_files(names, DEFAULT_GLOB)[1] == []
    assert vm_files(["a.sock", "b.qmp", "c.sock"], "*.sock")[0] == {"a": "a.sock", "c": "c.sock"}
    assert vm_files(["vm1", "vm2", "x1"], "vm*")[0] == {"vm1": "vm1", "vm2": "vm2"}


def test_bad_names_are_refused_with_the_reason() -> None:
    """A name starting with '.', an empty one, one with a control character; a name two
    files would give goes to the first (sorted)."""
    vms, refused = vm_files([".hidden.qmp", ".qmp", "tab\t.qmp", "a.qmp", "a.x.qmp"], "*.qmp")
    assert vms == {"a": "a.qmp", "a.x": "a.x.qmp"}
    reasons = dict(refused)
    assert reasons[".hidden.qmp"] == "a name starting with '.'"
    assert reasons["tab\t.qmp"] == "a name with a control character"
    assert ".qmp" in reasons
    vms, refused = vm_files(["a", "a.qmp"], "a*")
    assert vms == {"a": "a"} and refused == [("a.qmp", "the name of 'a' too")]
    assert bad_name("x/y") == "a name with '/'"
    assert bad_name("vm1") == ""


def test_globs_select_names_in_the_directory_only() -> None:
    assert check_glob("*.qmp") == ""
    assert "'/'" in check_glob("sub/*.qmp")
    assert check_glob("") == "an empty pattern"


def test_templates_need_vm_and_nothing_else() -> None:
    assert check_template("plain:unix:/run/hmpbridge/{vm}.hmp") == ""
    assert "no {vm}" in check_template("unix:/run/hmpbridge/one.hmp")
    assert check_template("unix:/run/{vm}/{name}.hmp") == "{name} is not a field (only {vm} is)"


def test_render_puts_the_name_in() -> None:
    assert render("plain:unix:/run/hmpbridge/{vm}.hmp", "vm1") == \
        "plain:unix:/run/hmpbridge/vm1.hmp"
    assert render("unix:path=/run/{vm}.qmp", "a:b=c") == "unix:path=/run/a\\:b\\=c.qmp"
    with pytest.raises(ValueError, match="starting with '.'"):
        render("unix:/run/{vm}.hmp", "..")
    with pytest.raises(ValueError, match="'/'"):
        render("unix:/run/{vm}.hmp", "../etc/x")


_names = st.text(st.characters(min_codepoint=32, max_codepoint=0x2fff, blacklist_characters="/"),
                 min_size=1, max_size=24).filter(lambda name: bad_name(name) == "")


@given(_names)
def test_a_rendered_endpoint_is_read_back_as_that_one_path(name: str) -> None:
    """Whatever the name, Twisted's reading of the endpoint finds the path with the
    name in it, and the listener kind stays the template's."""
    listener = hmp_listener(render("plain:unix:/run/hmpbridge/{vm}.hmp", name))
    assert listener.chardev == "plain"
    args, kwargs = split_description(listener.endpoint)
    assert args == [f"/run/hmpbridge/{name}.hmp"] and kwargs == {}
    args, kwargs = split_description(render("unix:path=/d/{vm}.hmp:mode=600", name))
    assert args == [] and kwargs == {"path": f"/d/{name}.hmp", "mode": "600"}


@given(st.lists(st.text(min_size=1, max_size=12), max_size=12))
def test_every_matching_file_is_a_vm_or_refused_with_a_reason(filenames: list) -> None:
    vms, refused = vm_files(filenames, "*")
    assert set(vms.values()) | {f for f, _ in refused} == set(filenames)
    assert all(bad_name(name) == "" and vm_name(f) == name for name, f in vms.items())
    assert all(why for _, why in refused)


def test_unix_paths_of_endpoints() -> None:
    assert unix_path("unix:/run/a.hmp") == "/run/a.hmp"
    assert unix_path("unix:path=/run/a\\:b.hmp:mode=600") == "/run/a:b.hmp"
    assert unix_path("tcp:4444") is None


def test_sockets_that_would_be_taken_for_vms() -> None:
    assert taken_for_vms("unix:/d/{vm}-mux.qmp", "/d", "*.qmp")
    assert taken_for_vms("unix:path=/d/./{vm}.sock", "/d/", "*")
    assert not taken_for_vms("unix:/d/{vm}.hmp", "/d", "*.qmp")
    assert not taken_for_vms("unix:/e/{vm}.qmp", "/d", "*.qmp")
    assert not taken_for_vms("tcp:4444", "/d", "*")
