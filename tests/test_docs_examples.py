"""The documentation's code examples run: docs/examples/ is imported and its tests are run here.

Every example in the docs is a doctest (run by ``sphinx-build -b doctest``) or a
``literalinclude`` of a file under docs/examples/, exercised below.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import click
import pytest

from flask_huggy.cli import cli
from flask_huggy.endpoint import get_endpoint
from flask_huggy.testing import FakeHuggyAPI, build_event, post_delivery

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"


@pytest.fixture
def examples_on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    yield
    for name in ("shop", "myapp", "myapp.worker", "token_age"):
        sys.modules.pop(name, None)


def test_the_quickstart_app_runs_its_receivers_on_a_delivery(examples_on_path: None) -> None:
    from shop import create_app

    with FakeHuggyAPI() as huggy_api:
        app = create_app(
            {"HUGGY_WEBHOOK_TOKEN": "secret", "HUGGY_API_TOKEN": huggy_api.token, "HUGGY_API_URL": huggy_api.url}
        )
        chat = huggy_api.add_chat(9)
        response = post_delivery(
            app.test_client(), ("closedChat", {"id": 7}), build_event("receivedMessage", chat_id=9)
        )

    assert response.get_json() == {"status": "accepted", "events": 2, "invalid": 0, "duplicates": 0}
    assert app.extensions["closed_chats"] == [7]
    assert [m["text"] for m in huggy_api.messages_of(chat["id"])] == ["Recebido! Um agente já vai te atender."]


class Included(NamedTuple):
    """A ``literalinclude`` of a docs page: the file, the caption it is shown under, the lines shown."""

    page: str
    target: Path
    caption: str | None
    shown: str


def literalincludes(page: Path) -> Iterator[Included]:
    directive = r"^\.\. literalinclude:: (\S+)\n((?:   +:\w+:.*\n)*)"
    for match in re.finditer(directive, page.read_text(encoding="utf-8"), re.M):
        options = dict(re.findall(r":(\w+): *(.*)", match.group(2)))
        target = (page.parent / match.group(1)).resolve()
        lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
        first, _, last = options.get("lines", "1-").partition("-")  # Sphinx's "N-" and "N-M", from 1
        shown = "".join(lines[int(first) - 1 : int(last) if last else None])
        yield Included(page.name, target, options.get("caption"), shown)


def test_every_caption_names_the_file_it_shows() -> None:
    captioned = [i for page in sorted(DOCS.glob("*.rst")) for i in literalincludes(page) if i.caption]
    assert captioned, "the docs caption no example"
    assert [(i.page, i.caption) for i in captioned if i.target != (EXAMPLES / i.caption).resolve()] == []


def test_the_quickstart_runs_as_a_reader_saves_it_the_lines_shown_under_the_names_shown(
    pytester: pytest.Pytester,
) -> None:
    # A reader copies what the page shows into files named as the captions say, then runs pytest.
    shown = {i.caption: i.shown for i in literalincludes(DOCS / "quickstart.rst") if i.caption}
    assert sorted(shown) == ["conftest.py", "shop.py", "test_shop.py"]
    for name, text in shown.items():
        (pytester.path / name).write_text(text, encoding="utf-8")

    # In-process; Hypothesis's plugin left out: it would import all of Hypothesis again at the end.
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest")

    result.assert_outcomes(passed=6)


def test_a_command_of_your_own_gets_its_endpoint(examples_on_path: None) -> None:
    import token_age  # noqa: F401  - registers `flask huggy token-age`
    from flask import Flask

    from flask_huggy import Huggy

    app = Flask("shop")
    Huggy(app)
    result = app.test_cli_runner().invoke(cli, ["token-age"])

    assert (result.exit_code, result.output) == (0, "huggy: never\n")


def code_blocks(text: str) -> Iterator[tuple[str, str]]:
    """Each ``code-block``/``code``/``sourcecode`` directive of an RST text: its language and its code."""
    for match in re.finditer(r"^( *)\.\. (?:code-block|code|sourcecode)::(.*)\n((?:\1 +.*\n|\s*\n)*)", text, re.M):
        body = textwrap.dedent(
            "\n".join(line for line in match.group(3).splitlines() if not line.strip().startswith(":"))
        )
        yield match.group(2).strip(), body.strip("\n")


def test_the_docs_pages_show_python_only_as_doctests_or_included_examples() -> None:
    text_only = [
        f"{page.name}: {language} {code[:60]!r}"
        for page in sorted(DOCS.glob("*.rst"))
        for language, code in code_blocks(page.read_text(encoding="utf-8"))
    ]
    assert text_only == []


def test_readmes_python_is_cut_from_the_examples_the_tests_run() -> None:
    # PyPI renders README without Sphinx, so its code is a copy: of run code, word for word.
    examples = "\n".join(path.read_text(encoding="utf-8") for path in EXAMPLES.rglob("*.py"))
    blocks = list(code_blocks((ROOT / "README.rst").read_text(encoding="utf-8")))
    assert blocks, "README shows no code"
    assert [code for _, code in blocks if code not in examples] == []


def test_the_celery_example_queues_and_its_worker_runs_the_receivers(examples_on_path: None) -> None:
    pytest.importorskip("celery")
    from myapp import create_app

    app = create_app({"HUGGY_WEBHOOK_TOKEN": "secret", "HUGGY_DEDUP": "memory"})
    celery = app.extensions["celery"]
    celery.conf.task_always_eager = True  # the worker's run, in this process (no broker)
    response = post_delivery(app.test_client(), ("closedChat", {"id": 9}))

    assert response.get_json() == {"status": "queued", "events": 1}
    assert app.extensions["closed_chats"] == [9]
    assert get_endpoint(app).queue is not None  # given celery=, the webhook queues


def test_every_literalinclude_names_an_example_that_exists() -> None:
    included = [
        (page.name, target)
        for page in DOCS.glob("*.rst")
        for target in re.findall(r"\.\. literalinclude:: (\S+)", page.read_text(encoding="utf-8"))
    ]
    assert included, "the docs include no example"
    assert [(page, target) for page, target in included if not (DOCS / target).resolve().is_file()] == []


def cli_reference() -> click.Group:
    spec = importlib.util.spec_from_file_location("cli_reference", DOCS / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    group: click.Group = module.huggy
    return group


def documented_command_lines() -> list[tuple[str, str]]:
    """Every ``flask huggy ...`` command line shown in the docs and READMEs, as (where, line)."""
    pages = [*sorted(DOCS.glob("*.rst")), ROOT / "README.rst", ROOT / "example_app" / "README.rst"]
    found = []
    for page in pages:
        for line in page.read_text(encoding="utf-8").splitlines():
            match = re.search(r"flask (?:--app \S+ )?huggy (.*)$", line)
            if match and line.startswith("    ") and "[" not in match.group(1):
                command = re.split(r"\s[|>]\s", match.group(1))[0]
                found.append((page.name, command.strip().rstrip("`")))
    return found


def test_every_command_line_in_the_docs_parses_with_the_commands_as_they_are() -> None:
    # A renamed option or event would leave a command in the docs that fails when pasted.
    group = cli_reference()
    lines = documented_command_lines()
    assert len(lines) >= 10, lines
    wrong = []
    for where, line in lines:
        name, *args = shlex.split(line)
        try:
            if name.startswith("-"):
                group.make_context("huggy", [name, *args])  # --help exits through click.exceptions.Exit
            else:
                command = group.get_command(click.Context(group), name)
                assert command is not None, f"no command {name!r}"
                command.make_context(name, args)
        except click.exceptions.Exit as done:
            if done.exit_code:
                wrong.append(f"{where}: flask huggy {line}: exit {done.exit_code}")
        except (AssertionError, click.ClickException) as error:
            wrong.append(f"{where}: flask huggy {line}: {error}")
    assert wrong == []


def test_the_example_apps_readme_shows_its_code_word_for_word() -> None:
    # GitHub shows this README without Sphinx, so its code is a copy: of the app's own code.
    source = "\n".join(path.read_text(encoding="utf-8") for path in sorted((ROOT / "example_app").rglob("*.py")))
    blocks = list(code_blocks((ROOT / "example_app" / "README.rst").read_text(encoding="utf-8")))
    assert blocks
    assert [code for _, code in blocks if not is_excerpt(code, source)] == []


def is_excerpt(code: str, source: str) -> bool:
    """Whether ``code`` is consecutive lines of ``source``, at any one indentation."""
    first = code.splitlines()[0]
    lines = source.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == first.strip():
            indent = line[: len(line) - len(line.lstrip())]
            window = lines[i : i + len(code.splitlines())]
            if textwrap.dedent("\n".join(window)) == code and all(
                not w.strip() or w.startswith(indent) for w in window
            ):
                return True
    return False
