"""The events page is generated at each docs build (docs/generate_events.py), and must say what the code does."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

from flask_huggy.catalog import EVENT_MODELS
from flask_huggy.models import HuggyObject
from flask_huggy.schemas import EVENT_SCHEMAS
from flask_huggy.schemas.base import snake_case
from flask_huggy.schemas.derived import schema_for
from flask_huggy.signals import EVENT_SIGNALS

ROOT = Path(__file__).resolve().parent.parent
HUGGY_EVENT_TABLE = Path(__file__).parent / "huggy_docs_event_table.txt"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """docs/generate_events.py, imported by path (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("generate_events", ROOT / "docs" / "generate_events.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_write_puts_the_rendered_sections_where_the_page_includes_them(generator: ModuleType, tmp_path: Path) -> None:
    path = generator.write(tmp_path / "_generated")
    assert path == tmp_path / "_generated" / "events.rst"
    assert path.read_text(encoding="utf-8") == generator.render()
    include = f".. include:: _generated/{path.name}"
    assert include in (ROOT / "docs" / "events.rst").read_text(encoding="utf-8")


def test_write_leaves_an_unchanged_page_alone(generator: ModuleType, tmp_path: Path) -> None:
    # Sphinx rebuilds whatever includes a file whose time changed.
    path = generator.write(tmp_path)
    os.utime(path, (0, 0))
    generator.write(tmp_path)
    assert path.stat().st_mtime == 0
    path.write_text("old\n", encoding="utf-8")
    generator.write(tmp_path)
    assert path.read_text(encoding="utf-8") == generator.render()


def test_nothing_generated_is_committed() -> None:
    ignored = (ROOT / "docs" / ".gitignore").read_text(encoding="utf-8").split()
    assert "_generated/" in ignored
    assert not (ROOT / "docs" / "configuration.rst").read_text(encoding="utf-8").count("``HUGGY_JOURNAL_BACKUPS``")


def test_every_event_has_a_section_in_signal_order(generator: ModuleType) -> None:
    text = generator.render()
    assert text.index("\nEvents\n======\n") < text.index("\nShared parts\n============\n")
    positions = [text.index(f"\n{name}\n{'-' * len(name)}\n") for name in EVENT_SIGNALS]
    assert positions == sorted(positions)
    for model in EVENT_MODELS.values():
        assert f"``flask_huggy.models.{model.__name__}``" in text
    assert text.count("**Deprecated by Huggy.**") == 2


def test_typed_classes_are_annotated_with_the_documented_types(generator: ModuleType) -> None:
    # The page's Type column comes from the schemas; the classes are written by
    # hand. This holds them together, for every field of every schema.
    wrong = []
    for schema in generator.all_schemas():
        annotations = {f.name: f.type for f in dataclasses.fields(schema.model)}
        for key, field in schema.fields.items():
            attribute, expected = snake_case(key), generator.annotation(field)
            if annotations.get(attribute) != expected:
                wrong.append(f"{schema.model.__name__}.{attribute}: {annotations.get(attribute)} != {expected}")
    assert wrong == []


def test_events_that_share_a_schema_have_classes_with_the_same_fields(generator: ModuleType) -> None:
    for name, model in EVENT_MODELS.items():
        schema_model = EVENT_SCHEMAS[name].model
        assert [f.name for f in dataclasses.fields(model)] == [f.name for f in dataclasses.fields(schema_model)]


def test_every_event_of_huggys_docs_is_in_the_catalog_in_huggys_words(generator: ModuleType) -> None:
    # The rows of the docs' event table, copied word for word from
    # ../shared/huggy-webhook-docs.txt so that the suite stands on its own. It is a
    # transcript of Huggy's docs, not a list of ours: it changes when Huggy's docs do,
    # never when an event is added here.
    rows = HUGGY_EVENT_TABLE.read_text(encoding="utf-8").splitlines()
    table = [row for row in rows if not row.startswith("#")]
    for row in table:
        name = next(name for name in generator.DESCRIPTIONS if row.startswith(name) and row[len(name)].isupper())
        portuguese, _ = generator.DESCRIPTIONS[name]
        assert row == f"{name}{portuguese}"  # the table row: name and description run together
    assert len(table) == len(set(table))


def test_every_field_of_every_class_has_its_meaning_in_a_comment(generator: ModuleType) -> None:
    for schema in generator.all_schemas():
        for key in schema.fields:
            assert generator.meaning(schema, key)
    with pytest.raises(LookupError, match="add a #: comment"):
        generator.meaning(schema_for(Undocumented), "mood")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Undocumented(HuggyObject):
    mood: str | None = None
