"""Plausible one-line edits to ``flask_huggy/schemas/fields.py``, and the tests that catch each.

The walker (:mod:`flask_huggy.schemas.walker`) calls the fields' own code, so an
edit to a field changes the walker and marshmallow alike, and no equivalence test
can see it: what guards the fields is ``tests/test_coercion.py``, which pins each
field's answers type for type (its tables, and ``tests/field_answers.json``).
This script shows it does: for each edit it copies ``flask_huggy/`` and ``tests/``
to a temporary directory, applies the edit to the copy, runs pytest there, and
prints the tests that failed. It exits with 1 if an edit is caught by no test (or
no longer applies: fields.py changed, update the edit).

Run from the repository root (about a minute with the default selection, the table of field answers)::

    .venv/bin/python tests/mutations.py
    .venv/bin/python tests/mutations.py tests/test_coercion.py tests/test_walker.py   # more, slower
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIELDS = Path("flask_huggy/schemas/fields.py")
DEFAULT_TESTS = ["tests/test_coercion.py", "-k", "each_field"]

#: (what the edit does, the text in fields.py, what it becomes).
MUTATIONS: list[tuple[str, str, str]] = [
    (
        "Id refuses negative numbers",
        "        if isinstance(value, int):\n            return value\n",
        "        if isinstance(value, int) and value >= 0:\n            return value\n",
    ),
    ("Flag returns 1/0 instead of True/False", "            return bool(value)\n", "            return value\n"),
    (
        "Id keeps 5.0 as a float",
        "        if isinstance(value, float) and value.is_integer():\n            return int(value)\n",
        "        if isinstance(value, float) and value.is_integer():\n            return value\n",
    ),
    (
        "Id takes true/false for 1/0",
        '        if isinstance(value, bool):\n            raise self.make_error("invalid")\n'
        "        if isinstance(value, int):\n",
        "        if isinstance(value, int):\n",
    ),
    ("Id takes 31 digits", 're.compile(r"-?[0-9]{1,30}")', 're.compile(r"-?[0-9]{1,31}")'),
    ("Text keeps numbers as numbers", "                return str(value)\n", "                return value\n"),
    (
        "Timestamps in another UTC tzinfo (equal moments, not timezone.utc)",
        "                return moment.astimezone(timezone.utc)\n",
        '                return moment.astimezone(ZoneInfo("UTC"))\n',
    ),
    ("LooseMapping hands over the very dict sent", "            return dict(value)\n", "            return value\n"),
    (
        "Epoch milliseconds from 1e12 rather than 1e11",
        "if abs(value) >= 1e11 else value",
        "if abs(value) >= 1e12 else value",
    ),
    (
        "Local times take the later of a DST fold (and the other side of a gap)",
        "moment = moment.replace(tzinfo=_local_timezone.get())",
        "moment = moment.replace(tzinfo=_local_timezone.get(), fold=1)",
    ),
    (
        "The default zone is Recife (Brazil's time, without Sao Paulo's summers)",
        'default=ZoneInfo("America/Sao_Paulo")',
        'default=ZoneInfo("America/Recife")',
    ),
    (
        '"no" and "nao" are false',
        '_FALSE = frozenset({"0", "false", ""})',
        '_FALSE = frozenset({"0", "false", "", "no", "nao"})',
    ),
]


def failed_tests(source: str, tests: list[str]) -> list[str] | None:
    """The tests that fail with ``source`` as fields.py; None if they could not run."""
    with tempfile.TemporaryDirectory(prefix="huggy-mutant-") as tmp:
        for part in ("flask_huggy", "tests"):
            shutil.copytree(ROOT / part, Path(tmp) / part, ignore=shutil.ignore_patterns("__pycache__"))
        for config in ("setup.cfg", "pyproject.toml"):
            if (ROOT / config).exists():
                shutil.copy(ROOT / config, Path(tmp) / config)
        (Path(tmp) / FIELDS).write_text(source, encoding="utf-8")
        check = subprocess.run(
            [sys.executable, "-c", "import flask_huggy.schemas.fields as f; print(f.__file__)"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        if not check.stdout.startswith(tmp):  # the copy, not the installed package, must be under test
            return None
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", *tests],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        return [
            line.removeprefix("FAILED ").split(" - ")[0]
            for line in run.stdout.splitlines()
            if line.startswith("FAILED ")
        ]


def main(argv: list[str]) -> int:
    tests = argv or DEFAULT_TESTS
    original = (ROOT / FIELDS).read_text(encoding="utf-8")
    uncaught = 0
    baseline = failed_tests(original, tests)
    if baseline is None or baseline:
        print(f"the unchanged code does not pass cleanly: {baseline}")
        return 1
    for what, before, after in MUTATIONS:
        if original.count(before) != 1:
            print(f"[stale]   {what}: the text to edit is not in fields.py exactly once")
            uncaught += 1
            continue
        failed = failed_tests(original.replace(before, after), tests)
        if not failed:
            print(f"[MISSED]  {what}")
            uncaught += 1
            continue
        print(f"[caught]  {what}: {len(failed)} failed, e.g. {failed[0]}")
    return 1 if uncaught else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
