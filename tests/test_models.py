"""``event.obj``: each event as a frozen, typed object of flask_huggy.models."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import zoneinfo
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from marshmallow import fields

import flask_huggy
from flask_huggy import models
from flask_huggy.catalog import EVENT_MODELS
from flask_huggy.models import (
    AgentChangedStatus,
    AsyncExportData,
    Channel,
    ClosedChat,
    Contact,
    CreatedCustomer,
    File,
    FinishedAutomationFlow,
    HuggyObject,
    Message,
    NamedRef,
    NewInternalMessage,
    ReceivedAllMessage,
    ReceivedMessage,
    SendedAllMessage,
    StartedChat,
    StartedWidgetAttendance,
    UpdatedWorkflowStep,
)
from flask_huggy.schemas import EVENT_SCHEMAS, build_event_object
from flask_huggy.schemas.base import HuggySchema, snake_case
from flask_huggy.schemas.fields import Either
from flask_huggy.signals import EVENT_SIGNALS

from .conftest import SAMPLE_NAMES, load_payload

ROOT = Path(__file__).resolve().parent.parent
SAO_PAULO = zoneinfo.ZoneInfo("America/Sao_Paulo")


def events(payload: dict[str, Any]) -> tuple[flask_huggy.Event, ...]:
    return flask_huggy.envelope.parse_delivery(payload, SAO_PAULO).events


def first(name: str, event: str | None = None) -> Any:
    """The typed object of the first ``event`` (default: the sample's own) in a sample."""
    return next(e.obj for e in events(load_payload(name)) if e.name == (event or name))


def one_event(name: str, body: dict[str, Any]) -> flask_huggy.Event:
    return events({"time": 1583439671, "messages": {name: [body]}})[0]


def extras(obj: Any, path: str = "obj") -> dict[str, Any]:
    """Every non-empty ``extra`` in an object tree, by path."""
    found: dict[str, Any] = {}
    if isinstance(obj, HuggyObject):
        if obj.extra:
            found[path] = dict(obj.extra)
        for f in dataclasses.fields(obj):
            found.update(extras(getattr(obj, f.name), f"{path}.{f.name}"))
    elif isinstance(obj, tuple):
        for index, item in enumerate(obj):
            found.update(extras(item, f"{path}[{index}]"))
    return found


# Every sample ---------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_docs_sample_builds_its_events_class_with_nothing_left_in_extra(name: str) -> None:
    for event in events(load_payload(name)):
        assert type(event.obj) is EVENT_MODELS[event.name]
        assert extras(event.obj) == {}, "the schemas should declare every key Huggy's docs show"


def test_events_schemas_signals_and_classes_name_the_same_events() -> None:
    assert list(EVENT_MODELS) == list(EVENT_SIGNALS)
    assert set(EVENT_MODELS) == set(EVENT_SCHEMAS)


@pytest.mark.parametrize("name", list(EVENT_MODELS))
def test_each_events_class_derives_from_its_schemas_model(name: str) -> None:
    assert issubclass(EVENT_MODELS[name], EVENT_SCHEMAS[name].model)


def _all_schemas() -> list[HuggySchema]:
    seen: dict[type, HuggySchema] = {}
    pending: list[Any] = list(EVENT_SCHEMAS.values())
    while pending:
        schema = pending.pop()
        if type(schema) in seen:
            continue
        seen[type(schema)] = schema
        for field in schema.fields.values():
            field = field.nested if isinstance(field, Either) else field  # its object shape
            field = field.inner if isinstance(field, fields.List) else field  # its items
            if isinstance(field, fields.Nested):
                pending.append(field.schema)
    return list(seen.values())


@pytest.mark.parametrize("schema", _all_schemas(), ids=lambda s: type(s).__name__)
def test_every_declared_field_has_a_snake_case_attribute_in_the_schemas_model(schema: HuggySchema) -> None:
    attributes = {f.name for f in dataclasses.fields(schema.model)}
    assert schema.model is not HuggyObject
    assert {snake_case(key) for key in schema.fields} <= attributes
    assert attributes - {snake_case(key) for key in schema.fields} == {"extra"}


def test_every_shared_part_has_its_class() -> None:
    events = {type(schema) for schema in EVENT_SCHEMAS.values()}
    parts = [s.model.__name__ for s in _all_schemas() if type(s) not in events]
    assert sorted(parts) == [
        "Channel",
        "Chat",
        "Company",
        "Contact",
        "File",
        "FormAnswer",
        "FormQuestion",
        "NamedRef",
        "WorkflowStep",
    ]


@pytest.mark.parametrize(
    ("key", "attribute"),
    [
        ("senderType", "sender_type"),
        ("chatID", "chat_id"),
        ("workflowStepID", "workflow_step_id"),
        ("isActive", "is_active"),
        ("fileUrl", "file_url"),
        ("previousStep", "previous_step"),
        ("statusID", "status_id"),
        ("send_at", "send_at"),
        ("id", "id"),
    ],
)
def test_huggys_keys_become_snake_case_attributes(key: str, attribute: str) -> None:
    assert snake_case(key) == attribute


# Values, sample by sample ----------------------------------------------------------


def test_closed_chat_sample() -> None:
    obj = first("closedChat")
    assert isinstance(obj, ClosedChat)
    assert obj.id == 30608118
    assert obj.channel == "email"
    assert obj.closed is True
    assert obj.tabulation is None  # sent as false
    assert obj.closed_at == datetime(2020, 3, 5, 20, 21, 10, tzinfo=timezone.utc)
    assert obj.situation == "finishing"
    assert obj.company is not None and obj.company.id == 15691  # sent as "15691"


def test_received_message_sample() -> None:
    obj = first("receivedMessage")
    assert isinstance(obj, ReceivedMessage)
    assert obj.id == 51917884
    assert obj.receiver is None  # sent as false: the chat waits in the queue
    assert obj.sender is not None and obj.sender.name == "Charles"
    assert obj.sender_type == "widget"
    assert obj.receiver_type == "agent"
    assert obj.chat is not None and obj.chat.department == 11445
    assert obj.chat.situation == "wait_for_chat"
    assert obj.file is None
    assert obj.send_at == datetime(2018, 4, 19, 16, 37, 34, tzinfo=timezone.utc)
    assert obj.read_at is None


def test_the_four_message_events_have_their_own_classes_and_share_message() -> None:
    received = first("receivedAllMessage")
    sent = first("sendedAllMessage")
    internal = first("newInternalMessage")
    assert isinstance(received, ReceivedAllMessage) and isinstance(received, Message)
    assert isinstance(sent, SendedAllMessage) and sent.sender_type == "agent"
    assert isinstance(internal, NewInternalMessage) and internal.is_internal is True
    assert not isinstance(received, ReceivedMessage)


def test_new_internal_message_sample_reads_agent_flags_and_empty_custom_fields() -> None:
    obj = first("newInternalMessage")
    assert isinstance(obj, NewInternalMessage)
    assert obj.sender is not None
    assert (obj.sender.is_active, obj.sender.is_online, obj.sender.status_id, obj.sender.status_type) == (
        True,
        True,
        None,
        1,
    )
    assert obj.receiver is not None and obj.receiver.custom_fields == {}  # PHP's []
    assert obj.chat is not None and obj.chat.workflow_id is None and obj.chat.department is None
    assert obj.chat.customer == Contact(
        id=213955, name="Igor", photo="https://c.pzw.io/img/avatar-user-boy.jpg", custom_fields={}
    )


def test_started_chat_sample_has_a_channel_object() -> None:
    obj = first("startedChat")
    assert isinstance(obj, StartedChat)
    assert obj.channel == Channel(id=101, uuid="298745b9-6af7-4e8b-a2t6-719b6b9b9ddd", name="Huggy Agent", type="Email")
    assert obj.department is None
    assert obj.contact is not None and obj.contact.custom_fields == {"profession": None}
    assert obj.pipe is None


def test_left_queue_sample_has_an_agent_known_only_by_id() -> None:
    obj = first("leftQueue")
    assert isinstance(obj, models.LeftQueue)
    assert obj.agent == Contact(id=40419)
    assert isinstance(obj.channel, Channel) and obj.channel.type is None


def test_customer_samples_read_organizations_and_groups_as_tuples() -> None:
    obj = first("createdCustomer")
    assert isinstance(obj, CreatedCustomer) and isinstance(obj, Contact)
    assert obj.organizations == (NamedRef(id=16146, name="DCS - Brasil"),)
    assert obj.groups == (NamedRef(id=12, name="DCS"),)
    assert obj.custom_fields == {}
    assert isinstance(first("updatedCustomer"), models.UpdatedCustomer)


def test_widget_attendance_and_agent_status_samples() -> None:
    widget = first("startedWidgetAttendance")
    assert isinstance(widget, StartedWidgetAttendance)
    assert (widget.id, widget.widget, widget.name) == (18516008, 2008, "Charles")
    agent = first("agentChangedStatus")
    assert isinstance(agent, AgentChangedStatus)
    assert (agent.is_online, agent.is_available, agent.status_id, agent.origin) == (True, True, None, "manually")


def test_flow_samples_keep_context_keys_and_coerce_ids() -> None:
    obj = first("startedAutomationFlow+finishedAutomationFlow-2", "finishedAutomationFlow")
    assert isinstance(obj, FinishedAutomationFlow)
    assert (obj.chat_id, obj.company_id, obj.flow_id) == (214570, 1, 70582)
    assert obj.flow_token == "eb72feea-f7d1-4096-b53f-0f276bd58f03"
    assert obj.context is not None and obj.context["huggy.chat.agent.id"] == 40419
    assert first("startedAutomationFlow").last_action_id == 99999


def test_updated_workflow_step_sample() -> None:
    obj = first("updatedWorkflowStep")
    assert isinstance(obj, UpdatedWorkflowStep)
    assert obj.chat is not None and (obj.chat.workflow_id, obj.chat.workflow_step_id) == (6074, 7611)
    assert obj.step is not None and obj.step.workflow == NamedRef(id=6074, name="Workflow de Teste")
    assert obj.previous_step is not None and obj.previous_step.name == "etapa 1"


def test_async_export_data_sample() -> None:
    obj = first("asyncExportData")
    assert isinstance(obj, AsyncExportData)
    assert obj.file_url is not None and obj.file_url.startswith("https://huggy-svc-async-report-export-origin")


# Shapes and edge cases ------------------------------------------------------------


def test_unknown_fields_land_in_extra_as_sent_at_every_level() -> None:
    body = load_payload("receivedMessage")["messages"]["receivedMessage"][0]
    body["reaction"] = {"emoji": "👍"}
    body["sender"]["nickname"] = "Chuck"
    event = one_event("receivedMessage", body)

    assert event.obj is not None and event.obj.extra == {"reaction": {"emoji": "👍"}}
    assert isinstance(event.obj, Message) and event.obj.sender is not None
    assert event.obj.sender.extra == {"nickname": "Chuck"}
    assert event.obj.sender.name == "Charles"


def test_fields_sent_in_two_shapes_give_the_scalar_or_the_class() -> None:
    as_object = one_event(
        "receivedMessage",
        {
            "file": {"id": "7", "url": "https://x/y.png", "size": "12"},
            "chat": {"id": 1, "department": {"id": "3", "name": "Vendas"}},
        },
    ).obj
    as_scalar = one_event("receivedMessage", {"file": "https://x/y.png", "chat": {"department": "3"}}).obj
    assert isinstance(as_object, Message) and isinstance(as_scalar, Message)
    assert as_object.file == File(id=7, url="https://x/y.png", size=12)
    assert as_object.chat is not None and as_object.chat.department == NamedRef(id=3, name="Vendas")
    assert as_scalar.file == "https://x/y.png"
    assert as_scalar.chat is not None and as_scalar.chat.department == 3


def test_a_tabulation_object_becomes_a_named_ref() -> None:
    obj = one_event("closedChat", {"id": 1, "tabulation": {"id": 9, "name": "Venda feita"}}).obj
    assert isinstance(obj, ClosedChat) and obj.tabulation == NamedRef(id=9, name="Venda feita")
    assert one_event("closedChat", {"tabulation": "Venda feita"}).obj == ClosedChat(tabulation="Venda feita")


def test_a_list_item_sent_as_false_is_left_out_of_the_tuple() -> None:
    event = one_event("createdCustomer", {"organizations": [False, {"id": 1}], "groups": []})
    assert isinstance(event.obj, CreatedCustomer)
    assert event.obj.organizations == (NamedRef(id=1),)
    assert event.obj.groups == ()
    assert event.data["organizations"] == [None, {"id": 1}]


def test_an_event_with_no_fields_gives_an_object_of_nones() -> None:
    assert one_event("agentEntered", {}).obj == models.AgentEntered()


def test_unknown_event_has_no_object() -> None:
    event = one_event("chatRated", {"id": 1, "stars": 5})
    assert not event.known
    assert event.obj is None
    assert event.data == {"id": 1, "stars": 5}


def test_invalid_event_has_no_object() -> None:
    event = one_event("closedChat", {"id": "not-a-number", "closed": 1})
    assert event.obj is None
    assert event.errors == {"id": ["Not a valid id: expected an integer or a numeric string."]}


def test_object_is_built_once_and_frozen() -> None:
    event = events(load_payload("closedChat"))[0]
    obj = event.obj
    assert isinstance(obj, ClosedChat) and event.obj is obj
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.id = 1  # type: ignore[misc]


def test_object_does_not_change_when_event_data_is_changed() -> None:
    event = events(load_payload("startedChat"))[0]
    obj = event.obj
    event.data["contact"]["custom_fields"]["profession"] = "pilot"
    event.data["id"] = 0
    assert isinstance(obj, StartedChat) and obj.contact is not None
    assert obj.contact.custom_fields == {"profession": None}
    assert obj.id == 171780


def test_objects_of_equal_events_are_equal_and_hashable() -> None:
    one, other = first("startedChat"), first("startedChat")
    assert one == other and one is not other
    assert hash(one) == hash(other)
    assert dataclasses.asdict(one)["contact"]["custom_fields"] == {"profession": None}


def test_build_event_object_uses_the_events_class_not_the_shared_schemas() -> None:
    data = EVENT_SCHEMAS["sendedAllMessage"].load({"id": 1})
    assert type(build_event_object("sendedAllMessage", data)) is SendedAllMessage
    assert type(EVENT_SCHEMAS["sendedAllMessage"].build_object(data)) is Message


# Static typing --------------------------------------------------------------------


def run_mypy(path: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy")
    # Imported modules are checked but their errors not reported, as for a user
    # whose flask-huggy is installed: this is about what receivers see.
    command = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-error-summary", str(path)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_typing_example_passes_mypy_strict() -> None:
    result = run_mypy(ROOT / "tests" / "typing_example.py")
    assert result.returncode == 0, result.stdout + result.stderr


BAD_RECEIVER = """
from flask_huggy import Event
from flask_huggy.models import ClosedChat


def on_closed(event: Event) -> None:
    event.obj.id
    assert isinstance(event.obj, ClosedChat)
    event.obj.closed_att
    moment: int = event.obj.closed_at
    reason: str = event.obj.tabulation
"""


def test_mypy_catches_a_wrong_receiver(tmp_path: Path) -> None:
    # Proves the test above is not vacuous: were event.obj typed Any, all would pass.
    path = tmp_path / "bad_receiver.py"
    path.write_text(BAD_RECEIVER, encoding="utf-8")
    result = run_mypy(path)
    errors = {int(line.split(":")[1]): line for line in result.stdout.splitlines() if ": error: " in line}
    assert result.returncode == 1, result.stdout + result.stderr
    assert sorted(errors) == [7, 9, 10, 11], result.stdout  # unnarrowed, typo, and two wrong types
    assert "[union-attr]" in errors[7]
    assert '"closed_att"' in errors[9]
    assert '"datetime | None"' in errors[10]
    assert '"str | NamedRef | None"' in errors[11]
