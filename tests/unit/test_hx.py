"""``hmpbridge.hx``: QEMU's ``.hx`` files read as hxtool and the C compiler read them.

Small handmade ``.hx`` texts for each rule (hxtool's filter, the
preprocessor's conditions, C string literals, the initialisers, errors),
then properties checked by Hypothesis: any string survives C escaping and
splitting into adjacent literals; any ``#if`` expression over ``defined``,
``!``, ``&&``, ``||`` is evaluated as C would; any text either reads or
raises :class:`HxError`.
"""

from __future__ import annotations

from typing import List, Tuple

import pytest
from hypothesis import given, strategies as st

from hmpbridge import hx
from hmpbridge.hx import HxEntry, HxError


def entry(name: str, extra: str = "") -> str:
    return ("    {\n"
            f'        .name       = "{name}",\n'
            '        .args_type  = "",\n'
            '        .params     = "",\n'
            f'        .help       = "{name} help",\n'
            "        .cmd        = hmp_" + name.replace("-", "_") + ",\n"
            f"{extra}"
            "    },\n\n")


def names(text: str, symbols=frozenset()) -> List[str]:
    return [e.name for e in hx.read_hx(text, symbols)]


# -- hxtool -h ----------------------------------------------------------------------------------

def test_hxcomm_lines_and_rst_blocks_are_dropped() -> None:
    text = ("HXCOMM a comment with { braces }\n"
            "SRST\n``a``\n  { .name = \"not-c\" }\nERST\n"
            + entry("a")
            + "SRST\n``b``\nERST\n" + entry("b"))
    assert names(text) == ["a", "b"]
    assert "not-c" not in hx.hxtool_h(text)
    assert "HXCOMM" not in hx.hxtool_h(text)


def test_hxtool_trims_every_line_and_skips_a_last_line_without_its_end() -> None:
    assert hx.hxtool_h("  \tleft\t  \nright   \nlast") == "left\nright\n"


# -- the preprocessor ---------------------------------------------------------------------------

CONDITIONAL = (
    entry("always")
    + "#if defined(CONFIG_A)\n" + entry("if-a") + "#endif\n"
    + "#ifdef CONFIG_B\n" + entry("ifdef-b") + "#endif\n"
    + "#ifndef CONFIG_B\n" + entry("ifndef-b") + "#endif\n"
    + "#if !defined(CONFIG_A)\n" + entry("not-a") + "#endif\n"
    + "#if defined(CONFIG_A) && defined(CONFIG_B)\n" + entry("a-and-b") + "#endif\n"
    + "#if defined(TARGET_X) || defined(TARGET_Y) || \\\n    defined(TARGET_Z)\n"
    + entry("x-or-y-or-z") + "#endif\n"
    + "#if defined(CONFIG_A)\n" + entry("a-then") + "#else\n" + entry("a-else") + "#endif\n"
    + "#if defined(CONFIG_A)\n" + entry("elif-a")
    + "#elif defined(CONFIG_B)\n" + entry("elif-b")
    + "#else\n" + entry("elif-none") + "#endif\n"
    + "#ifdef CONFIG_A\n#ifdef CONFIG_B\n" + entry("nested-ab") + "#endif\n"
    + entry("nested-a") + "#endif\n"
    + "#if 0\n" + entry("if-0") + "#endif\n"
    + "#if CONFIG_A\n" + entry("if-bare-a") + "#endif\n"
)


@pytest.mark.parametrize("symbols, expected", [
    (set(), ["always", "ifndef-b", "not-a", "a-else", "elif-none"]),
    ({"CONFIG_A"}, ["always", "if-a", "ifndef-b", "a-then", "elif-a", "nested-a", "if-bare-a"]),
    ({"CONFIG_B"}, ["always", "ifdef-b", "not-a", "a-else", "elif-b"]),
    ({"CONFIG_A", "CONFIG_B", "TARGET_Z"},
     ["always", "if-a", "ifdef-b", "a-and-b", "x-or-y-or-z", "a-then", "elif-a", "nested-ab",
      "nested-a", "if-bare-a"]),
])
def test_conditions_choose_the_entries(symbols, expected) -> None:
    assert names(CONDITIONAL, frozenset(symbols)) == expected


