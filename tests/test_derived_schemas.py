"""The schemas derived from flask_huggy.models declare exactly what the hand-written ones did."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import Schema, fields

from flask_huggy.catalog import EVENTS
from flask_huggy.schemas import EVENT_SCHEMAS
from flask_huggy.schemas.derived import schema_for
from flask_huggy.schemas.fields import Either


def describe_field(f: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "class": type(f), "data_key": f.data_key, "attribute": f.attribute, "allow_none": f.allow_none,
        "required": f.required, "load_default": f.load_default, "validators": f.validators,
        "error_messages": f.error_messages,
    }
    if isinstance(f, Either):
        d["scalar"], d["nested"] = describe_field(f.scalar), describe_field(f.nested)
    if isinstance(f, fields.List):
        d["inner"] = describe_field(f.inner)
    if isinstance(f, fields.Nested):
        d.update(nested=f.schema.model, is_class=isinstance(f.nested, type), many=f.many, unknown=f.unknown)
    return d


def describe(schema: Schema) -> dict[str, Any]:
    return {
        "model": schema.model,  # type: ignore[attr-defined]
        "unknown": schema.unknown, "hooks": {k: v for k, v in schema._hooks.items() if v},
        "fields": [(key, describe_field(f)) for key, f in schema.fields.items()],
        "load_fields": list(schema.load_fields),
    }


def reachable(schemas: dict[str, Schema]) -> dict[Any, dict[str, Any]]:
    found: dict[Any, dict[str, Any]] = {}
    pending = list(schemas.values())
    while pending:
        schema = pending.pop()
        if schema.model not in found:  # type: ignore[attr-defined]
            found[schema.model] = describe(schema)  # type: ignore[attr-defined]
            for f in schema.fields.values():
                f = f.nested if isinstance(f, Either) else f
                f = f.inner if isinstance(f, fields.List) else f
                if isinstance(f, fields.Nested):
                    pending.append(f.schema)
    return found


DERIVED = {name: schema_for(spec.model) for name, spec in EVENTS.items()}


@pytest.mark.parametrize("name", list(EVENT_SCHEMAS))
def test_derived_schema_declares_what_the_hand_written_one_does(name: str) -> None:
    assert describe(DERIVED[name]) == describe(EVENT_SCHEMAS[name])


def test_every_nested_schema_is_the_same_too() -> None:
    assert reachable(DERIVED) == reachable(dict(EVENT_SCHEMAS))  # type: ignore[arg-type]


def test_events_share_schemas_as_before() -> None:
    def groups(schemas: dict[str, Any]) -> list[list[str]]:
        by_id: dict[int, list[str]] = {}
        for name, schema in schemas.items():
            by_id.setdefault(id(schema), []).append(name)
        return sorted(by_id.values())

    assert groups(DERIVED) == groups(dict(EVENT_SCHEMAS))
