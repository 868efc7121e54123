"""`python -m core COMMAND ...`: the command line over the core library.

Each command lives in `core/commands/<name>.py` and exposes `HELP` (one line),
`add_arguments(parser)` and `run(args) -> int`. Errors meant for people
(`DiffChatError`) are printed without a stack trace and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from core.errors import DiffChatError

COMMANDS = ("rewrite", "generate", "edit", "ci", "evaluate")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with one sub-parser per command module."""
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="DiffChat core: rewrite prompts, render and edit images, score them.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"core.commands.{name}")
        sub = subparsers.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def accept_interrupts() -> None:
    """Let SIGINT raise KeyboardInterrupt even where this process started with it ignored.

    A process started from a background job (`make run &`, `nohup ... &`) inherits SIGINT
    ignored, and so do its children: the app's Stop sends the training or evaluation child
    SIGINT so that it saves its checkpoint, and such a child would go on until SIGTERM.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: list[str] | None = None) -> int:
    """Parse `argv`, run the command and return its exit status."""
    accept_interrupts()
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except DiffChatError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
