"""The ``flask huggy`` command group, built for sphinx-click (docs/cli.rst).

In an app the group is ``blueprint.cli`` and its commands are added when the CLI
first runs; here they are added to a plain group of the same name, the way the
blueprint adds them.
"""

from __future__ import annotations

import click

from flask_huggy.cli import register_commands

huggy = click.Group("huggy")
register_commands(huggy, blueprint="huggy", config_prefix="HUGGY_")
