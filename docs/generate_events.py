"""The reference part of docs/events.rst: every Huggy event, its signal, its typed class and its fields.

The page is generated so that it cannot drift from the code: the events, their
descriptions and signals come from :mod:`flask_huggy.catalog`, the fields and their
types from the typed classes of :mod:`flask_huggy.models` (through the schemas
derived from them) and what each field means from the ``#:`` comment above its
attribute there (a field left without one stops the generator), the examples from
Huggy's own samples (``flask_huggy/samples/`` and ``tests/payloads/``).
``docs/conf.py`` writes it into ``docs/_generated/`` at every Sphinx build (nothing
generated is committed); to look at it without Sphinx::

    .venv/bin/python docs/generate_events.py   # writes docs/_generated/events.rst
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "docs" / "_generated"
FILENAME = "events.rst"
PAYLOADS = ROOT / "tests" / "payloads"

if __name__ == "__main__" and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script from a checkout, flask-huggy not installed

from marshmallow import Schema, fields  # noqa: E402

from flask_huggy import models, signals  # noqa: E402
from flask_huggy.catalog import CATALOG, EVENT_ALIASES, EVENT_MODELS, EVENTS, sample_event  # noqa: E402
from flask_huggy.models import (  # noqa: E402
    Channel,
    Chat,
    Company,
    Contact,
    File,
    FormAnswer,
    FormQuestion,
    HuggyObject,
    NamedRef,
    WorkflowStep,
)
from flask_huggy.schemas import EVENT_SCHEMAS  # noqa: E402
from flask_huggy.schemas.base import HuggySchema, snake_case  # noqa: E402
from flask_huggy.schemas.derived import schema_for  # noqa: E402
from flask_huggy.schemas.fields import Either, Flag, HuggyDateTime, Id, LooseMapping, Text, is_absent  # noqa: E402
from flask_huggy.signals import EVENT_SIGNALS  # noqa: E402

#: Event -> (Huggy's description, verbatim from the table of its docs; our English),
#: from the event's row of flask_huggy.catalog.
DESCRIPTIONS: dict[str, tuple[str, str]] = {spec.name: (spec.huggy_description, spec.description) for spec in CATALOG}

#: The objects events nest (most in several events), documented once, in this order.
SHARED_PARTS: tuple[type[HuggyObject], ...] = (
    Contact,
    Chat,
    Company,
    Channel,
    NamedRef,
    File,
    WorkflowStep,
    FormAnswer,
    FormQuestion,
)


#: (class name, attribute) -> what it means: the ``#:`` comments above each attribute
#: of flask_huggy/models.py, the same that autodoc shows in the API docs.
def attribute_docs(source: str) -> dict[tuple[str, str], str]:
    """Each class attribute's ``#:`` comment in ``source``, joined into one line."""
    lines = source.splitlines()
    found: dict[tuple[str, str], str] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for statement in node.body:
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                comment: list[str] = []
                above = statement.lineno - 2
                while above >= 0 and lines[above].strip().startswith("#:"):
                    comment.insert(0, lines[above].strip()[2:].strip())
                    above -= 1
                if comment:
                    found[node.name, statement.target.id] = " ".join(comment)
    return found


MEANINGS = attribute_docs(Path(models.__file__).read_text(encoding="utf-8"))

#: Field class -> the type of its value after coercion (subclasses included).
SCALAR_TYPES: tuple[tuple[type[fields.Field[Any]], str], ...] = (
    (Id, "int"),
    (Flag, "bool"),
    (Text, "str"),
    (HuggyDateTime, "datetime"),
    (LooseMapping, "Mapping[str, Any]"),
    (fields.Raw, "Any"),
)

EXAMPLE_WIDTH = 48
NO_EXAMPLE = "—"


# Types --------------------------------------------------------------------------


def nested_schema(field: fields.Field[Any]) -> HuggySchema | None:
    """The schema a field nests (directly, in a list, or as the object shape of an ``Either``)."""
    if isinstance(field, Either):
        field = field.nested
    if isinstance(field, fields.List):
        field = field.inner
    if isinstance(field, fields.Nested):
        schema = field.schema
        if not isinstance(schema, HuggySchema):
            raise TypeError(f"{type(schema).__name__} is not a HuggySchema")
        return schema
    return None


