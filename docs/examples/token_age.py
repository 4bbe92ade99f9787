"""docs/cli.rst's command of its own: ``flask huggy token-age``, given its endpoint by ``pass_endpoint``."""

from __future__ import annotations

import click

from flask_huggy import Huggy
from flask_huggy.cli import pass_endpoint
from flask_huggy.endpoint import Endpoint

huggy = Huggy()


@huggy.blueprint.cli.command("token-age")  # or flask_huggy.blueprint.cli
@pass_endpoint
def token_age(endpoint: Endpoint) -> None:
    """When this endpoint last answered Huggy's handshake."""
    click.echo(f"{endpoint.name}: {endpoint.handshake_at or 'never'}")
