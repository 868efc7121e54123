"""`python -m core edit`: one DiffChat edit of an image by an instruction, to a PNG."""

from __future__ import annotations

import argparse
import sys

from core.commands.generate import step_progress
from core.errors import InputError
from core.images import EDIT_MODES, EditRequest, edit
from core.png_metadata import read_parameters
from core.validation import check_instruction, load_user_image

HELP = (
    "Edit an image by an instruction: rewrite the prompt and re-render (rewrite), re-render "
    "keeping the composition (keep), or InstructPix2Pix (ip2p)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, help="input image (PNG/JPEG/WebP)")
    parser.add_argument(
        "--instruction", required=True, help="what to change, e.g. 'make it winter'"
    )
    parser.add_argument("--mode", choices=EDIT_MODES, default="rewrite", help="how to edit")
    parser.add_argument(
        "--prompt",
        default=None,
        help="the image's current prompt (rewrite/keep); read from the PNG metadata when absent",
    )
    parser.add_argument("--negative-prompt", default="", help="what to avoid")
    parser.add_argument("--rewriter", default=None, help="rewriter name; default: offline DiffChat")
    parser.add_argument("--model", default="sd15", help="text-to-image model (rewrite/keep)")
    parser.add_argument("--ip2p-model", default="instruct-pix2pix", help="model for --mode ip2p")
    parser.add_argument("--seed", type=int, default=None, help="default: the PNG's seed, else 0")
    parser.add_argument("--steps", type=int, default=25, help="denoising steps")
    parser.add_argument("--guidance-scale", type=float, default=7.5, help="s_T: text guidance")
    parser.add_argument(
        "--image-guidance-scale", type=float, default=1.5, help="s_I: image guidance (ip2p)"
    )
    parser.add_argument("--strength", type=float, default=0.6, help="keep: how much to re-noise")
    parser.add_argument("--out", required=True, help="output .png file")


def run(args: argparse.Namespace) -> int:
    checked = check_instruction(args.instruction)
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    image = load_user_image(args.image)
    stored = read_parameters(image) or {}
    # An image made by `python -m core generate` carries its prompt and seed: reuse them.
    prompt = args.prompt if args.prompt is not None else stored.get("prompt")
    seed = args.seed if args.seed is not None else int(stored.get("seed", 0))
    if args.mode != "ip2p" and not prompt:
        raise InputError(
            f"--mode {args.mode} rewrites the image's prompt: pass --prompt (the image has no "
            "stored prompt), or use --mode ip2p, which needs only the image."
        )
    request = EditRequest(
        image=image,
        instruction=checked.text,
        prompt=prompt or "",
        mode=args.mode,
        model=args.model,
        seed=seed,
        strength=args.strength,
        image_guidance_scale=args.image_guidance_scale,
        guidance_scale=args.guidance_scale,
        num_inference_steps=args.steps,
        negative_prompt=args.negative_prompt,
        rewriter=args.rewriter,
        ip2p_model=args.ip2p_model,
    )
    with step_progress(f"edit ({args.mode})") as progress:
        result = edit(request, progress=progress)
    path = result.save(args.out)
    if args.mode != "ip2p":
        print(f"target prompt: {result.target_prompt}")
    print(f"wrote {path} ({result.image.width}x{result.image.height}, seed {seed})")
    return 0