def test_a_condition_inside_an_initialiser() -> None:
    """netdev_add's params, whose middle depends on the build."""
    text = ("    {\n"
            '        .name       = "netdev_add",\n'
            '        .args_type  = "netdev:O",\n'
            '        .params     = "[user|tap"\n'
            "#ifdef CONFIG_PASST\n"
            '                      "|passt"\n'
            "#endif\n"
            "#ifdef CONFIG_VMNET\n"
            '                      "|vmnet-host"\n'
            "#endif\n"
            '                      "],id=str",\n'
            '        .help       = "add host network device",\n'
            "        .cmd        = hmp_netdev_add,\n"
            "        .command_completion = netdev_add_completion,\n"
            '        .flags      = "p",\n'
            "    },\n")
    (plain,) = hx.read_hx(text, frozenset())
    (passt,) = hx.read_hx(text, frozenset({"CONFIG_PASST"}))
    assert plain.params == "[user|tap],id=str"
    assert passt.params == "[user|tap|passt],id=str"
    assert passt.command_completion == "netdev_add_completion"
    assert passt.flags == "p"


def test_comments_are_dropped_but_not_inside_strings() -> None:
    text = ("/* BEGIN deprecated */\n"
            "    { // a line comment\n"
            '        .name = "a", /* between fields */ .args_type = "",\n'
            '        .params = "/* not a comment */", .help = "// nor this",\n'
            "    },\n"
            "/* a comment\n#if defined(NOTHING)\nover lines */\n")
    (e,) = hx.read_hx(text, frozenset())
    assert (e.name, e.params, e.help) == ("a", "/* not a comment */", "// nor this")


@pytest.mark.parametrize("text, message", [
    ("#if defined(A)\n", "#if without #endif"),
    ("#endif\n", "#endif without #if"),
    ("#else\n", "#else without #if"),
    ("#if defined(A)\n#else\n#else\n#endif\n", "#else without #if"),
    ("#if defined(A)\n#else\n#elif defined(B)\n#endif\n", "#elif without #if"),
    ("#define X 1\n", "unsupported directive"),
    ("#include \"x.h\"\n", "unsupported directive"),
    ("#if defined(A) +\n#endif\n", "cannot evaluate"),
    ("#if defined(A\n#endif\n", "cannot evaluate"),
    ("#if\n#endif\n", "cannot evaluate"),
    ("#ifdef\n#endif\n", "needs one name"),
    ("#ifdef A B\n#endif\n", "needs one name"),
    ("/* never closed\n", "unterminated comment"),
])
def test_preprocessor_errors(text: str, message: str) -> None:
    with pytest.raises(HxError, match=message):
        hx.read_hx(text, frozenset())


# -- string literals and initialisers ----------------------------------------------------------

@pytest.mark.parametrize("source, value", [
    ('"plain"', "plain"),
    ('"a" "b"', "ab"),
    ('"line one\\n"\n    "\\tline two"', "line one\n\tline two"),
    ('"quote \\" backslash \\\\ apostrophe \\\' question \\?"',
     "quote \" backslash \\ apostrophe ' question ?"),
    ('"\\a\\b\\f\\r\\v"', "\a\b\f\r\v"),
    ('"\\101\\0612\\7"', "A12\x07"),
    ('"\\x41\\x4a" "b"', "AJb"),
    ('"\\x141"', "A"),  # as GCC: the value is truncated to a char (0x141 -> 0x41)
    ('""', ""),
])
def test_string_literals(source: str, value: str) -> None:
    assert hx.parse_string_literals(source) == value


@pytest.mark.parametrize("source, message", [
    ('"\\q"', "unknown escape"),
    ('"\\x"', "no hex digits"),
    ("abc", "not a string literal"),
])
def test_string_literal_errors(source: str, message: str) -> None:
    with pytest.raises(HxError, match=message):
        hx.parse_string_literals(source)


