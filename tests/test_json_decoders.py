"""jiter (the ``fast`` extra) and the standard library read every body alike.

``HUGGY_JSON_DECODER`` picks what reads request bodies. Whatever the body (a
delivery, any JSON, JSON bent every way, bytes that are no JSON at all) the
outcome is the same with either decoder: the same value, down to the type of
each number and the order of each object's keys, or the same refusal, code and
message.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from typing import Any

import jiter
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_huggy import ConfigError, DeliveryRejected, envelope
from flask_huggy.config import read_settings
from flask_huggy.endpoint import get_endpoint
from flask_huggy.envelope import decode_json, resolve_decoder
from tests.conftest import SAMPLE_NAMES, TOKEN, create_app, load_payload

# jiter comes with the test extra; no skip when it is missing: decode_json(body, "jiter")
# then fails every test here with "not installed: pip install 'flask-huggy[fast]'".

ALIKE = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def canonical(value: Any) -> Any:
    """``value`` with what ``==`` hides made visible: 1 vs 1.0 vs True, -0.0, key order."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, list):
        return ["list", *map(canonical, value)]
    assert type(value) is dict, f"a decoder gave a {type(value).__name__}"
    return ["dict", *((key, canonical(item)) for key, item in value.items())]


def outcome(body: bytes, decoder: str) -> tuple[str, Any]:
    try:
        return "ok", canonical(decode_json(body, decoder))
    except DeliveryRejected as exc:
        return "refused", exc.to_dict()


def assert_alike(body: bytes) -> tuple[str, Any]:
    fast, stdlib = outcome(body, "jiter"), outcome(body, "stdlib")
    assert fast == stdlib, body[:200]
    return stdlib


# -- bodies --------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=25,
)


@st.composite
def dumped(draw: st.DrawFn) -> bytes:
    """A value written the ways JSON writers write it: compact, spaced, indented, escaped or not."""
    value = draw(values)
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")]))
    indent = draw(st.sampled_from([None, 0, 2, "\t"]))
    return json.dumps(value, separators=separators, indent=indent, ensure_ascii=draw(st.booleans())).encode()


#: Snippets each decoder might take differently from the other.
SNIPPETS = [
    b'"',
    b"NaN",
    b"-Infinity",
    b"Infinity",
    b'"\\ud800"',
    b'"\\udc00\\ud800"',
    b'"\\u0000"',
    b",",
    b"}",
    b"]",
    b"\x00",
    b"\x01",
    b"\x7f",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    b" ",
    b"\n",
    b"-",
    b"-0",
    b"-0.0",
    b"0.0e0",
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"1" + b"0" * 250 + b"e60",
    b"-1" + b"0" * 250 + b"e60",
    b"1" + b"0" * 300 + b"e9",
    b"1.7976931348623157e308",
    b"1.7976931348623159e308",
    b"1E+2",
    b"01",
    b"1.",
    b".5",
    b"+1",
    b"0x1",
    b"9" * 400,
    b"9" * 4301,
    b"1" + b"0" * 30,
    b"123456789012345678901234567890.5",
    b"2.2250738585072011e-308",
    b"true",
    b"nul",
    b"'a'",
    b'"a":1,',
    b'{"a":1,"a":2}',
    b'{"a":1,"\\u0061":2}',
    b'{"":1,"":2}',
    b"[" * 250 + b"]" * 250,
    b'"\\x41"',
    b'"\\u00e9"',
    "é".encode(),
    "\u2028".encode(),
    b"\\",
    b"/*c*/",
    b"//",
]


@st.composite
def bent(draw: st.DrawFn) -> bytes:
    """A well-formed body with a snippet put in, or a piece taken out."""
    body = draw(dumped())
    where = draw(st.integers(0, len(body)))
    if draw(st.booleans()):
        return body[:where] + draw(st.sampled_from(SNIPPETS)) + body[where:]
    return body[:where] + body[where + draw(st.integers(1, 3)) :]


@st.composite
def repeated_keys(draw: st.DrawFn) -> bytes:
    """An object, somewhere in a delivery, with one key twice (spelled alike or not)."""
    key = draw(st.text(max_size=5))
    spellings = [json.dumps(key), json.dumps(key, ensure_ascii=False)]
    if key:
        spellings.append('"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else c for c in key) + '"')
    first, second = draw(st.sampled_from(spellings)), draw(st.sampled_from(spellings))
    inner = f'{{{first}: 1, "other": [], {second}: 2}}'
    return f'{{"time": 1, "messages": {{"closedChat": [{inner}]}}, "token": "t"}}'.encode()


@ALIKE
@given(body=dumped())
def test_any_json_decodes_alike(body: bytes) -> None:
    assert assert_alike(body)[0] == "ok"


@ALIKE
@given(body=bent())
def test_any_bent_json_decodes_or_is_refused_alike(body: bytes) -> None:
    assert_alike(body)


@ALIKE
@given(body=repeated_keys())
def test_a_repeated_key_is_refused_alike(body: bytes) -> None:
    verdict, answer = assert_alike(body)
    assert (verdict, answer["error"]) == ("refused", "duplicate_key")


@ALIKE
@given(body=st.binary(max_size=64) | st.text(max_size=32).map(str.encode))
def test_any_bytes_decode_or_are_refused_alike(body: bytes) -> None:
    assert_alike(body)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=repr)
def test_each_odd_snippet_alone_and_in_an_array_is_read_alike(snippet: bytes) -> None:
    assert_alike(snippet)
    assert_alike(b"[" + snippet + b"]")
    assert_alike(b'{"k": ' + snippet + b"}")


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_docs_sample_decodes_alike(name: str) -> None:
    body = json.dumps(load_payload(name), ensure_ascii=False).encode()
    assert assert_alike(body) == ("ok", canonical(json.loads(body)))


