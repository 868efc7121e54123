"""`python -m core.assets fetch [--force] [--only STEP ...]`: install the offline model set."""

from __future__ import annotations

import argparse
import sys

from core.assets import STEPS, fetch_all
from core.errors import DiffChatError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.assets", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    fetch = sub.add_parser("fetch", help="install what is missing (idempotent)")
    fetch.add_argument("--force", action="store_true", help="rebuild even when present")
    fetch.add_argument("--only", nargs="+", choices=STEPS, default=list(STEPS), help="steps to run")
    args = parser.parse_args(argv)
    try:
        for line in fetch_all(force=args.force, steps=tuple(args.only)):
            print(line)
    except DiffChatError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
