"""The Typer command-line interface: thin commands that wire objects and render tables."""
