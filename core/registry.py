"""The model registry: one table naming every model DiffChat Studio can load.

Text-to-image (TIS) models, the InstructPix2Pix editor, the captioner and the prompt
rewriters all live in `MODELS`. A row says where the weights come from (a Hugging Face repo,
a single checkpoint file, or a folder of the offline set under `DIFFCHAT_HOME/models`);
loading is done elsewhere (`core/pipelines.py` for diffusers, `core/rewrite.py` for
rewriters). A local folder path is accepted wherever a name is, as a custom model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import UnknownModelError
from core.paths import assets_dir, models_dir

KINDS = ("text2image", "sdxl", "instruct_pix2pix", "captioner", "rewriter")
# Kinds that `core.images.generate` can render with (the TIS dropdown).
IMAGE_KINDS = ("text2image", "sdxl")


@dataclass(frozen=True)
class ModelSpec:
    """One row of the registry.

    `repo_id` is a Hugging Face repo (or None for local-only and API models). A model shipped
    only as one checkpoint file names it in `single_file` and borrows its pipeline layout
    (scheduler, tokenizer, configs) from `config_repo`. `local_path` returns the folder of an
    offline-set model; `offline` marks the models that `python -m core.assets fetch` installs.
    """

    name: str
    kind: str
    repo_id: str | None
    description: str
    single_file: str | None = None
    config_repo: str | None = None
    offline: bool = False
    local_path: Callable[[], Path] | None = None
    # The repo ships `*.fp16.safetensors` beside the fp32 files (loaded on GPU in fp16).
    fp16_variant: bool = False
    # A LoRA model: `repo_id`/`lora_file` is fused into the registry model `base_model`.
    base_model: str | None = None
    lora_file: str | None = None
    # The sampler the model was made for (a diffusers scheduler class) and its options.
    scheduler: str | None = None
    scheduler_options: tuple[tuple[str, object], ...] = ()
    # Recommended settings (the model card's), used by `generation_defaults`.
    num_inference_steps: int = 25
    guidance_scale: float = 7.5

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"model {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.single_file and not self.config_repo:
            raise ValueError(f"model {self.name!r}: a single-file model needs a config_repo")
        if bool(self.base_model) != bool(self.lora_file):
            raise ValueError(f"model {self.name!r}: a LoRA model needs base_model and lora_file")

    @property
    def few_step(self) -> bool:
        """True for distilled models that render in a handful of steps (drafts)."""
        return self.kind in IMAGE_KINDS and self.num_inference_steps <= 8

    @property
    def source(self) -> str:
        """Return where the weights come from, for messages and the UI."""
        if self.local_path is not None:
            return str(self.local_path())
        if self.single_file:
            return f"{self.repo_id}/{self.single_file}"
        return self.repo_id or "(no weights)"


def _in_models_dir(folder: str) -> Callable[[], Path]:
    # Resolved at call time: DIFFCHAT_HOME may change between import and use (tests do).
    return lambda: models_dir() / folder


SD15_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5"

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        # --- text-to-image (DiffChat section 4.1 renders with SD 1.5-family checkpoints)
        ModelSpec(
            "sd15",
            "text2image",
            SD15_REPO,
            "Stable Diffusion 1.5 (512x512), the paper's base TIS.",
            fp16_variant=True,
        ),
        ModelSpec(
            "deliberate",
            "text2image",
            "XpucT/Deliberate",
            "Deliberate v2, an SD 1.5 fine-tune shipped as one .safetensors file.",
            single_file="Deliberate_v2.safetensors",
            config_repo=SD15_REPO,
        ),
        ModelSpec(
            "dreamlike-photoreal",
            "text2image",
            "dreamlike-art/dreamlike-photoreal-2.0",
            "Dreamlike Photoreal 2.0, a photographic SD 1.5 fine-tune.",
        ),
        ModelSpec(
            "realistic-vision",
            "text2image",
            "SG161222/Realistic_Vision_V1.4",
            "Realistic Vision 1.4, a photographic SD 1.5 fine-tune (single .safetensors file).",
            # Its diffusers folders may hold only pickled .bin weights; the single file is safe.
            single_file="Realistic_Vision_V1.4.safetensors",
            config_repo=SD15_REPO,
        ),
        ModelSpec(
            "sdxl",
            "sdxl",
            "stabilityai/stable-diffusion-xl-base-1.0",
            "Stable Diffusion XL base 1.0 (1024x1024, two text encoders).",
            fp16_variant=True,
        ),
        # --- few-step drafts: distilled models for CPUs and quick iteration
        ModelSpec(
            "sd-turbo",
            "text2image",
            "stabilityai/sd-turbo",
            "SD-Turbo (512x512): adversarially distilled SD 2.1, 1-4 steps, no guidance.",
            fp16_variant=True,
            num_inference_steps=1,
            guidance_scale=0.0,
        ),
        ModelSpec(
            "lcm-sd15",
            "text2image",
            "latent-consistency/lcm-lora-sdv1-5",
            "SD 1.5 with the LCM-LoRA: 4-8 steps with the LCM scheduler, guidance 1-2.",
            base_model="sd15",
            lora_file="pytorch_lora_weights.safetensors",
            scheduler="LCMScheduler",
            num_inference_steps=4,
            guidance_scale=1.0,
        ),
        ModelSpec(
            "lcm-sdxl",
            "sdxl",
            "latent-consistency/lcm-lora-sdxl",
            "SDXL with the LCM-LoRA: 4-8 steps with the LCM scheduler, guidance 1-2.",
            base_model="sdxl",
            lora_file="pytorch_lora_weights.safetensors",
            scheduler="LCMScheduler",
            num_inference_steps=4,
            guidance_scale=1.0,
        ),
        ModelSpec(
            "sdxl-lightning",
            "sdxl",
            "ByteDance/SDXL-Lightning",
            "SDXL-Lightning 4-step LoRA on SDXL base: 4 steps, Euler trailing, no guidance.",
            base_model="sdxl",
            lora_file="sdxl_lightning_4step_lora.safetensors",
            scheduler="EulerDiscreteScheduler",
            scheduler_options=(("timestep_spacing", "trailing"),),
            num_inference_steps=4,
            guidance_scale=0.0,
        ),
        # --- editing and captioning
        ModelSpec(
            "instruct-pix2pix",
            "instruct_pix2pix",
            "timbrooks/instruct-pix2pix",
            "InstructPix2Pix: edits an image directly from an instruction.",
        ),
        ModelSpec(
            "blip",
            "captioner",
            # Not -base: its main branch ships only pickled weights (see docs/models.md).
            "Salesforce/blip-image-captioning-large",
            "BLIP large captioner: turns an uploaded image into a starting prompt.",
        ),
        # --- the offline set: tiny random-weight pipelines (built by core/assets/tiny_pipelines.py)
        ModelSpec(
            "tiny-sd",
            "text2image",
            None,
            "Tiny random-weight SD 1.5 layout for offline tests; renders noise-like images.",
            offline=True,
            local_path=_in_models_dir("tiny-sd"),
        ),
        ModelSpec(
            "tiny-sdxl",
            "sdxl",
            None,
            "Tiny random-weight SDXL layout (two text encoders) for offline tests.",
            offline=True,
            local_path=_in_models_dir("tiny-sdxl"),
        ),
        ModelSpec(
            "tiny-ip2p",
            "instruct_pix2pix",
            None,
            "Tiny random-weight InstructPix2Pix layout for offline tests.",
            offline=True,
            local_path=_in_models_dir("tiny-ip2p"),
        ),
        # --- prompt rewriters (loaded by core/rewrite.py)
        ModelSpec(
            "diffchat-offline",
            "rewriter",
            None,
            "SmolLM2-135M-Instruct with the project's DiffChat LoRA adapter "
            "(falls back to the base model if the adapter is absent).",
            offline=True,
            local_path=lambda: assets_dir() / "rewriter" / "diffchat-smollm2-lora",
        ),
        ModelSpec(
            "smollm2-base",
            "rewriter",
            None,
            "SmolLM2-135M-Instruct without fine-tuning (zero-shot, paper template).",
            offline=True,
            local_path=_in_models_dir("smollm2-135m-instruct"),
        ),
        ModelSpec(
            "openai",
            "rewriter",
            None,
            "Any OpenAI-compatible chat API: OPENAI_API_KEY, OPENAI_BASE_URL, DIFFCHAT_CHAT_MODEL.",
        ),
        ModelSpec(
            "append",
            "rewriter",
            None,
            "Baseline without a model: prompt + ', ' + instruction.",
            offline=True,
        ),
    )
}


def list_models(kind: str | tuple[str, ...] | None = None, offline_only: bool = False) -> list[str]:
    """Return registry names of the given kind(s) in table order (all kinds when None)."""
    kinds = (kind,) if isinstance(kind, str) else kind
    for name in kinds or ():
        if name not in KINDS:
            raise ValueError(f"unknown model kind {name!r}; kinds are {', '.join(KINDS)}")
    return [
        spec.name
        for spec in MODELS.values()
        if (kinds is None or spec.kind in kinds) and (spec.offline or not offline_only)
    ]


def _kind_of_local_folder(folder: Path) -> str | None:
    # A diffusers folder names its pipeline class in model_index.json.
    index = folder / "model_index.json"
    if not index.is_file():
        return None
    try:
        class_name = json.loads(index.read_text()).get("_class_name", "")
    except (OSError, json.JSONDecodeError):
        return None
    if "InstructPix2Pix" in class_name:
        return "instruct_pix2pix"
    if "XL" in class_name:
        return "sdxl"
    return "text2image"


# What the refusal of an unknown name calls the models of the kinds that were asked for.
_KIND_WORDS = {
    IMAGE_KINDS: "image models",
    ("text2image",): "SD 1.x image models",
    ("sdxl",): "SDXL image models",
    ("instruct_pix2pix",): "InstructPix2Pix models",
    ("captioner",): "captioners",
    ("rewriter",): "rewriters",
}
# Kinds that a local diffusers folder or checkpoint can stand in for.
_DIFFUSERS_KINDS = ("text2image", "sdxl", "instruct_pix2pix")


def _valid_names(kinds: tuple[str, ...] | None) -> str:
    """Return "image models: sd15, ..." (only the kinds asked for), or "names: ..." (all)."""
    if kinds is None:
        return "names: " + ", ".join(MODELS)
    words = _KIND_WORDS.get(tuple(sorted(kinds, key=KINDS.index)), " or ".join(kinds) + " models")
    return f"{words}: " + ", ".join(list_models(kinds))


def get_model_spec(name: str, kinds: str | tuple[str, ...] | None = None) -> ModelSpec:
    """Return the registry row for `name`, or a custom row for a local diffusers folder.

    Refuses (UnknownModelError, listing the valid names) a name that is neither in the
    registry nor a folder holding a diffusers `model_index.json`. `kinds` says what was asked
    for (e.g. IMAGE_KINDS): the refusal then lists only models of those kinds; the lookup is
    the same (a registry name of another kind is returned, its caller refuses it).
    """
    if name in MODELS:
        return MODELS[name]
    kinds = (kinds,) if isinstance(kinds, str) else kinds
    path = Path(name).expanduser()
    valid = _valid_names(kinds)
    if path.is_dir():
        kind = _kind_of_local_folder(path)
        checkpoints = sorted(path.glob("*.safetensors"))
        if kind is None and len(checkpoints) == 1:
            path = checkpoints[0]  # a folder holding one single-file checkpoint
        elif kind is None:
            raise UnknownModelError(
                f"{path} is a folder, but neither a diffusers pipeline (no model_index.json) "
                f"nor a single-file checkpoint (it holds {len(checkpoints)} .safetensors files "
                "at its top level, not one). Give a diffusers folder, one .safetensors file, "
                f"or one of the registry's {valid}."
            )
        else:
            resolved = path.resolve()
            return ModelSpec(
                str(resolved),
                kind,
                None,
                f"Custom model from {resolved}",
                local_path=lambda: resolved,
            )
    if path.is_file() and path.suffix == ".safetensors":
        # An SD 1.x checkpoint in the original layout (A1111/Civitai style); the pipeline
        # configs come from the SD 1.5 repo, as for Deliberate.
        resolved = path.resolve()
        return ModelSpec(
            str(resolved),
            "text2image",
            None,
            f"Custom single-file SD 1.x checkpoint {resolved}",
            single_file=resolved.name,
            config_repo=SD15_REPO,
            local_path=lambda: resolved,
        )
    folder = "; or give the path of a local diffusers folder (one holding model_index.json)"
    if kinds is None or "text2image" in kinds:
        local = folder + " or of a single-file .safetensors checkpoint"
    else:  # a rewriter or captioner has no diffusers folder
        local = folder if set(kinds) & set(_DIFFUSERS_KINDS) else ""
    raise UnknownModelError(f"Unknown model {name!r}. Valid {valid}{local}.")


def generation_defaults(name: str) -> dict:
    """Return the model's recommended `num_inference_steps` and `guidance_scale`.

    Few-step models need theirs (SD-Turbo at 25 steps and guidance 7.5 is slow and burnt);
    custom models get the SD defaults.
    """
    spec = get_model_spec(name)
    return {"num_inference_steps": spec.num_inference_steps, "guidance_scale": spec.guidance_scale}


# "draft" renders with the family's few-step model; "quality" with the model asked for.
SPEEDS = ("quality", "draft")
_DRAFT_OF_KIND = {"text2image": "lcm-sd15", "sdxl": "sdxl-lightning"}


def draft_model_for(name: str) -> str:
    """Return the few-step model to use for `name` at the "draft" speed.

    A few-step model is its own draft; an SD 1.x model drafts with the LCM-LoRA on SD 1.5,
    an SDXL model with SDXL-Lightning. Refuses (InputError) non-image models.
    """
    from core.errors import InputError

    spec = get_model_spec(name)
    if spec.kind not in IMAGE_KINDS:
        raise InputError(f"Model {spec.name!r} is a {spec.kind}, it has no draft speed.")
    return spec.name if spec.few_step else _DRAFT_OF_KIND[spec.kind]


def relative_cost(name: str) -> float:
    """Return a rough cost of one image in SD 1.5 UNet evaluations (for picking the fastest).

    steps x (2 with classifier-free guidance) x (about 3 for SDXL's UNet at 1024 px: an
    estimate from its size and latent area, bench/few_step_cpu.py measures it); ties keep
    table order.
    """
    spec = get_model_spec(name)
    guidance = 2 if spec.guidance_scale > 1 else 1  # diffusers skips CFG at guidance <= 1
    return spec.num_inference_steps * guidance * (3.0 if spec.kind == "sdxl" else 1.0)


def fastest_draft_model() -> str:
    """Return the registry's cheapest few-step text-to-image model (SD-Turbo today)."""
    drafts = [n for n in list_models(IMAGE_KINDS) if MODELS[n].few_step and not MODELS[n].offline]
    return min(drafts, key=relative_cost)