def type_name(field: fields.Field[Any], *, rst: bool = False) -> str:
    """The Python type of a field's value after coercion, ``None`` aside: ``"str | Channel"``.

    The typed classes are annotated with exactly this (plus ``| None``); the tests hold
    them to it. With ``rst``, the same for the page, classes linked to their section.
    """
    if isinstance(field, Either):
        return f"{type_name(field.scalar, rst=rst)} | {type_name(field.nested, rst=rst)}"
    if isinstance(field, fields.List):
        inner = type_name(field.inner, rst=rst)
        return f"tuple of {inner}" if rst else f"tuple[{inner}, ...]"
    schema = nested_schema(field)
    if schema is not None:
        name = schema.model.__name__
        return f"`{name}`_" if rst else name
    for field_class, name in SCALAR_TYPES:
        if isinstance(field, field_class):
            return f"``{name}``" if rst else name
    raise LookupError(f"No type name for {type(field).__name__}: add its class to SCALAR_TYPES.")


def annotation(field: fields.Field[Any]) -> str:
    """How the typed class annotates the attribute for ``field``."""
    name = type_name(field)
    return name if name == "Any" else f"{name} | None"


def meaning(schema: HuggySchema, key: str) -> str:
    """What ``key`` means: the ``#:`` comment on its attribute, in the class or the base that declares it."""
    for cls in schema.model.__mro__:
        if (cls.__name__, snake_case(key)) in MEANINGS:
            return MEANINGS[cls.__name__, snake_case(key)]
    raise LookupError(f"{schema.model.__name__}.{snake_case(key)} has no meaning: add a #: comment above it.")


# Examples -----------------------------------------------------------------------


def samples() -> list[tuple[str, dict[str, Any]]]:
    """Every sample of Huggy's docs, by path: the shipped samples that are their event's own, then tests/payloads."""
    found = [
        (f"flask_huggy/samples/{spec.name}.json", {"messages": {spec.name: [sample_event(spec.name)]}})
        for spec in CATALOG
        if spec.sample.source == spec.name
    ]
    for path in sorted(PAYLOADS.glob("*.json")):
        payload = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(payload.get("messages"), dict):
            found.append((f"tests/payloads/{path.name}", payload))
    return found


def event_samples(name: str) -> list[tuple[str, dict[str, Any]]]:
    """The objects Huggy's samples show for one event, its own sample first."""
    found = [
        (file, obj) for file, payload in samples() for obj in payload["messages"].get(name, []) if isinstance(obj, dict)
    ]
    return sorted(found, key=lambda item: not item[0].endswith(f"/{name}.json"))


def part_samples() -> dict[type[HuggyObject], list[dict[str, Any]]]:
    """Every nested object the samples show, by the typed class it becomes."""
    found: dict[type[HuggyObject], list[dict[str, Any]]] = {}

    def walk(schema: HuggySchema, obj: Mapping[str, Any]) -> None:
        for key, field in schema.fields.items():
            part = nested_schema(field)
            value = obj.get(key)
            if part is None or value is None:
                continue
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    found.setdefault(part.model, []).append(item)
                    walk(part, item)

    for name in EVENT_SIGNALS:
        for _, obj in event_samples(name):
            walk(EVENT_SCHEMAS[name], obj)
    return found


def example(key: str, objects: Sequence[Mapping[str, Any]]) -> str:
    """The first telling value the samples give for ``key``, as Huggy sent it.

    A real value beats ``null``/``false`` (one sample's ``null`` department says
    less than another's ``11445``), but ``false`` is shown when it is all there is.
    """
    values = [obj[key] for obj in objects if key in obj]
    if not values:
        return NO_EXAMPLE
    text = abbreviate(next((v for v in values if not is_absent(v)), values[0]))
    if len(text) > EXAMPLE_WIDTH:
        text = text[: EXAMPLE_WIDTH - 1].rstrip() + "…"
    return f"``{text}``"


def abbreviate(value: Any) -> str:
    """JSON for ``value``, objects and lists cut to their first item: the type column links the rest."""
    if isinstance(value, dict) and value:
        key, first = next(iter(value.items()))
        more = ", …" if len(value) > 1 else ""
        return "{" + json.dumps(key, ensure_ascii=False) + ": " + abbreviate(first) + more + "}"
    if isinstance(value, list) and value:
        return "[" + abbreviate(value[0]) + (", …" if len(value) > 1 else "") + "]"
    return json.dumps(value, ensure_ascii=False)


# Page ---------------------------------------------------------------------------


def paragraph(text: str, indent: str = "") -> list[str]:
    wrapped = textwrap.fill(
        text, width=88, initial_indent=indent, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )
    return [*wrapped.splitlines(), ""]


def heading(text: str, underline: str, *, overline: bool = False) -> list[str]:
    rule = underline * len(text)
    return [rule, text, rule, ""] if overline else [text, rule, ""]


def field_table(schema: HuggySchema, objects: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 16 16 18 30 20",
        "",
        "   * - Field",
        "     - Attribute",
        "     - Type",
        "     - Meaning",
        "     - Example",
    ]
    for key, field in schema.fields.items():
        lines += [
            f"   * - ``{key}``",
            f"     - ``{snake_case(key)}``",
            f"     - {type_name(field, rst=True)}",
            f"     - {meaning(schema, key)}",
            f"     - {example(key, objects)}",
        ]
    return [*lines, ""]


