"""`cloudwarden lab ...`: the embedded local AWS."""

from __future__ import annotations

import typer

app = typer.Typer(help="The embedded local AWS (moto server + CloudTrail recorder + demo organisation).",
                  no_args_is_help=True)
