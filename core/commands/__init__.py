"""One module per `python -m core` command (see core/cli.py)."""
