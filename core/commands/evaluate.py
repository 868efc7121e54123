"""`python -m core evaluate`: score prompt-editing methods as in DiffChat Table 1."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.best_of_n import DEFAULT_WEIGHTS, parse_weights
from core.evaluate import METHODS, EvaluationConfig, run_evaluation
from core.scoring import SCORE_NAMES

HELP = "Render and score prompt-editing methods over a JSONL or CSV data set (DiffChat Table 1)."


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="JSONL or CSV with raw_prompt, instruction, target_prompt",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (rerun to resume)")
    parser.add_argument(
        "--methods",
        type=_names,
        default=("diffchat", "append", "instructpix2pix"),
        help=f"comma-separated, from: {','.join(METHODS)}",
    )
    parser.add_argument(
        "--tis-models",
        type=_names,
        default=("sd15",),
        help="comma-separated registry names (tiny-sd offline)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every raw and target image")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N rows")
    parser.add_argument(
        "--tiny-scorers",
        action="store_true",
        help="score with tiny random-weight twins (meaningless numbers; tests the pipeline)",
    )
    parser.add_argument(
        "--rewriter", default=None, help="rewriter of the diffchat/best-of-n methods"
    )
    parser.add_argument(
        "--ip2p-model", default=None, help="InstructPix2Pix model (default by TIS model)"
    )
    parser.add_argument("--num-inference-steps", type=int, default=25)
    parser.add_argument("--guidance-scale", type=float, default=7.5)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument(
        "--batch-size", type=int, default=8, help="examples rendered and scored together"
    )
    parser.add_argument(
        "--best-of-n", type=int, default=4, help="candidates of the best-of-n method"
    )
    parser.add_argument(
        "--weights",
        type=parse_weights,
        default=",".join(f"{name}={weight:g}" for name, weight in DEFAULT_WEIGHTS.items()),
        help="best-of-n score mix, NAME=WEIGHT,...",
    )
    parser.add_argument(
        "--scores",
        type=_names,
        default=SCORE_NAMES,
        help=f"comma-separated, from: {','.join(SCORE_NAMES)}",
    )
    parser.add_argument(
        "--on-bad-row",
        choices=("stop", "skip"),
        default="stop",
        help="a malformed data line stops the run, or is reported and skipped",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    config = EvaluationConfig(
        data=args.data,
        out=args.out,
        methods=args.methods,
        tis_models=args.tis_models,
        seed=args.seed,
        limit=args.limit,
        tiny_scorers=args.tiny_scorers,
        rewriter=args.rewriter,
        ip2p_model=args.ip2p_model,
        num_inference_steps=args.num_inference_steps,
        guidance_scale=args.guidance_scale,
        width=args.width,
        height=args.height,
        batch_size=args.batch_size,
        best_of_n=args.best_of_n,
        best_of_n_weights=args.weights,
        scores=args.scores,
        skip_bad_rows=args.on_bad_row == "skip",
    )
    summary = run_evaluation(config, progress=not args.no_progress)
    print((args.out / "summary.md").read_text())
    print(
        f"wrote {args.out}/examples.csv, summary.md, summary.json and {', '.join(summary['plots'])}"
    )
    return 0
