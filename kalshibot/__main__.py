"""`python -m kalshibot` runs the CLI."""

from kalshibot.cli.main import main

if __name__ == "__main__":
    main()
