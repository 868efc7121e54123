"""`python -m core ci`: the content-integrity score of one prompt."""

from __future__ import annotations

import json

from core.content_integrity import DEFAULT_THRESHOLD, content_integrity

HELP = "content-integrity score (DiffChat Listing 1) of --output against (--raw, --instruction, --target)"


def add_arguments(parser) -> None:
    parser.add_argument("--raw", required=True, help="x_o: the raw prompt before the edit")
    parser.add_argument("--instruction", required=True, help="i: the edit instruction")
    parser.add_argument("--target", required=True, help="y_o: the reference target prompt")
    parser.add_argument("--output", required=True, help="y: the prompt being judged")
    parser.add_argument(
        "--threshold", type=float, default=DEFAULT_THRESHOLD, help="scores below become 0"
    )
    parser.add_argument(
        "--json", action="store_true", help='print {"ci": thresholded, "ci_raw": raw}'
    )


def run(args) -> int:
    result = content_integrity(args.raw, args.instruction, args.target, args.output, args.threshold)
    if args.json:
        print(json.dumps({"ci": result.score, "ci_raw": result.raw}))
    else:
        print(
            f"CI {result.score:.3f} (before threshold {result.raw:.3f}, threshold {args.threshold})"
        )
    return 0
