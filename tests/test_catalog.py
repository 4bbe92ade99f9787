"""flask_huggy.catalog is the one list of events; the schemas are derived from the typed classes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import pytest
from marshmallow import ValidationError, fields

from flask_huggy import signals
from flask_huggy.catalog import (
    CATALOG,
    EVENT_ALIASES,
    EVENT_MODELS,
    EVENTS,
    documented_name,
    sample_event,
    snake_case,
    spec_for,
)
from flask_huggy.models import Contact, HuggyObject, Message, NamedRef, ReceivedMessage, sent_as
from flask_huggy.schemas import DEPRECATED_EVENTS, EVENT_SCHEMAS
from flask_huggy.schemas.derived import field_for, schema_class, schema_for, shape_of
from flask_huggy.schemas.fields import (
    Either,
    Flag,
    HuggyDateTime,
    Id,
    Integer,
    LooseMapping,
    LooseNested,
    Text,
    local_timezone,
)

# The catalog and the tables derived from it -----------------------------------------


def test_every_table_keyed_by_event_name_has_the_catalogs_names_in_its_order() -> None:
    names = list(EVENTS)
    assert names[:3] == ["receivedMessage", "receivedAllMessage", "startedChat"]
    assert names.index("sentAllMessage") == names.index("sendedAllMessage") + 1
    assert list(signals.EVENT_SIGNALS) == names
    assert list(EVENT_SCHEMAS) == names
    assert list(EVENT_MODELS) == names


def test_each_row_gives_its_events_class_schema_and_sample() -> None:
    for name, spec in EVENTS.items():
        assert EVENT_MODELS[name] is spec.model
        assert EVENT_SCHEMAS[name] is schema_for(spec.model)
        assert sample_event(name) == sample_event(spec.name)
        assert spec_for(name) is spec


def test_signals_written_out_are_exactly_the_catalogs_one_each() -> None:
    for name, spec in EVENTS.items():
        signal = signals.EVENT_SIGNALS[name]
        assert signal is getattr(signals, snake_case(name)) is getattr(signals, spec.signal_attribute)
        assert signal.name == spec.name  # an alias fires its event's signal
    own = {name for name in signals.huggy_signals if name.startswith("huggy.")}
    assert set(signals.huggy_signals) - own == {spec.name for spec in CATALOG}
    assert len({id(signals.EVENT_SIGNALS[name]) for name in EVENTS}) == len(CATALOG)


def test_deprecation_and_aliases_come_from_the_rows() -> None:
    assert DEPRECATED_EVENTS == {"createdChat", "answeredChatForm"}
    assert dict(EVENT_ALIASES) == {"sentAllMessage": "sendedAllMessage"}
    assert documented_name("sentAllMessage") == "sendedAllMessage"
    assert documented_name("closedChat") == "closedChat"
    assert signals.sent_all_message is signals.sended_all_message


def test_every_event_ships_its_sample_and_an_unknown_name_lists_the_known_ones() -> None:
    for spec in CATALOG:
        assert isinstance(sample_event(spec.name), dict)
    sample = sample_event("closedChat")
    sample["id"] = "changed"
    assert sample_event("closedChat")["id"] != "changed"  # a fresh copy each time
    with pytest.raises(ValueError, match="known events: receivedMessage"):
        spec_for("nope")


def test_every_event_has_its_own_class_deriving_from_its_schemas_model() -> None:
    assert len({spec.model for spec in CATALOG}) == len(CATALOG)
    for spec in CATALOG:
        schema = EVENT_SCHEMAS[spec.name]
        assert issubclass(spec.model, schema.model)
        assert schema.model is shape_of(spec.model)


# Deriving a schema from a class ------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "field_class"),
    [
        (int | None, Id),
        (bool | None, Flag),
        (str | None, Text),
        (datetime | None, HuggyDateTime),
        (Mapping[str, Any] | None, LooseMapping),
        (Any, fields.Raw),
        (Contact | None, LooseNested),
        (tuple[NamedRef, ...] | None, fields.List),
        (int | NamedRef | None, Either),
    ],
)
def test_an_attributes_type_picks_its_field(hint: Any, field_class: type) -> None:
    field = field_for(hint)
    assert type(field) is field_class
    assert field.allow_none


def test_a_count_is_an_integer_not_an_id() -> None:
    assert type(field_for(int | None, count=True)) is Integer
    assert type(field_for(int | NamedRef | None, count=True).scalar) is Integer  # type: ignore[attr-defined]


def test_a_type_no_field_reads_is_refused() -> None:
    with pytest.raises(TypeError, match="No field reads"):
        field_for(float | None)
    with pytest.raises(TypeError, match="No field reads"):
        field_for(int | str | NamedRef | None)


def test_classes_that_only_rename_a_shape_share_its_schema() -> None:
    assert shape_of(ReceivedMessage) is Message
    assert schema_for(ReceivedMessage) is schema_for(Message) is EVENT_SCHEMAS["receivedMessage"]
    assert shape_of(Contact) is Contact


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Rated(HuggyObject):
    """chatRated: a made-up event, as a new one would be declared."""

    chat_id: int | None = sent_as("chatID")
    stars: int | None = sent_as(count=True)
    rated_at: datetime | None = sent_as("ratedAt")
    agent: Contact | None = None
    tags: tuple[NamedRef, ...] | None = None


def test_a_new_class_gives_a_schema_that_reads_huggys_keys_and_builds_the_class() -> None:
    schema = schema_class(_Rated)()
    assert list(schema.fields) == ["chatID", "stars", "ratedAt", "agent", "tags"]
    with local_timezone(timezone.utc):
        data = schema.load(
            {"chatID": "5", "stars": 4, "ratedAt": "2024-01-02 03:04:05", "agent": False, "tags": [], "mood": "ok"}
        )
    assert data == {
        "chatID": 5,
        "stars": 4,
        "ratedAt": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        "agent": None,
        "tags": [],
        "mood": "ok",
    }
    assert schema.build_object(data) == _Rated(
        chat_id=5, stars=4, rated_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc), tags=(), extra={"mood": "ok"}
    )
    with pytest.raises(ValidationError) as error:
        schema.load({"stars": "many"})
    assert error.value.messages == {"stars": ["Not a valid integer."]}


def test_a_key_that_is_not_the_attributes_camel_case_is_refused() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Wrong(HuggyObject):
        chat_id: int | None = sent_as("chat")

    with pytest.raises(TypeError, match="'chat' is not its camelCase"):
        schema_class(Wrong)
