"""The ``wess`` command line (placeholder until the core CLI lands)."""

import click


@click.group()
def cli() -> None:
    """WESS: keep a CRM and Microsoft Exchange in step."""


def main() -> None:
    cli()