def signal_attribute(name: str) -> str:
    return f"flask_huggy.signals.{EVENTS[name].signal_attribute}"


def alias_section(alias: str) -> list[str]:
    name = EVENT_ALIASES[alias]
    lines = heading(alias, "-")
    lines += paragraph(
        f"Another name for {name}_: receivers written against the live service read ``{alias}`` where "
        f"Huggy's docs say ``{name}``. It is the same event, with the same fields, signal and typed "
        f'object; ``event.name`` is ``"{alias}"`` when it came under this name.'
    )
    signal = EVENT_SIGNALS[alias]
    attributes = [f"``flask_huggy.signals.{attr}``" for attr, value in vars(signals).items() if value is signal]
    return [
        *lines,
        f":Signal: {' or '.join(attributes)}, one signal for both names",
        f":Typed object: ``flask_huggy.models.{EVENT_MODELS[alias].__name__}``",
        "",
    ]


def event_section(name: str) -> list[str]:
    if name in EVENT_ALIASES:
        return alias_section(name)
    spec = EVENTS[name]
    schema = EVENT_SCHEMAS[name]
    found = event_samples(name)
    lines = heading(name, "-")
    if spec.deprecated:
        lines += ["**Deprecated by Huggy.**", ""]
    lines += paragraph(spec.description)
    lines += paragraph(f"Huggy: *{spec.huggy_description}*", indent="    ")
    for alias in spec.aliases:
        lines += paragraph(f"Live Huggy also sends it as {alias}_.")
    lines += [
        f":Signal: ``{signal_attribute(name)}``",
        f":Typed object: ``flask_huggy.models.{EVENT_MODELS[name].__name__}``",
    ]
    files = list(dict.fromkeys(file for file, _ in found))  # already in order: own sample first
    if files:
        lines.append(":Samples: " + ", ".join(f"``{file}``" for file in files))
    else:
        lines.append(":Samples: none in Huggy's docs")
    return [*lines, "", *field_table(schema, [obj for _, obj in found])]


def part_section(model: type[HuggyObject], objects: Sequence[Mapping[str, Any]]) -> list[str]:
    schema = schema_for(model)
    doc = (model.__doc__ or "").strip().splitlines()[0]
    used_as = sorted(
        {
            key
            for event_schema in all_schemas()
            for key, field in event_schema.fields.items()
            if (part := nested_schema(field)) is not None and part.model is model
        }
    )
    lines = heading(model.__name__, "-")
    lines += paragraph(doc)
    lines += [
        f":Typed object: ``flask_huggy.models.{model.__name__}``",
        ":Nested as: " + ", ".join(f"``{key}``" for key in used_as),
        "",
    ]
    return lines + field_table(schema, objects)


def all_schemas() -> Iterator[HuggySchema]:
    """Every schema the events use, nested ones included, each once."""
    seen: set[type[Schema]] = set()
    pending: list[HuggySchema] = list(EVENT_SCHEMAS.values())
    while pending:
        schema = pending.pop(0)
        if type(schema) in seen:
            continue
        seen.add(type(schema))
        yield schema
        pending.extend(part for field in schema.fields.values() if (part := nested_schema(field)) is not None)


def render() -> str:
    """The "Events" and "Shared parts" sections that docs/events.rst includes."""
    events = {type(schema) for schema in EVENT_SCHEMAS.values()}
    undocumented = [s.model.__name__ for s in all_schemas() if type(s) not in events and s.model not in SHARED_PARTS]
    if undocumented:
        raise LookupError(f"Nested classes missing from SHARED_PARTS: {', '.join(undocumented)}")
    lines = [".. Generated by docs/generate_events.py from the catalog, the typed classes and Huggy's samples.", ""]
    lines += heading("Events", "=")
    for name in EVENT_SIGNALS:
        lines += event_section(name)
    lines += heading("Shared parts", "=")
    lines += ["What several events nest: a message's ``sender``, a chat's ``customer``, ...", ""]
    found = part_samples()
    for model in SHARED_PARTS:
        lines += part_section(model, found.get(model, []))
    return "\n".join(lines).rstrip("\n") + "\n"


def write(directory: Path = GENERATED) -> Path:
    """Write :func:`render` into ``directory``; an unchanged file is left alone, so Sphinx rebuilds nothing."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILENAME
    text = render()
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8", newline="\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directory", nargs="?", type=Path, default=GENERATED, help="where to write " + FILENAME)
    args = parser.parse_args(argv)
    print(write(args.directory))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