# -- numbers too large --------------------------------------------------------------------

#: Every answer, type-exact, for numbers at and past the edges of what is read.
NUMBERS: list[tuple[bytes, Any]] = [
    (b"1e400", "number_out_of_range"),
    (b"-1e400", "number_out_of_range"),
    (b"1.5E+999", "number_out_of_range"),
    (b"1" * 400 + b".5", "number_out_of_range"),
    (b"1" + b"0" * 250 + b"e60", "number_out_of_range"),
    (b"-1" + b"0" * 250 + b"e60", "number_out_of_range"),
    (b"1" + b"0" * 300 + b"e9", "number_out_of_range"),
    (b"0.000001e315", "number_out_of_range"),
    (b"1.7976931348623159e308", "number_out_of_range"),
    (b"1.7976931348623157e308", ("float", (1.7976931348623157e308).hex())),
    (b"-1.7976931348623157e308", ("float", (-1.7976931348623157e308).hex())),
    (b"1" + b"0" * 250 + b"e57", ("float", (1e307).hex())),
    (b"0.000001e314", ("float", (1e308).hex())),
    (b"1e-400", ("float", (0.0).hex())),
    (b"-1e-400", ("float", (-0.0).hex())),
    (b"9" * 4300, ("int", int("9" * 4300))),
    (b"-" + b"9" * 4300, ("int", -int("9" * 4300))),
    (b"9" * 4301, "number_out_of_range"),
    (b"-" + b"9" * 4301, "number_out_of_range"),
    (b"1" * 5000, "number_out_of_range"),
]


@pytest.mark.parametrize("decoder", ["stdlib", "jiter"])
@pytest.mark.parametrize(("number", "expected"), NUMBERS, ids=lambda v: repr(v)[:20])
def test_each_edge_number_gets_its_exact_answer_from_either_decoder(decoder: str, number: bytes, expected: Any) -> None:
    for body, unwrap in ((number, lambda v: v), (b'{"k": [' + number + b"]}", lambda v: v[1][1][1])):
        verdict, answer = outcome(body, decoder)
        if verdict == "ok":
            assert unwrap(answer) == expected
        else:
            assert answer["error"] == expected


@ALIKE
@given(
    sign=st.sampled_from(["", "-"]),
    digits=st.integers(1, 400),
    fraction=st.sampled_from(["", ".5", ".0001"]),
    exponent=st.sampled_from(["", "e", "E", "e+", "e-"]).flatmap(
        lambda e: st.just("") if not e else st.integers(0, 700).map(lambda n: f"{e}{n}")
    ),
)
def test_a_float_is_refused_exactly_when_it_is_not_finite(sign: str, digits: int, fraction: str, exponent: str) -> None:
    text = f"{sign}1{'0' * (digits - 1)}{fraction}{exponent}"
    if not fraction and not exponent:
        return  # an integer
    verdict, answer = assert_alike(b'{"n": ' + text.encode() + b"}")

    if math.isfinite(float(text)):
        assert verdict == "ok"
    else:
        assert (verdict, answer["error"]) == ("refused", "number_out_of_range")


@pytest.fixture
def python_reads_1000_digits() -> Iterator[None]:
    """Python's integer limit lowered, as ``PYTHONINTMAXSTRDIGITS=1000`` would."""
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(1000)
    yield
    sys.set_int_max_str_digits(before)


@pytest.mark.usefixtures("python_reads_1000_digits")
def test_a_lowered_python_integer_limit_holds_for_jiter_too() -> None:
    verdict, answer = assert_alike(b'{"n": ' + b"9" * 1001 + b"}")

    assert (verdict, answer["error"]) == ("refused", "number_out_of_range")
    assert "1000 digits" in answer["message"]
    assert assert_alike(b'{"n": ' + b"9" * 1000 + b"}")[0] == "ok"


def test_jiter_reads_integers_of_at_most_4300_digits_whatever_python_reads() -> None:
    assert jiter.from_json(b"9" * envelope._JITER_MAX_INT_DIGITS) == int("9" * 4300)
    with pytest.raises(ValueError, match="number out of range"):
        jiter.from_json(b"9" * (envelope._JITER_MAX_INT_DIGITS + 1))


# -- choosing the decoder ------------------------------------------------------------------


def test_auto_is_jiter_when_installed_and_the_stdlib_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_decoder("auto") == "jiter"
    monkeypatch.setattr(envelope, "jiter", None)  # as on a machine without the extra
    assert resolve_decoder("auto") == "stdlib"
    with pytest.raises(ValueError, match="pip install 'flask-huggy\\[fast\\]'"):
        resolve_decoder("jiter")


@pytest.mark.parametrize("value", ["orjson", "", None, "JITER"])
def test_an_unknown_decoder_is_a_config_error(value: Any) -> None:
    with pytest.raises(ConfigError, match="HUGGY_JSON_DECODER"):
        read_settings({"HUGGY_JSON_DECODER": value})


@pytest.mark.parametrize(
    ("configured", "used"), [(None, "jiter"), ("auto", "jiter"), ("jiter", "jiter"), ("stdlib", "stdlib")]
)
def test_the_endpoint_reads_bodies_with_the_configured_decoder(configured: str | None, used: str) -> None:
    app = create_app() if configured is None else create_app(HUGGY_JSON_DECODER=configured)
    assert get_endpoint(app).settings.json_decoder == used

    body = b'{"time": 1700000000, "token": "%s", "messages": {"closedChat": [{"id": 1, "id": 2}]}}' % TOKEN.encode()
    response = app.test_client().post("/huggy/webhook", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.get_json()["error"] == "duplicate_key"
