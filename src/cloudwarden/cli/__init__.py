"""Typer commands. Thin: parse, call one public function, print."""
