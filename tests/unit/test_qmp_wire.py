"""QMP framing and checks as QEMU's server side does them."""

from __future__ import annotations

import json

from hypothesis import given, strategies as st

from hmpbridge.qmp_wire import (JSONStreamSplitter, ParseFailure, check_message, dumps,
                                error_reply, with_client_id)


def feed_all(*chunks: bytes, **kw) -> list:
    splitter = JSONStreamSplitter(**kw)
    out = []
    for chunk in chunks:
        out += splitter.feed(chunk)
    return out


def test_messages_split_by_balance_not_lines():
    assert feed_all(b'{"execute":"a"}{"execute"', b':"b"}\n{"exe', b'cute": "c"}') == [
        {"execute": "a"}, {"execute": "b"}, {"execute": "c"}]


def test_a_message_over_several_lines():
    assert feed_all(b'{"execute":\n"query-name",\n"id":\n7}\n') == [
        {"execute": "query-name", "id": 7}]


def test_braces_inside_strings_do_not_count():
    assert feed_all(b'{"id": "}{[", "execute": "x"}') == [{"id": "}{[", "execute": "x"}]


def test_escaped_quotes_inside_strings():
    assert feed_all(b'{"id": "a\\"}b", "execute": "x"}') == [{"id": 'a"}b', "execute": "x"}]


def test_scalars_are_values_too():
    assert feed_all(b'"str"\n123\n') == ["str", 123]


def test_stray_close_is_a_parse_error():
    (failure,) = feed_all(b"}\n")
    assert isinstance(failure, ParseFailure)
    assert failure.desc == "JSON parse error, expecting value"


def test_newline_in_a_string_is_a_stray_token():
    (failure,) = feed_all(b'{"bad json\n')
    assert failure.desc == "JSON parse error, stray '\"bad json\n'"


def test_nesting_limit():
    out = feed_all(b"[" * 1030 + b"\n" + b'{"execute":"x"}')
    assert [getattr(p, "desc", p) for p in out] == ["JSON nesting depth limit exceeded",
                                                   {"execute": "x"}]


def test_size_limit():
    out = feed_all(b'{"id": "' + b"x" * 200 + b'"}\n{"execute":"y"}', max_size=100)
    assert [getattr(p, "desc", p) for p in out] == ["JSON token size limit exceeded",
                                                   {"execute": "y"}]


def test_close_after_a_bare_scalar():
    out = feed_all(b'\x00]{"execute":"x"}')
    assert isinstance(out[0], ParseFailure) and out[-1] == {"execute": "x"}


def test_a_byte_never_in_utf8_is_stray_and_the_lexer_recovers_as_qemus():
    """QEMU 7.2: ``stray '"\\uFFFD'``, then ``"`` is skipped and ``}`` expects a value."""
    assert [p.desc for p in feed_all(b'{"id": "\xff"}')] == [
        "JSON parse error, stray '\"\ufffd'", "JSON parse error, expecting value"]


@given(st.binary(max_size=300))
def test_any_bytes_give_values_or_failures(data):
    splitter = JSONStreamSplitter(max_size=1000)
    for piece in splitter.feed(data):
        assert piece is None or isinstance(piece, (ParseFailure, dict, list, str, int, float))
    # more input after garbage never raises either
    for piece in splitter.feed(b'\n"\n{"execute":"z"}\n'):
        assert piece is None or isinstance(piece, (ParseFailure, dict, list, str, int, float))


def test_checks_in_qemus_words():
    assert check_message([1], False) == "QMP input must be a JSON object"
    assert check_message({"execute": 1}, False) == "QMP input member 'execute' must be a string"
    assert check_message({"id": 1}, False) == "QMP input lacks member 'execute'"
    assert check_message({"execute": "x", "foo": 1}, False) == \
        "QMP input member 'foo' is unexpected"
    assert check_message({"execute": "x", "arguments": []}, False) == \
        "QMP input member 'arguments' must be an object"
    assert check_message({"exec-oob": "x"}, False) == "QMP input member 'exec-oob' is unexpected"
    assert check_message({"exec-oob": "x", "execute": "y"}, True) == \
        "QMP input member 'execute' clashes with 'exec-oob'"
    assert check_message({"execute": "x", "arguments": {}, "id": None}, False) is None


def test_error_reply_puts_the_id_first_only_when_given():
    assert list(error_reply("GenericError", "d", {"id": None})) == ["id", "error"]
    assert error_reply("GenericError", "d", {"execute": "x"}) == {
        "error": {"class": "GenericError", "desc": "d"}}


def test_client_id_restored_in_place_or_dropped():
    reply = {"return": {}, "id": "hmpbridge#7"}
    assert with_client_id(reply, {"id": {"a": [1]}}) == {"return": {}, "id": {"a": [1]}}
    assert with_client_id(reply, {"execute": "x"}) == {"return": {}}
    error = {"id": "hmpbridge#8", "error": {}}
    assert list(with_client_id(error, {"id": 3})) == ["id", "error"]


def test_dumps_writes_like_qemu():
    assert dumps({"return": {}, "id": "\u00e9"}) == b'{"return": {}, "id": "\\u00E9"}\r\n'
    assert json.loads(dumps({"a": [1, None]})) == {"a": [1, None]}