def test_the_help_of_block_job_cancel() -> None:
    """A help text of three lines, as 7.2's hmp-commands.hx spells it."""
    text = ("    {\n"
            '        .name       = "block_job_cancel",\n'
            '        .args_type  = "force:-f,device:B",\n'
            '        .params     = "[-f] device",\n'
            '        .help       = "stop an active background block operation (use -f"\n'
            '                      "\\n\\t\\t\\t if you want to abort the operation immediately"\n'
            '                      "\\n\\t\\t\\t instead of keep running until data is in sync)",\n'
            "        .cmd        = hmp_block_job_cancel,\n"
            "    },\n")
    (e,) = hx.read_hx(text, frozenset())
    assert e.help_line == (
        "block_job_cancel [-f] device -- stop an active background block operation (use -f\n"
        "\t\t\t if you want to abort the operation immediately\n"
        "\t\t\t instead of keep running until data is in sync)\n")


def test_fields_of_an_entry() -> None:
    text = ("    {\n"
            '        .name       = "info",\n'
            '        .args_type  = "item:s?",\n'
            '        .params     = "[subcommand]",\n'
            '        .help       = "show various information about the system state",\n'
            "        .cmd        = hmp_info_help,\n"
            "        .sub_table  = hmp_info_cmds,\n"
            '        .flags      = "p",\n'
            "    },\n"
            "    {\n"
            '        .name         = "irq",\n'
            '        .args_type    = "",\n'
            '        .params       = "",\n'
            '        .help         = "show the interrupts statistics (if available)",\n'
            "        .cmd_info_hrt = qmp_x_query_irq,\n"
            "    },\n"
            "    {\n"
            '        .name       = "screendump",\n'
            '        .args_type  = "filename:F",\n'
            '        .params     = "filename",\n'
            '        .help       = "save screen",\n'
            "        .cmd        = hmp_screendump,\n"
            "        .coroutine  = true,\n"
            "    }\n")
    info, irq, screendump = hx.read_hx(text, frozenset())
    assert info == HxEntry("info", "item:s?", "[subcommand]",
                           "show various information about the system state", flags="p",
                           cmd=True, sub_table="hmp_info_cmds")
    assert irq == HxEntry("irq", "", "", "show the interrupts statistics (if available)",
                          cmd_info_hrt=True)
    assert screendump.coroutine and screendump.cmd and screendump.flags == ""


@pytest.mark.parametrize("text, message", [
    ('{ .name = "a", .args_type = "", .params = "" },', "without .help"),
    ('{ .name = "a", .name = "b" },', "given twice"),
    ('{ .name = "a", .colour = "red" },', "unknown field .colour"),
    ('{ .name = hmp_a },', "needs a string literal"),
    ('{ .cmd = "a" },', "needs a name"),
    ('{ name = "a" },', "expected '.'"),
    ('{ .name "a" },', "expected '='"),
    ('{ .name = "a" "b" .help = "" },', "expected ',' or '}'"),
    ('{ .name = "a", .args_type = "", .params = "", .help = ""', "expected '}'"),
    ('.name = "a"', "expected '{'"),
    ('{ .name = "a" @ },', "unexpected"),
])
def test_initialiser_errors(text: str, message: str) -> None:
    with pytest.raises(HxError, match=message):
        hx.parse_entries(text)


def test_debian_configuration_per_release() -> None:
    assert "TARGET_I386" in hx.debian_x86_64((7, 2))
    assert "CONFIG_PASST" not in hx.debian_x86_64((10, 0))
    assert "CONFIG_PASST" in hx.debian_x86_64((11, 1))
    assert hx.debian_x86_64((12, 0)) == hx.debian_x86_64((11, 1))
    assert hx.debian_x86_64((6, 2)) == hx.debian_x86_64((7, 2))
    for symbols in hx.DEBIAN_X86_64.values():
        assert not symbols & {"CONFIG_TRACE_SIMPLE", "CONFIG_VMNET", "CONFIG_AF_XDP",
                              "CONFIG_MOS6522", "TARGET_S390X", "TARGET_RISCV"}


# -- properties ---------------------------------------------------------------------------------

