"""Images scored per second, batched vs one by one, with the full-size scorer models.

No download: each scorer's real architecture is built with random weights (speed does not
depend on the weight values), saved to a temporary folder, and loaded by the scorer classes
through their normal loading code, exactly as the tiny twins are (`core.scoring`): only the
paths differ.

| score | architecture |
| --- | --- |
| pickscore | transformers CLIPModel, laion/CLIP-ViT-H-14-laion2B-s32B-b79K config |
| aesthetic | open_clip ViT-L-14 + the LAION MLP |
| hps | open_clip ViT-H-14, loaded from a saved checkpoint as HPS v2 is |
| clip_score, directional_clip | transformers CLIPModel, openai/clip-vit-large-patch14 config |

Images are 512x512 (what SD 1.5 renders), so every row includes the CPU preprocessing
(resize, crop, normalise) the scorers do; the last table times that part alone. On a GPU a
further table compares fp32 (what the scorers use) with bf16 autocast.

On a GPU machine: `python bench/scoring_full_size.py --out FILE.md`, then copy FILE.md to
bench/results/scoring_full_size_gpu.md. On this project's CPU machines:
`python bench/scoring_full_size.py --device cpu --images 8 --batch-sizes 1 8 --repeats 1
--out bench/results/scoring_full_size_cpu.md` (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The CLIP tokenizer is written under DIFFCHAT_HOME; keep it out of the user's cache.
os.environ.setdefault("DIFFCHAT_HOME", tempfile.mkdtemp(prefix="diffchat-bench-"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from bench.__main__ import machine_description  # noqa: E402
from core.assets.tiny_scorers import OPENAI_MEAN, OPENAI_STD  # noqa: E402
from core.scoring import SCORE_NAMES, SCORERS, EditContext  # noqa: E402
from core.scoring.base import DEFAULT_BATCH_SIZE  # noqa: E402


def hf_clip_config(text: tuple, vision: tuple, projection_dim: int, act: str):
    """Return a CLIPConfig; `text`, `vision` = (hidden, layers, heads, intermediate)."""
    from transformers import CLIPConfig

    def tower(hidden, layers, heads, intermediate):
        return {
            "hidden_size": hidden,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "intermediate_size": intermediate,
            "hidden_act": act,
        }

    text_config = tower(*text) | {
        "vocab_size": 49408,
        "max_position_embeddings": 77,
        "bos_token_id": 49406,
        "eos_token_id": 49407,
        "pad_token_id": 49407,
    }
    vision_config = tower(*vision) | {"image_size": 224, "patch_size": 14}
    return CLIPConfig(
        text_config=text_config, vision_config=vision_config, projection_dim=projection_dim
    )


# Values from the two hub repos' config.json files.
PICKSCORE_CONFIG = dict(
    text=(1024, 24, 16, 4096), vision=(1280, 32, 16, 5120), projection_dim=1024, act="gelu"
)
CLIP_L_CONFIG = dict(
    text=(768, 12, 12, 3072), vision=(1024, 24, 16, 4096), projection_dim=768, act="quick_gelu"
)


def save_hf_clip(folder: Path, device: str, **config) -> Path:
    """Save a random-weight CLIPModel + a 224-pixel CLIPProcessor to `folder`."""
    from transformers import CLIPImageProcessor, CLIPModel, CLIPProcessor

    from core.assets.clip_vocab import load_clip_tokenizer

    with torch.device(device):  # initialising on a GPU takes seconds, not a minute
        model = CLIPModel(hf_clip_config(**config))
    model.save_pretrained(folder, safe_serialization=True)
    del model
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": 224},
        crop_size={"height": 224, "width": 224},
        image_mean=list(OPENAI_MEAN),
        image_std=list(OPENAI_STD),
    )
    CLIPProcessor(image_processor=image_processor, tokenizer=load_clip_tokenizer()).save_pretrained(
        folder
    )
    return folder


def save_open_clip_checkpoint(path: Path, architecture: str, device: str) -> Path:
    """Save a random-weight open_clip `architecture` state dict as safetensors."""
    import open_clip
    from safetensors.torch import save_file

    model = open_clip.create_model(architecture, pretrained=None, device=device)
    # safetensors refuses shared or non-contiguous storage; clone every tensor.
    state = {key: value.detach().clone().contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(path))
    return path


def save_aesthetic_mlp(path: Path) -> Path:
    from safetensors.torch import save_file

    from core.scoring.aesthetic import build_aesthetic_mlp

    save_file(build_aesthetic_mlp(768).state_dict(), str(path))
    return path


def scorer_arguments(folder: Path, device: str) -> dict[str, dict]:
    """Build the random-weight models once and return each scorer's constructor arguments."""
    pickscore = save_hf_clip(folder / "pickscore", device, **PICKSCORE_CONFIG)
    clip_l = save_hf_clip(folder / "clip-l", device, **CLIP_L_CONFIG)
    return {
        "pickscore": {"model_id": str(pickscore), "processor_id": str(pickscore)},
        "aesthetic": {
            "clip_model": "ViT-L-14",
            "clip_pretrained": None,
            "mlp_weights": str(save_aesthetic_mlp(folder / "aesthetic_mlp.safetensors")),
        },
        "hps": {
            "model_name": "ViT-H-14",
            "checkpoint": str(
                save_open_clip_checkpoint(folder / "hps.safetensors", "ViT-H-14", device)
            ),
        },
        "clip_score": {"model_id": str(clip_l)},
        "directional_clip": {"model_id": str(clip_l)},
    }


