"""Load registry models and scorers by their real hub ids and use each once; print JSON lines.

Run by tests/test_local_hub.py in a child process, because huggingface_hub, diffusers and
transformers read HF_HOME / HF_ENDPOINT / HF_HUB_OFFLINE when they are imported:

    HF_HOME=... HF_HUB_OFFLINE=1 python tests/hub_sweep.py --models sd15 deliberate --scorers hps

Each line: {"name", "ok", ...details} or {"name", "ok": false, "error"}.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The tiny hub's open_clip models cannot fill the built-in ViT-L-14 / ViT-H-14 architectures,
# so these two read the architecture from the same hub repos' open_clip_config.json.
SCORER_OVERRIDES = {
    "aesthetic": {
        "clip_model": "hf-hub:timm/vit_large_patch14_clip_224.openai",
        "clip_pretrained": None,
    },
    "hps": {"model_name": "hf-hub:laion/CLIP-ViT-H-14-laion2B-s32B-b79K"},
}


def check_image_model(name: str) -> dict:
    from PIL import Image

    from core import pipelines
    from core.images import GenerationRequest, edit_with_instruct_pix2pix, generate
    from core.registry import generation_defaults, get_model_spec

    spec = get_model_spec(name)
    settings = pipelines.RuntimeSettings(device="cpu", dtype="float32")
    pipeline = pipelines.load_pipeline(name, settings)
    details = {
        "pipeline": type(pipeline).__name__,
        "scheduler": type(pipeline.scheduler).__name__,
        "safety_checker": type(getattr(pipeline, "safety_checker", None)).__name__,
        "unet_in_channels": pipeline.unet.config.in_channels,
    }
    if spec.kind == "instruct_pix2pix":
        image = Image.new("RGB", (64, 64), (200, 120, 40))
        result = edit_with_instruct_pix2pix(
            image, "make it blue", model=name, seed=1, num_inference_steps=2
        )
    else:
        defaults = generation_defaults(name)
        request = GenerationRequest(
            "a red house", model=name, seed=1, width=64, height=64,
            num_inference_steps=min(defaults["num_inference_steps"], 2),
            guidance_scale=defaults["guidance_scale"],
        )  # fmt: skip
        result = generate(request)
    details["size"] = list(result.image.size)
    details["distinct_colours"] = len(set(result.image.getdata()))
    if spec.base_model:
        details["lora_changed"] = modules_changed_by_lora(spec, pipeline, settings)
    return details


def modules_changed_by_lora(spec, pipeline, settings) -> list[str]:
    """Return the UNet modules whose fused weights differ from the base model's."""
    import torch

    from core import pipelines

    fused = {k: v.clone() for k, v in pipeline.unet.state_dict().items()}
    base = pipelines.load_pipeline(spec.base_model, settings)  # frees the LoRA model
    return sorted(
        {
            k.rsplit(".", 1)[0]
            for k, v in base.unet.state_dict().items()
            if not torch.equal(v, fused[k])
        }
    )


def check_captioner(name: str) -> dict:
    from PIL import Image

    from core.captioning import caption_image

    caption = caption_image(Image.new("RGB", (48, 48), (10, 200, 30)), model=name, max_new_tokens=5)
    return {"caption_type": type(caption).__name__}


def check_scorer(name: str) -> dict:
    from PIL import Image

    from core.scoring import SCORERS, EditContext

    scorer = SCORERS[name](device="cpu", **SCORER_OVERRIDES.get(name, {}))
    images = [Image.new("RGB", (40, 40), (200, 10, 10)), Image.new("RGB", (40, 40), (10, 10, 200))]
    prompts = ["a red square", "a blue square"]
    edits = [EditContext("a square", "make it red", raw_image=images[1])] * 2
    scores = scorer.score(images, prompts, edits if scorer.needs_edit_context else None)
    return {"scores": scores}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="*", default=[])
    parser.add_argument("--scorers", nargs="*", default=[])
    args = parser.parse_args()
    from core.registry import get_model_spec

    jobs = [(n, "model") for n in args.models] + [(n, "scorer") for n in args.scorers]
    failed = False
    for name, what in jobs:
        try:
            if what == "scorer":
                details = check_scorer(name)
            elif get_model_spec(name).kind == "captioner":
                details = check_captioner(name)
            else:
                details = check_image_model(name)
            line = {"name": name, "ok": True, **details}
        except Exception as error:  # report every failure, keep checking the others
            failed = True
            line = {"name": name, "ok": False, "error": f"{type(error).__name__}: {error}",
                    "trace": traceback.format_exc()[-2000:]}  # fmt: skip
        print(json.dumps(line), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