_SIMPLE = {"\n": "\\n", "\t": "\\t", '"': '\\"', "\\": "\\\\", "'": "\\'", "?": "\\?",
           "\a": "\\a", "\b": "\\b", "\f": "\\f", "\r": "\\r", "\v": "\\v"}


@st.composite
def c_spelling(draw) -> Tuple[str, str]:
    """A string and one of the many ways C source can spell it."""
    text = draw(st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=40))
    literals: List[str] = []
    current = ""
    after_hex = False
    for ch in text:
        if after_hex and ch in "0123456789abcdefABCDEF" or draw(st.integers(0, 9)) == 0:
            literals.append(current)  # a new adjacent literal (needed after a hex escape)
            current = ""
        after_hex = False
        how = draw(st.sampled_from(["plain", "octal", "hex"]))
        if ch in _SIMPLE and how == "plain":
            current += _SIMPLE[ch]
        elif how == "octal" or ch in "\"\\\n" and how == "plain":
            current += "\\%03o" % ord(ch)
        elif how == "hex":
            current += "\\x%x" % ord(ch)
            after_hex = True
        else:
            current += ch
    literals.append(current)
    separators = draw(st.lists(st.sampled_from([" ", "", "\n", "\n    ", "\t"]),
                               min_size=len(literals), max_size=len(literals)))
    return text, "".join(sep + f'"{lit}"' for sep, lit in zip(separators, literals))


@given(c_spelling())
def test_any_string_survives_c_spelling(pair: Tuple[str, str]) -> None:
    text, source = pair
    assert hx.parse_string_literals(source) == text


SYMBOLS = ["CONFIG_A", "CONFIG_B", "TARGET_C", "TARGET_D"]


def _expressions():
    """``#if`` expressions over SYMBOLS, spelled in every way C allows here."""
    leaves = st.one_of(
        st.sampled_from(SYMBOLS).flatmap(lambda s: st.sampled_from([
            f"defined({s})", f"defined {s}", f"defined( {s} )", s])),
        st.sampled_from(["0", "1"]))

    def extend(inner):
        return st.one_of(
            inner.map(lambda e: f"!{e}"),
            inner.map(lambda e: f"( {e} )"),
            st.tuples(inner, st.sampled_from(["&&", "||"]), inner).map(" ".join),
        )
    return st.recursive(leaves, extend, max_leaves=8)


def _c_value(text: str, defined) -> bool:
    """The expression evaluated by Python with C's operators and precedence."""
    py = text.replace("&&", " and ").replace("||", " or ").replace("!", " not ")
    for s in SYMBOLS:
        py = py.replace(f"defined( {s} )", repr(s in defined))
        py = py.replace(f"defined({s})", repr(s in defined))
        py = py.replace(f"defined {s}", repr(s in defined))
        py = py.replace(s, repr(s in defined))
    return bool(eval(py, {}, {}))  # noqa: S307 - built from the strategy's tokens only


@given(_expressions(), st.sets(st.sampled_from(SYMBOLS)))
def test_any_condition_is_evaluated_as_c_does(text, defined) -> None:
    snippet = f"#if {text}\n{entry('kept')}#else\n{entry('dropped')}#endif\n"
    expected = "kept" if _c_value(text, defined) else "dropped"
    assert names(snippet, frozenset(defined)) == [expected]


HX_TOKENS = ["{", "}", ",", ".", "=", ".name", ".help", ".args_type", ".params", ".cmd",
             '"s"', '"\\n"', '"\\x4"', "hmp_x", "#if defined(A)", "#ifdef A", "#else",
             "#endif", "#elif B", "SRST", "ERST", "HXCOMM x", "/*", "*/", "//", "\\", "\n",
             " ", "'", "@", "#", "true"]


@given(st.one_of(st.text(max_size=200),
                 st.lists(st.sampled_from(HX_TOKENS), max_size=60).map("".join)))
def test_any_text_reads_or_raises_hx_error(text: str) -> None:
    try:
        result = hx.read_hx(text, frozenset({"A"}))
    except HxError:
        return
    assert all(isinstance(e, HxEntry) for e in result)
