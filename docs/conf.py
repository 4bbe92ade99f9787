"""Sphinx configuration for flask-huggy's documentation.

Build it (warnings fail, as in CI) and run its examples::

    .venv/bin/pip install -q -e '.[docs]'
    .venv/bin/sphinx-build -W --keep-going -n -b html docs docs/_build/html
    .venv/bin/sphinx-build -W --keep-going -n -b doctest docs docs/_build/doctest

The events and configuration tables are generated from the code at build time
(``docs/generate_events.py``, ``docs/generate_settings.py``) into ``docs/_generated/``,
which is not committed: the pages cannot be stale.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))  # cli_reference, for sphinx-click
# The checkout these pages belong to, before an installed (or another worktree's editable) flask_huggy.
sys.path.insert(1, str(DOCS.parent))

from flask_huggy import __version__  # noqa: E402

project = "flask-huggy"
copyright = "flask-huggy's authors"
author = "flask-huggy's authors"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx_click",
]

# furo: a maintained, general-purpose theme with search, dark mode and a layout
# that works on a phone; pallets-sphinx-themes is styled for the Pallets
# projects themselves (their logos, version banners, click domain).
html_theme = "furo"
html_title = f"flask-huggy {release}"

exclude_patterns = ["_build", "_generated", "examples"]
nitpicky = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True

# No intersphinx: CI builds offline. Types of other libraries stay plain text.
nitpick_ignore_regex = [
    (
        "py:class",
        r"(flask|werkzeug|blinker|click|marshmallow|requests|pytest|_pytest|datetime|zoneinfo|"
        r"collections\.abc|typing|types|ipaddress|celery)\..*",
    ),
    (
        "py:class",
        r"(Flask|FlaskClient|TestResponse|NamedSignal|ZoneInfo|tzinfo|datetime|timedelta|Any|"
        r"Mapping|Sequence|Callable|Iterator|Iterable|TracebackType|IPNetwork|Blueprint|"
        r"NoneType|Response|Config|Exception|BaseException|Endpoint)",
    ),
    ("py:data", r"(typing\.)?Any"),
    ("py:obj", r"typing\..*"),
    # Names of modules outside the public API (flask_huggy.__all__ and the modules
    # documented on api.rst) that docstrings mention: shown as code, not linked.
    ("py:mod", r"flask_huggy\.(catalog|schemas|samples|config|endpoint|aliases|once)"),
    ("py:(class|data)", r"flask_huggy\.(endpoint|config|aliases|extension|once)\..*"),
    ("py:mod", r"flask_huggy\.testing\.(builders|handshake|signals|fake_api)"),
    ("py:attr", r"flask_huggy\.endpoint\..*"),
    ("py:data", r"CLAIMED|DONE|BUSY"),
    ("py:class", r"FieldPath|EventLike|MemoryStore|RedisStore"),
    # Type variables of signatures (pass_endpoint's ParamSpec and return type).
    ("py:class", r"~?(flask_huggy\.\w+\.)?_[A-Z]"),
]

doctest_global_setup = """
from flask import Flask
from flask_huggy import Huggy, signals
from flask_huggy.testing import build_delivery, build_event, post_delivery
"""


def _generator(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate_pages(app: Any) -> None:
    """Write the tables the events and configuration pages include, from the code as it is now."""
    for name in ("generate_events", "generate_settings"):
        _generator(name).write(DOCS / "_generated")


def setup(app: Any) -> None:
    app.connect("builder-inited", generate_pages)


# Channel.type, File.type and FormQuestion.type are documented attributes: a bare ``type``
# in a signature (``type[BaseException]``) would match all three. It is the builtin.
suppress_warnings = ["ref.python"]
