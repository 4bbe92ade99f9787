"""The ``flask huggy`` command group, built for sphinx-click (docs/cli.rst).

The commands are module-level click commands of :mod:`flask_huggy.cli`, shared by
every endpoint's group (``blueprint.cli``, filled when the CLI first runs); here they
are added to a plain group of the default endpoint's name, the way the blueprint
adds them.
"""

from __future__ import annotations

import click

from flask_huggy.cli import register_commands

huggy = click.Group("huggy")
register_commands(huggy, blueprint="huggy", config_prefix="HUGGY_")
