"""The ``flask huggy`` command group, for sphinx-click (docs/cli.rst): the group the entry point names."""

from __future__ import annotations

from flask_huggy.cli import cli as huggy

__all__ = ["huggy"]
