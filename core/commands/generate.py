"""`python -m core generate`: render one prompt to a PNG (parameters in its metadata)."""

from __future__ import annotations

import argparse
import contextlib
import sys

from core.images import GenerationRequest, generate

HELP = "Render a text prompt to a PNG with a text-to-image model (same seed, same image)."


@contextlib.contextmanager
def step_progress(description: str):
    """Yield a `progress(step, total)` callback drawing a tqdm bar over denoising steps."""
    from tqdm import tqdm

    # The bar appears with the first step, so errors raised before denoising print alone.
    bar = None

    def progress(step: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(desc=description, unit="step", total=total, file=sys.stderr, leave=False)
        if bar.total != total:
            bar.reset(total=total)
        bar.n = step
        bar.refresh()

    try:
        yield progress
    finally:
        if bar is not None:
            bar.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", required=True, help="what to draw")
    parser.add_argument("--negative-prompt", default="", help="what to avoid")
    parser.add_argument(
        "--model", default="sd15", help="registry name (see docs/models.md) or local folder"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same image)")
    parser.add_argument("--steps", type=int, default=25, help="denoising steps")
    parser.add_argument(
        "--guidance-scale", type=float, default=7.5, help="classifier-free guidance"
    )
    parser.add_argument("--width", type=int, default=None, help="multiple of 8; model's default")
    parser.add_argument("--height", type=int, default=None, help="multiple of 8; model's default")
    parser.add_argument("--out", required=True, help="output .png file")


def run(args: argparse.Namespace) -> int:
    request = GenerationRequest(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        model=args.model,
        seed=args.seed,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance_scale,
        width=args.width,
        height=args.height,
    )
    with step_progress("generate") as progress:
        result = generate(request, progress=progress)
    path = result.save(args.out)
    print(f"wrote {path} ({result.image.width}x{result.image.height}, seed {args.seed})")
    return 0
