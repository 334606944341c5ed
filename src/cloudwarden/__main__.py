"""`python -m cloudwarden` runs the CLI."""

from cloudwarden.cli.app import main

main()
