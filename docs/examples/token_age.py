"""docs/cli.rst's command of its own: ``flask huggy token-age``, given its endpoint by ``pass_endpoint``."""

from __future__ import annotations

import click

from flask_huggy.cli import cli, pass_endpoint
from flask_huggy.endpoint import Endpoint


@cli.command("token-age")
@pass_endpoint
def token_age(endpoint: Endpoint) -> None:
    """When this endpoint last answered Huggy's handshake."""
    click.echo(f"{endpoint.name}: {endpoint.handshake_at or 'never'}")
