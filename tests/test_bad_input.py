"""Bad input gets a clear 4xx JSON answer, fires nothing, and never a 500."""

from __future__ import annotations

import json

import pytest
from flask import Flask, Response

from .conftest import TOKEN


def assert_rejected(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.is_json
    body = response.get_json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.mark.parametrize(
    "data, code",
    [
        (b"", "empty_body"),
        (b"   \n", "empty_body"),
        (b"{", "invalid_json"),
        (b"not json", "invalid_json"),
        (b'{"token": "\xff\xfe"}', "invalid_utf8"),
        (b"\xc3\x28", "invalid_utf8"),
        (b'{"time": NaN, "messages": {}}', "invalid_json"),
        (b'{"time": Infinity, "messages": {}}', "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, "too_deep"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "too_deep"),
        (b"1" * 5000, "number_out_of_range"),
        (b"[]", "not_an_object"),
        (b'"a string"', "not_an_object"),
        (b"null", "not_an_object"),
        (b"42", "not_an_object"),
    ],
)
def test_unreadable_bodies_are_400(client, recorder, data, code) -> None:
    response = client.post("/huggy/webhook", data=data, content_type="application/json")

    assert_rejected(response, 400, code)
    assert recorder.names() == ["huggy.delivery_refused"]  # and nothing else


def test_repeated_keys_are_refused_rather_than_losing_events(client, recorder) -> None:
    data = (
        f'{{"time": 1, "token": "{TOKEN}", "messages": {{"closedChat": [{{"id": 1}}], "closedChat": [{{"id": 2}}]}}}}'
    ).encode()

    body = assert_rejected(client.post("/huggy/webhook", data=data), 400, "duplicate_key")

    assert "closedChat" in body["message"]
    assert recorder.names() == ["huggy.delivery_refused"]  # and nothing else


@pytest.mark.parametrize(
    "messages",
    [
        None,
        "closedChat",
        ["closedChat"],
        {"closedChat": {"id": 1}},
        {"closedChat": "x"},
        {"closedChat": [1, 2]},
        {"closedChat": [{"id": 1}, None]},
    ],
)
def test_messages_that_are_not_a_mapping_of_lists_of_objects_are_400(client, recorder, messages) -> None:
    response = client.post("/huggy/webhook", json={"time": 1700000000, "token": TOKEN, "messages": messages})

    body = assert_rejected(response, 400, "invalid_envelope")
    assert "messages" in body["fields"]
    assert recorder.names() == ["huggy.delivery_refused"]  # and nothing else


def test_a_body_without_messages_is_400(client, recorder) -> None:
    body = assert_rejected(client.post("/huggy/webhook", json={"time": 1, "token": TOKEN}), 400, "invalid_envelope")

    assert body["fields"] == {"messages": ["Missing data for required field."]}


@pytest.mark.parametrize("time", ["yesterday", True, {"t": 1}, [1], 1e300, -1e300])
def test_an_impossible_time_is_400(client, recorder, time) -> None:
    response = client.post("/huggy/webhook", json={"time": time, "token": TOKEN, "messages": {}})

    body = assert_rejected(response, 400, "invalid_envelope")
    assert "time" in body["fields"]
    assert recorder.names() == ["huggy.delivery_refused"]  # and nothing else


def test_an_empty_delivery_is_accepted_with_zero_events(client, recorder) -> None:
    response = client.post("/huggy/webhook", json={"time": 1700000000, "token": TOKEN, "messages": {}})

    assert response.get_json() == {"status": "accepted", "events": 0, "invalid": 0, "duplicates": 0}
    assert recorder.names() == ["huggy.delivery_received"]


def test_oversized_bodies_are_413_by_content_length(client, recorder) -> None:
    data = json.dumps({"token": TOKEN, "messages": {}, "pad": "x" * (1024 * 1024)})

    response = client.post("/huggy/webhook", data=data)

    body = assert_rejected(response, 413, "payload_too_large")
    assert body["limit"] == 1024 * 1024
    assert recorder.names() == ["huggy.delivery_refused"]  # and nothing else


def test_the_size_limit_is_configurable(make_app) -> None:
    app = make_app(HUGGY_MAX_CONTENT_LENGTH=100)
    body = json.dumps({"token": TOKEN, "messages": {"closedChat": [{"id": 1, "body": "x" * 200}]}})

    assert_rejected(app.test_client().post("/huggy/webhook", data=body), 413, "payload_too_large")


def test_a_chunked_body_without_content_length_is_cut_at_the_limit(make_app) -> None:
    app = make_app(HUGGY_MAX_CONTENT_LENGTH=1000)
    read = []

    class Endless:
        """A request stream that never ends; we must stop reading it."""

        def read(self, size: int = -1) -> bytes:
            read.append(size)
            assert sum(read) < 10_000, "read far past the limit"
            return b" " * size

    environ = {"wsgi.input": Endless(), "wsgi.input_terminated": True}
    response = app.test_client().post(
        "/huggy/webhook", environ_overrides=environ, headers={"Transfer-Encoding": "chunked"}
    )

    assert_rejected(response, 413, "payload_too_large")
    assert sum(read) <= 1001


class Trickle:
    """A request stream that hands out a few bytes per read, as a slow network does."""

    def __init__(self, body: bytes, piece: int) -> None:
        self.body, self.piece, self.sizes = body, piece, []

    def read(self, size: int = -1) -> bytes:
        self.sizes.append(size)
        chunk, self.body = self.body[: min(size, self.piece)], self.body[min(size, self.piece) :]
        return chunk


def post_stream(app: Flask, stream: Trickle, content_length: int) -> Response:
    environ = {"wsgi.input": stream, "CONTENT_LENGTH": str(content_length)}
    return app.test_client().post("/huggy/webhook", environ_overrides=environ)


def test_a_body_that_arrives_in_pieces_is_read_whole_and_no_further(app, recorder) -> None:
    body = json.dumps({"token": TOKEN, "messages": {"closedChat": [{"id": 7}]}}).encode()
    stream = Trickle(body + b"NEXT REQUEST ON THE SAME CONNECTION", piece=7)

    response = post_stream(app, stream, len(body))

    assert response.status_code == 200
    assert response.get_json()["events"] == 1
    assert stream.body == b"NEXT REQUEST ON THE SAME CONNECTION"
    assert max(stream.sizes) <= len(body), "asked for more than Content-Length announced"


def test_a_body_shorter_than_its_content_length_is_a_json_400(app, recorder) -> None:
    body = json.dumps({"token": TOKEN, "messages": {}}).encode()
    stream = Trickle(body, piece=5)

    response = post_stream(app, stream, len(body) + 50)

    assert response.status_code == 400
    assert response.is_json
    assert recorder.names() == ["huggy.delivery_refused"]  # and nothing else


def test_an_app_wide_max_content_length_answers_in_json_too(make_app) -> None:
    app = make_app(MAX_CONTENT_LENGTH=10)

    response = app.test_client().post("/huggy/webhook", data=b'{"messages": {}, "token": "x"}')

    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_other_methods_are_405_with_json(client, method) -> None:
    response = client.open("/huggy/webhook", method=method)

    body = assert_rejected(response, 405, "method_not_allowed")
    assert method in body["message"]
    assert "POST" in response.headers["Allow"]


def test_strict_mode_refuses_an_invalid_event_with_422_and_fires_nothing(make_app, payload) -> None:
    from flask_huggy import signals

    app = make_app(HUGGY_STRICT=True)
    fired = []
    signals.event_received.connect(lambda sender, **kw: fired.append(kw), sender=app, weak=False)
    body = payload("startedAutomationFlow+finishedAutomationFlow")
    body["messages"]["finishedAutomationFlow"][0]["flowID"] = "not-a-number"

    response = app.test_client().post("/huggy/webhook", json=body)

    result = assert_rejected(response, 422, "invalid_event")
    assert result["event"] == "finishedAutomationFlow"
    assert result["index"] == 1
    assert "flowID" in result["fields"]
    assert fired == []


# --- Limits checked while decoding, before anything fires or is queued (issue 13) ---------


def nested_closed_chat(depth: int) -> bytes:
    """The docs' closedChat with an extra field nesting ``depth`` lists, as a delivery."""
    from .conftest import load_payload

    body = load_payload("closedChat")
    text = json.dumps(body)
    marker = '"closedChat": [{'
    return text.replace(marker, marker + '"extra": ' + "[" * depth + "]" * depth + ", ", 1).encode()


@pytest.mark.parametrize("decoder", ["stdlib", "jiter"])
@pytest.mark.parametrize("depth", [59, 500, 970])
def test_a_delivery_nested_past_max_depth_is_400_too_deep(make_app, decoder, depth) -> None:
    app = make_app(HUGGY_JSON_DECODER=decoder)
    fired: list[str] = []
    from flask_huggy import signals

    signals.event_received.connect(lambda sender, event, **kw: fired.append(event.name), sender=app, weak=False)

    response = app.test_client().post("/huggy/webhook", data=nested_closed_chat(depth), content_type="application/json")

    if depth == 59:  # 4 levels of envelope and event + 59 + 1: exactly the limit
        assert response.status_code == 200, response.get_json()
        assert fired == ["closedChat"]
    else:
        body = assert_rejected(response, 400, "too_deep")
        assert body["limit"] == 64
        assert fired == []


@pytest.mark.parametrize("decoder", ["stdlib", "jiter"])
@pytest.mark.parametrize("escape", [r"\ud800", r"\udfff", r"a\ud83d", r"\ude00b"])
def test_a_lone_surrogate_is_400_invalid_unicode(make_app, decoder, escape) -> None:
    app = make_app(HUGGY_JSON_DECODER=decoder)
    body = b'{"time": 1583439671, "token": "%s", "messages": {"closedChat": [{"id": 1, "tabulation": "%s"}]}}' % (
        TOKEN.encode(),
        escape.encode(),
    )

    response = app.test_client().post("/huggy/webhook", data=body, content_type="application/json")

    assert_rejected(response, 400, "invalid_unicode")


@pytest.mark.parametrize("decoder", ["stdlib", "jiter"])
def test_a_lone_surrogate_in_a_key_is_refused_and_a_real_pair_is_text(make_app, decoder) -> None:
    app = make_app(HUGGY_JSON_DECODER=decoder)
    template = b'{"time": 1583439671, "token": "%s", "messages": {"closedChat": [{"id": 1, %s: 1}]}}'

    lone = app.test_client().post(
        "/huggy/webhook", data=template % (TOKEN.encode(), rb'"\udc00"'), content_type="application/json"
    )
    pair = app.test_client().post(
        "/huggy/webhook", data=template % (TOKEN.encode(), rb'"smile \ud83d\ude00"'), content_type="application/json"
    )

    assert_rejected(lone, 400, "invalid_unicode")
    assert pair.status_code == 200


@pytest.mark.parametrize("decoder", ["stdlib", "jiter"])
@pytest.mark.parametrize(
    "number",
    [
        b"1e400",
        b"-1e400",
        b"1" * 400 + b".5",
        b"1.5E+999",
        # Issue 21: a long mantissa overflows with a small exponent.
        b"1" + b"0" * 250 + b"e60",
        b"-1" + b"0" * 250 + b"e60",
        b"1" + b"0" * 300 + b"e9",
        b"0.000001e315",
    ],
    ids=lambda number: number[:12].decode() + f"...({len(number)})",
)
def test_a_number_too_large_for_a_float_is_400_and_nothing_fires(make_app, decoder, number) -> None:
    app = make_app(HUGGY_JSON_DECODER=decoder)
    fired: list[str] = []
    from flask_huggy import signals

    signals.event_received.connect(lambda sender, event, **kw: fired.append(event.name), sender=app, weak=False)
    body = b'{"time": 1583439671, "token": "%s", "messages": {"closedChat": [{"id": 1, "score": %s}]}}' % (
        TOKEN.encode(),
        number,
    )

    response = app.test_client().post("/huggy/webhook", data=body, content_type="application/json")

    assert_rejected(response, 400, "number_out_of_range")
    assert fired == []


@pytest.mark.parametrize("decoder", ["stdlib", "jiter"])
def test_an_integer_longer_than_python_reads_is_400_number_out_of_range(make_app, decoder) -> None:
    app = make_app(HUGGY_JSON_DECODER=decoder)
    template = b'{"time": 1583439671, "token": "%s", "messages": {"closedChat": [{"id": 1, "score": %s}]}}'

    too_long = app.test_client().post("/huggy/webhook", data=template % (TOKEN.encode(), b"9" * 4301))
    longest = app.test_client().post("/huggy/webhook", data=template % (TOKEN.encode(), b"-" + b"9" * 4300))

    body = assert_rejected(too_long, 400, "number_out_of_range")
    assert "4300 digits" in body["message"]
    assert longest.status_code == 200, longest.get_json()


def test_large_but_finite_numbers_and_ints_are_fine(client) -> None:
    body = b'{"time": 1583439671, "token": "%s", "messages": {"closedChat": [{"id": %s, "score": 1e300}]}}' % (
        TOKEN.encode(),
        b"9" * 300,
    )

    response = client.post("/huggy/webhook", data=body, content_type="application/json")

    assert response.status_code == 200, response.get_json()


def test_more_than_1000_events_is_413_before_any_fires(make_app) -> None:
    from flask_huggy import signals

    from .conftest import load_payload

    app = make_app()
    fired: list[str] = []
    signals.event_received.connect(lambda sender, event, **kw: fired.append(event.name), sender=app, weak=False)
    event = load_payload("closedChat")["messages"]["closedChat"][0]
    body = {"time": 1583439671, "token": TOKEN, "messages": {"closedChat": [event] * 2, "leftQueue": [{}] * 999}}

    response = app.test_client().post("/huggy/webhook", json=body)

    assert assert_rejected(response, 413, "too_many_events")["limit"] == 1000
    assert fired == []
    body["messages"]["leftQueue"] = [{}] * 998
    assert app.test_client().post("/huggy/webhook", json=body).status_code == 200
    assert len(fired) == 1000


def test_a_form_encoded_body_is_told_its_content_type_not_a_json_parse_error(app: Flask) -> None:
    response = app.test_client().post(
        "/huggy/webhook", data=f"token={TOKEN}&validToken=true", content_type="application/x-www-form-urlencoded"
    )

    body = assert_rejected(response, 415, "unsupported_media_type")
    assert "application/x-www-form-urlencoded" in body["message"]
    assert "Expecting value" not in body["message"]