def images_per_second(scorer, images, prompts, edits, repeats: int) -> float:
    """Median images per second of `scorer.score` over all images (after one warm-up call)."""
    scorer.score(images, prompts, edits)  # warm-up: first kernels, allocator
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        scorer.score(images, prompts, edits)  # returns Python floats: the GPU has finished
        seconds.append(time.perf_counter() - start)
    return len(images) / statistics.median(seconds)


def preprocessing_rows(images, pickscore_folder: Path, repeats: int) -> list[tuple[str, float]]:
    """Images per second of the CPU preprocessing alone, for both preprocessing paths."""
    import open_clip
    from transformers import CLIPProcessor

    # What open_clip.create_model_and_transforms gives every 224-pixel model here.
    open_clip_transform = open_clip.image_transform(224, False, OPENAI_MEAN, OPENAI_STD)
    processor = CLIPProcessor.from_pretrained(pickscore_folder)
    calls = {
        "open_clip transform, one image at a time (aesthetic, HPS)": lambda: [
            open_clip_transform(image) for image in images
        ],
        "CLIPImageProcessor on the whole list (PickScore, CLIP-S, D-CLIP-S)": lambda: processor(
            images=images, return_tensors="pt"
        ),
    }
    rows = []
    for name, call in calls.items():
        call()
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            seconds.append(time.perf_counter() - start)
        rows.append((name, len(images) / statistics.median(seconds)))
    return rows


def bf16_autocast_rows(scorers, images, prompts, edits, repeats) -> list[str]:
    """Table rows: fp32 vs bf16 autocast images per second at the default batch size (GPU)."""
    rows = []
    for name, scorer in scorers.items():
        scorer.batch_size = DEFAULT_BATCH_SIZE
        fp32 = images_per_second(scorer, images, prompts, edits, repeats)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            bf16 = images_per_second(scorer, images, prompts, edits, repeats)
        rows.append(f"| {name} | {fp32:.1f} | {bf16:.1f} | {bf16 / fp32:.2f}x |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="Markdown file to write")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    on_gpu = args.device == "cuda"
    torch.backends.cuda.matmul.allow_tf32 = False  # the scorers' default: plain fp32

    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8))
        for _ in range(args.images)
    ]
    prompts = [
        f"a watercolor painting of lighthouse number {i} on a cliff at sunset, dramatic sky"
        for i in range(args.images)
    ]
    edits = [
        EditContext("a lighthouse", "make it a watercolor", prompt, images[-1 - i])
        for i, prompt in enumerate(prompts)
    ]

    folder = Path(tempfile.mkdtemp(prefix="scorers-full-size-"))
    print(f"building random-weight models in {folder}", flush=True)
    arguments = scorer_arguments(folder, args.device)
    device = torch.cuda.get_device_name(0) if on_gpu else machine_description()
    header = " | ".join(f"batch {size} (img/s)" for size in args.batch_sizes)
    first, last = args.batch_sizes[0], args.batch_sizes[-1]
    lines = [
        f"## scoring_full_size: images scored per second, full-size models, {args.device}",
        "",
        f"Device: {device}; transformers {__import__('transformers').__version__}, "
        f"open_clip {__import__('open_clip').__version__}. Random weights, real architectures; "
        f"fp32 as the scorers load them. {args.images} images of 512x512 per call, median of "
        f"{args.repeats} calls after a warm-up; CPU preprocessing included. "
        "`python bench/scoring_full_size.py`.",
        "",
        f"| score | {header} | batch {last} vs {first} |",
        "| --- | " + "--- | " * len(args.batch_sizes) + "--- |",
    ]
    autocast_rows = []
    for name in SCORE_NAMES:
        if name == "content_integrity":
            continue  # text only, no model: nothing to batch
        scorer = SCORERS[name](device=args.device, **arguments[name])
        rates = []
        for batch_size in args.batch_sizes:
            scorer.batch_size = batch_size  # the same loaded model for every batch size
            rates.append(images_per_second(scorer, images, prompts, edits, args.repeats))
        cells = " | ".join(f"{rate:.1f}" for rate in rates)
        lines.append(f"| {name} | {cells} | {rates[-1] / rates[0]:.2f}x |")
        print(lines[-1], flush=True)
        if on_gpu:
            autocast_rows += bf16_autocast_rows(
                {name: scorer}, images, prompts, edits, args.repeats
            )
            del scorer
            torch.cuda.empty_cache()

    if autocast_rows:
        lines += [
            "",
            f"### fp32 vs bf16 autocast, batch {DEFAULT_BATCH_SIZE} (the default)",
            "",
            "Autocast is not what the scorers do; this shows what it would buy.",
            "",
            "| score | fp32 (img/s) | bf16 autocast (img/s) | bf16 vs fp32 |",
            "| --- | --- | --- | --- |",
            *autocast_rows,
        ]
    lines += [
        "",
        "### CPU preprocessing alone (the ceiling for batched scoring)",
        "",
        "| preprocessing | img/s |",
        "| --- | --- |",
    ]
    rows = preprocessing_rows(images, folder / "pickscore", args.repeats)
    lines += [f"| {name} | {rate:.1f} |" for name, rate in rows]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
