"""What ``import flask_huggy`` costs over ``import flask``, by ``python -X importtime``.

Each run is a fresh interpreter, ``python -X importtime -c "import <module>"``;
the figure read is the cumulative time of the module's own top-level line (its
whole import, Flask's included for flask_huggy). Runs of ``flask`` and of
``flask_huggy`` alternate, after one untimed run of each (which also writes the
``.pyc`` files), so that a machine slowing down costs both the same. Printed: the
median of each, the difference ("cost over flask", the figure of issue 20, point
8: at most 0.1 s) and the ratio; the slowest parts of ``import flask_huggy``
(median cumulative time of each module it imported, nested as imported); and
whether it loaded any of the modules that must wait until they are used (the
Celery glue, Celery, kombu, requests).

This is a measurement, not a test: nothing asserts. Run from the repository root::

    .venv/bin/python bench/import_cost.py                     # 20 runs each, ~30 s
    .venv/bin/python bench/import_cost.py --runs 40 --package /tmp/old   # another checkout
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Modules ``import flask_huggy`` must not load: they are imported where they are used.
DEFERRED = ("flask_huggy.celery", "celery", "kombu", "requests")
#: Issue 20, point 8: seconds ``import flask_huggy`` may cost over ``import flask``.
BUDGET = 0.1

_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")


@dataclass(frozen=True)
class Entry:
    """One ``-X importtime`` line: a module, how deep it was imported, its cumulative microseconds."""

    module: str
    depth: int
    cumulative_us: int


def import_tree(module: str, env: dict[str, str], cwd: Path) -> list[Entry]:
    """The import lines of ``import module`` in a fresh interpreter, ending with the module's own line.

    ``-X importtime`` also logs the interpreter's start-up imports; those come
    before, at depth 0, and are left out.
    """
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    entries = []
    for line in run.stderr.splitlines():
        found = _LINE.match(line)
        if found:
            _, cumulative, indent, name = found.groups()
            entries.append(Entry(name, (len(indent) - 1) // 2, int(cumulative)))
    end = max(i for i, e in enumerate(entries) if e.module == module and e.depth == 0)
    start = max((i for i in range(end) if entries[i].depth == 0), default=-1) + 1
    return entries[start : end + 1]


def loaded_modules(env: dict[str, str], cwd: Path) -> list[str]:
    """Which of :data:`DEFERRED` ``import flask_huggy`` left in ``sys.modules``."""
    code = f"import sys, flask_huggy; print(' '.join(m for m in {DEFERRED!r} if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return run.stdout.split()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each import (default: %(default)s)")
    parser.add_argument("--top", type=int, default=15, help="slowest modules to show (default: %(default)s)")
    parser.add_argument(
        "--package",
        type=Path,
        default=REPO_ROOT,
        metavar="DIR",
        help="import flask_huggy from DIR/flask_huggy, e.g. an older checkout (default: this checkout)",
    )
    args = parser.parse_args(argv)
    root = args.package.resolve()
    if not (root / "flask_huggy" / "__init__.py").is_file():
        parser.error(f"--package {root}: no flask_huggy/__init__.py there")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))

    for module in ("flask", "flask_huggy"):  # untimed: .pyc files, disk cache
        import_tree(module, env, root)
    totals: dict[str, list[int]] = {"flask": [], "flask_huggy": []}
    parts: dict[tuple[int, str], list[int]] = defaultdict(list)
    for _ in range(args.runs):
        for module in ("flask", "flask_huggy"):
            tree = import_tree(module, env, root)
            totals[module].append(tree[-1].cumulative_us)
            if module == "flask_huggy":
                for entry in tree[:-1]:
                    parts[(entry.depth, entry.module)].append(entry.cumulative_us)

    flask_s = statistics.median(totals["flask"]) / 1e6
    huggy_s = statistics.median(totals["flask_huggy"]) / 1e6
    print(f"flask_huggy from {root}; Python {sys.version.split()[0]}; {args.runs} runs of each, alternating")
    print(f"  import flask         median {flask_s:.3f} s  (min {min(totals['flask']) / 1e6:.3f})")
    print(f"  import flask_huggy   median {huggy_s:.3f} s  (min {min(totals['flask_huggy']) / 1e6:.3f})")
    cost = huggy_s - flask_s
    verdict = "within" if cost <= BUDGET else "OVER"
    print(
        f"  cost over flask      {cost:.3f} s ({verdict} the {BUDGET:g} s budget); "
        f"flask_huggy/flask {huggy_s / flask_s:.2f}x"
    )

    print(f"\nslowest imports under flask_huggy: median cumulative ms over {args.runs} runs, nesting depth")
    common = {key: values for key, values in parts.items() if len(values) * 2 > args.runs}
    for depth, module in sorted(common, key=lambda key: statistics.median(common[key]), reverse=True)[: args.top]:
        print(f"  {statistics.median(common[(depth, module)]) / 1000:8.1f}  {depth:5d}  {module}")

    loaded = loaded_modules(env, root)
    print(f"\nloaded by import flask_huggy, of {', '.join(DEFERRED)}: {', '.join(loaded) if loaded else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
