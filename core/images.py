"""Render and edit images: text-to-image, keep-composition img2img, InstructPix2Pix, DiffChat edits.

Every call takes a request with named fields (diffusers' argument names), seeds its own
`torch.Generator` (on the CPU, so a seed gives the same starting noise on any device) and
returns a `GeneratedImage` whose `parameters` are also written into saved PNGs.

DiffChat's edit loop (paper section 3): the rewriter turns (current prompt, instruction) into
a target prompt and the same text-to-image model renders it with the same seed. "keep"
mode additionally starts from the branch's first image (img2img), and "ip2p" mode edits the
image directly with InstructPix2Pix, the paper's image-editing baseline.

Progress: `progress(step, total)` after every denoising step. Stop: set `cancel_event`
(a `threading.Event`); the next step raises GenerationCancelled and nothing is returned.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import Image

from core import fast_path, pipelines
from core.errors import DiffChatError, GenerationCancelled, InputError
from core.png_metadata import PARAMETERS_KEY, format_parameters, save_png
from core.registry import IMAGE_KINDS
from core.rewrite import DEFAULT_REWRITE_CANDIDATES
from core.validation import check_instruction

# CLIP reads 77 tokens including its start and end markers.
CLIP_PROMPT_TOKEN_LIMIT = 75
# Images are sized in multiples of 8 (the VAE downsamples by 8) and capped for memory.
SIZE_MULTIPLE = 8
MAX_SIDE = 2048
# InstructPix2Pix input: long side capped (its training resolution is 256-512; 768 still
# edits well and fits 8 GB GPUs in fp16).
IP2P_MAX_SIDE = 768
# Keep-composition input when no size is asked for: long side capped like SDXL's native size.
KEEP_MAX_SIDE = 1024
EDIT_MODES = ("rewrite", "keep", "ip2p")

ProgressCallback = Callable[[int, int], None]

_SAMPLER_NAMES = {
    "DDIMScheduler": "DDIM",
    "PNDMScheduler": "PNDM",
    "EulerDiscreteScheduler": "Euler",
    "EulerAncestralDiscreteScheduler": "Euler a",
    "DPMSolverMultistepScheduler": "DPM++ 2M",
    "LMSDiscreteScheduler": "LMS",
}


@dataclass
class GenerationRequest:
    """A text-to-image request. width/height None = the model's native size."""

    prompt: str
    negative_prompt: str = ""
    model: str = "sd15"
    seed: int = 0
    num_inference_steps: int = 25
    guidance_scale: float = 7.5
    width: int | None = None
    height: int | None = None


@dataclass
class EditRequest:
    """One DiffChat edit: change the current image/prompt by an instruction.

    mode "rewrite": rewrite `prompt` with `rewriter`, render the result with `model` and `seed`.
    mode "keep": same rewrite, rendered img2img from `image` (the branch's first image) with
    `strength`. mode "ip2p": edit `image` with InstructPix2Pix (`ip2p_model`), s_I =
    `image_guidance_scale`, s_T = `guidance_scale`; `prompt` is kept unchanged.
    `target_prompt`: the rewrite, when the caller already made it (a network rewriter runs
    outside the model worker); the rewriter is then not called again.
    """

    image: Image.Image | None
    instruction: str
    prompt: str = ""
    mode: str = "rewrite"
    model: str = "sd15"
    seed: int = 0
    strength: float = 0.6
    image_guidance_scale: float = 1.5
    guidance_scale: float = 7.5
    num_inference_steps: int = 25
    negative_prompt: str = ""
    rewriter: str | None = None
    ip2p_model: str = "instruct-pix2pix"
    width: int | None = None
    height: int | None = None
    target_prompt: str | None = None
    rewrite_candidates: int = DEFAULT_REWRITE_CANDIDATES  # verified decoding: core/rewrite.py


@dataclass
class GeneratedImage:
    """An image and the parameters that made it (prompt, seed, model, steps, ...)."""

    image: Image.Image
    parameters: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """Save as PNG with the A1111-style `parameters` chunk; return the path."""
        return save_png(self.image, path, self.parameters)


@dataclass
class EditedImage(GeneratedImage):
    """The result of `edit`: the image, its parameters, and the prompt the session goes on with."""

    target_prompt: str = ""


# --- 1. checking inputs -------------------------------------------------------------------


def _check_generation_request(request: GenerationRequest) -> None:
    if not isinstance(request.prompt, str) or not request.prompt.strip():
        raise InputError("The prompt is empty; describe the image you want.")
    if not isinstance(request.seed, int) or request.seed < 0 or request.seed >= 2**63:
        raise InputError(f"Seed must be a whole number from 0 to 2^63-1, not {request.seed!r}.")
    if not 1 <= request.num_inference_steps <= 500:
        raise InputError(f"Steps must be between 1 and 500, not {request.num_inference_steps}.")
    if request.guidance_scale < 0:
        raise InputError(f"Guidance scale must not be negative, not {request.guidance_scale}.")
    for name in ("width", "height"):
        value = getattr(request, name)
        if value is None:
            continue
        if value % SIZE_MULTIPLE or not SIZE_MULTIPLE <= value <= MAX_SIDE:
            raise InputError(
                f"{name.capitalize()} must be a multiple of {SIZE_MULTIPLE} between "
                f"{SIZE_MULTIPLE} and {MAX_SIDE}, not {value}."
            )


def fit_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """Return (width, height) with the aspect of `size`, long side <= max_side, both multiples of 8."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    return tuple(
        max(SIZE_MULTIPLE, int(side * scale) // SIZE_MULTIPLE * SIZE_MULTIPLE)
        for side in (width, height)
    )


def _prepare_image(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if not isinstance(image, Image.Image):
        raise InputError("No image was given to edit.")
    image = image.convert("RGB")
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


# --- 2. prompts longer than CLIP's 77 tokens ----------------------------------------------


@lru_cache(maxsize=1)
def _offline_clip_tokenizer():
    from core.assets.clip_vocab import load_clip_tokenizer

    return load_clip_tokenizer()


def _token_count(tokenizer, text: str) -> int:
    # tokenize() rather than __call__: no "longer than 77" warning, the length is the point.
    return len(tokenizer.tokenize(text)) if text else 0


def count_clip_tokens(prompt: str, model: str | None = None) -> int:
    """Return how many CLIP tokens `prompt` has (start/end markers excluded).

    All registry text-to-image models share CLIP's vocabulary; the loaded pipeline's own
    tokenizer is used when it is `model`, else the offline CLIP tokenizer. Prompts above
    CLIP_PROMPT_TOKEN_LIMIT are encoded in chunks by `generate`, not truncated.
    """
    spec = pipelines.current_spec()
    if spec is not None and (model is None or spec.name == model):
        tokenizer = pipelines.load_pipeline(spec.name).tokenizer
    else:
        tokenizer = _offline_clip_tokenizer()
    return _token_count(tokenizer, prompt)


def _literal_embeddings(compel, text: str):
    # Encode the text as one fragment of weight 1: no Compel prompt syntax is interpreted
    # (rewriter output may contain "(", "+" or "-" that mean nothing special), but prompts
    # longer than 75 tokens are split into 77-token chunks whose embeddings are concatenated.
    return compel.conditioning_provider.get_embeddings_for_weighted_prompt_fragments(
        text_batch=[[text]], fragment_weights_batch=[[1.0]], device=compel.device
    )


def _long_prompt_embeddings(pipeline, prompt: str, negative_prompt: str) -> dict:
    """Return prompt-embedding keyword arguments that encode the whole of a long prompt.

    SD 1.5 layout: one CLIP encoder, last hidden state. SDXL: both encoders' penultimate
    hidden states concatenated, plus the second encoder's pooled embedding (which, as in
    diffusers, sees only the first 77 tokens). The negative prompt is padded to the same
    number of chunks with empty-prompt chunks.
    """
    from compel import Compel, ReturnedEmbeddingsType

    if getattr(pipeline, "text_encoder_2", None) is None:
        compel = Compel(pipeline.tokenizer, pipeline.text_encoder, truncate_long_prompts=False)
        positive = _literal_embeddings(compel, prompt)
        negative = _literal_embeddings(compel, negative_prompt)
        positive, negative = compel.pad_conditioning_tensors_to_same_length([positive, negative])
        return {"prompt_embeds": positive, "negative_prompt_embeds": negative}

    penultimate = ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NON_NORMALIZED
    halves = []
    for tokenizer, text_encoder in (
        (pipeline.tokenizer, pipeline.text_encoder),
        (pipeline.tokenizer_2, pipeline.text_encoder_2),
    ):
        compel = Compel(
            tokenizer,
            text_encoder,
            truncate_long_prompts=False,
            returned_embeddings_type=penultimate,
        )
        pair = [_literal_embeddings(compel, prompt), _literal_embeddings(compel, negative_prompt)]
        halves.append(compel.pad_conditioning_tensors_to_same_length(pair))
    import torch

    positive = torch.cat([halves[0][0], halves[1][0]], dim=-1)
    negative = torch.cat([halves[0][1], halves[1][1]], dim=-1)
    provider = compel.conditioning_provider  # the second encoder's, which has the projection
    pooled = provider.get_pooled_embeddings([prompt], device=compel.device)
    negative_pooled = provider.get_pooled_embeddings([negative_prompt], device=compel.device)
    if not negative_prompt and pipeline.config.force_zeros_for_empty_prompt:
        # SDXL was trained with zeroed negative conditioning for an empty negative prompt.
        negative, negative_pooled = torch.zeros_like(negative), torch.zeros_like(negative_pooled)
    return {
        "prompt_embeds": positive,
        "negative_prompt_embeds": negative,
        "pooled_prompt_embeds": pooled,
        "negative_pooled_prompt_embeds": negative_pooled,
    }


def _prompt_arguments(pipeline, prompt: str, negative_prompt: str) -> dict:
    """Return the pipeline's prompt arguments: plain strings, or embeddings for long prompts."""
    tokenizer = pipeline.tokenizer
    if max(_token_count(tokenizer, prompt), _token_count(tokenizer, negative_prompt)) > (
        CLIP_PROMPT_TOKEN_LIMIT
    ):
        return _long_prompt_embeddings(pipeline, prompt, negative_prompt)
    # None (not "") keeps SDXL's zeroed negative conditioning for an empty negative prompt.
    return {"prompt": prompt, "negative_prompt": negative_prompt or None}


# --- 3. running a pipeline: seed, progress, Stop, out-of-memory ---------------------------


def _generator(seed: int):
    import torch

    return torch.Generator(device="cpu").manual_seed(seed)


def _step_callback(progress: ProgressCallback | None, cancel_event: threading.Event | None):
    def on_step_end(pipeline, step, timestep, callback_kwargs):
        if cancel_event is not None and cancel_event.is_set():
            raise GenerationCancelled("Stopped before the image was finished; nothing was changed.")
        if progress is not None:
            total = getattr(pipeline, "num_timesteps", None) or len(pipeline.scheduler.timesteps)
            progress(step + 1, total)
        return callback_kwargs

    return on_step_end


def _run(pipeline, progress, cancel_event, **arguments) -> Image.Image:
    """Call `pipeline` once; on GPU out-of-memory switch to CPU offload and retry once."""
    import torch

    if cancel_event is not None and cancel_event.is_set():
        raise GenerationCancelled("Stopped before the image was started; nothing was changed.")
    arguments["callback_on_step_end"] = _step_callback(progress, cancel_event)
    generator = arguments.get("generator")
    seed_state = generator.get_state() if generator is not None else None

    def attempt():
        if generator is not None:
            generator.set_state(seed_state)  # a retried attempt starts from the same noise
        return pipeline(**arguments)

    def render() -> Image.Image:
        # fast_path.call: a compiled model that fails to compile renders eagerly instead.
        return fast_path.call(attempt, pipeline).images[0]

    try:
        return render()
    except torch.cuda.OutOfMemoryError:
        pass
    # Freed outside the except block, so the traceback's references to GPU tensors are gone.
    gc.collect()
    torch.cuda.empty_cache()
    if pipelines.switch_to_cpu_offload():
        try:
            return render()
        except torch.cuda.OutOfMemoryError:
            pass
        gc.collect()
        torch.cuda.empty_cache()
    raise DiffChatError(
        "The GPU ran out of memory, even with the model offloaded to the CPU. Try a smaller "
        "width/height, close other programs using the GPU, or set DIFFCHAT_DEVICE=cpu."
    )


def _finish(image: Image.Image, parameters: dict, target_prompt: str | None = None):
    """Return the result with its size recorded; the image carries the PNG text in `info` too."""
    parameters = {**parameters, "width": image.width, "height": image.height}
    image.info[PARAMETERS_KEY] = format_parameters(parameters)
    if target_prompt is None:
        return GeneratedImage(image, parameters)
    return EditedImage(image, parameters, target_prompt=target_prompt)


def _sampler_name(pipeline) -> str:
    name = type(pipeline.scheduler).__name__
    return _SAMPLER_NAMES.get(name, name)


def _request_parameters(request: GenerationRequest, pipeline, model_name: str) -> dict:
    return {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "num_inference_steps": request.num_inference_steps,
        "sampler": _sampler_name(pipeline),
        "guidance_scale": request.guidance_scale,
        "seed": request.seed,
        "model": model_name,
    }


# --- 4. the public calls ------------------------------------------------------------------


def generate(
    request: GenerationRequest,
    progress: ProgressCallback | None = None,
    cancel_event: threading.Event | None = None,
) -> GeneratedImage:
    """Render `request.prompt` with `request.model` and `request.seed`; return the image.

    Same request, same image. Refuses (InputError) empty prompts, sizes that are not
    multiples of 8 and InstructPix2Pix models; raises ModelUnavailableError for weights that
    are not here, GenerationCancelled when `cancel_event` is set.
    """
    _check_generation_request(request)
    pipeline = pipelines.load_pipeline(request.model, kinds=IMAGE_KINDS)
    spec = pipelines.current_spec()
    if spec.kind == "instruct_pix2pix":
        raise InputError(
            f"{spec.name!r} edits images by instruction; use it in the ip2p edit mode, "
            "not for text-to-image."
        )
    image = _run(
        pipeline,
        progress,
        cancel_event,
        **_prompt_arguments(pipeline, request.prompt, request.negative_prompt),
        num_inference_steps=request.num_inference_steps,
        guidance_scale=request.guidance_scale,
        width=request.width,
        height=request.height,
        generator=_generator(request.seed),
    )
    return _finish(image, _request_parameters(request, pipeline, spec.name))


def keep_composition(
    source_image: Image.Image,
    request: GenerationRequest,
    strength: float = 0.6,
    progress: ProgressCallback | None = None,
    cancel_event: threading.Event | None = None,
) -> GeneratedImage:
    """Render `request` img2img from `source_image` (the branch's first image) with its seed.

    `strength` in (0, 1]: how much of the source is re-noised (1 = ignore it). The output has
    `request.width/height`, or else the source's aspect with the long side capped at
    KEEP_MAX_SIDE, rounded to multiples of 8. Runs int(steps * strength) denoising steps.
    """
    _check_generation_request(request)
    if not 0.0 < strength <= 1.0:
        raise InputError(f"Strength must be above 0 and at most 1, not {strength}.")
    pipeline = pipelines.load_img2img_pipeline(request.model)
    spec = pipelines.current_spec()
    if request.width and request.height:
        size = (request.width, request.height)
    else:
        size = fit_size(source_image.size, KEEP_MAX_SIDE)
    image = _run(
        pipeline,
        progress,
        cancel_event,
        **_prompt_arguments(pipeline, request.prompt, request.negative_prompt),
        image=_prepare_image(source_image, size),
        strength=strength,
        num_inference_steps=request.num_inference_steps,
        guidance_scale=request.guidance_scale,
        generator=_generator(request.seed),
    )
    parameters = _request_parameters(request, pipeline, spec.name)
    return _finish(image, {**parameters, "strength": strength, "mode": "keep"})


def edit_with_instruct_pix2pix(
    image: Image.Image,
    instruction: str,
    image_guidance_scale: float = 1.5,
    guidance_scale: float = 7.5,
    num_inference_steps: int = 25,
    seed: int = 0,
    negative_prompt: str = "",
    model: str = "instruct-pix2pix",
    max_side: int = IP2P_MAX_SIDE,
    progress: ProgressCallback | None = None,
    cancel_event: threading.Event | None = None,
) -> GeneratedImage:
    """Edit `image` by `instruction` with InstructPix2Pix; return the edited image.

    s_I = `image_guidance_scale` (faithfulness to the input), s_T = `guidance_scale`
    (to the instruction). The output keeps the input's aspect: long side capped at
    `max_side`, both sides rounded down to multiples of 8. Refuses (InputError) an empty
    instruction and models that are not InstructPix2Pix pipelines.
    """
    instruction = check_instruction(instruction).text
    if image_guidance_scale < 0 or guidance_scale < 0:
        raise InputError("Guidance scales must not be negative.")
    if not 1 <= num_inference_steps <= 500:
        raise InputError(f"Steps must be between 1 and 500, not {num_inference_steps}.")
    if not isinstance(image, Image.Image):
        raise InputError("No image was given to edit.")
    pipeline = pipelines.load_pipeline(model, kinds=("instruct_pix2pix",))
    spec = pipelines.current_spec()
    if spec.kind != "instruct_pix2pix":
        raise InputError(
            f"{spec.name!r} is not an InstructPix2Pix model; choose e.g. instruct-pix2pix."
        )
    edited = _run(
        pipeline,
        progress,
        cancel_event,
        **_prompt_arguments(pipeline, instruction, negative_prompt),
        image=_prepare_image(image, fit_size(image.size, max_side)),
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        image_guidance_scale=image_guidance_scale,
        generator=_generator(seed),
    )
    return _finish(
        edited,
        {
            "prompt": instruction,
            "negative_prompt": negative_prompt,
            "num_inference_steps": num_inference_steps,
            "sampler": _sampler_name(pipeline),
            "guidance_scale": guidance_scale,
            "image_guidance_scale": image_guidance_scale,
            "seed": seed,
            "model": spec.name,
            "mode": "ip2p",
        },
    )


def edit(
    request: EditRequest,
    progress: ProgressCallback | None = None,
    cancel_event: threading.Event | None = None,
) -> EditedImage:
    """Apply one DiffChat edit (see EditRequest) and return the image and the new prompt.

    Refuses (InputError) an unknown mode, an empty instruction, and rewrite/keep edits
    without a current prompt (or keep/ip2p edits without an image).
    """
    if request.mode not in EDIT_MODES:
        raise InputError(f"Unknown edit mode {request.mode!r}; choose {', '.join(EDIT_MODES)}.")
    check_instruction(request.instruction)
    if request.mode in ("keep", "ip2p") and request.image is None:
        raise InputError(f"The {request.mode} edit mode needs the image to start from.")

    if request.mode == "ip2p":
        result = edit_with_instruct_pix2pix(
            request.image,
            request.instruction,
            image_guidance_scale=request.image_guidance_scale,
            guidance_scale=request.guidance_scale,
            num_inference_steps=request.num_inference_steps,
            seed=request.seed,
            negative_prompt=request.negative_prompt,
            model=request.ip2p_model,
            progress=progress,
            cancel_event=cancel_event,
        )
        parameters = {
            **result.parameters,
            "instruction": request.instruction,
            "source_prompt": request.prompt or None,
        }
        return _finish(result.image, parameters, target_prompt=request.prompt)

    if not request.prompt or not request.prompt.strip():
        raise InputError(
            f"The {request.mode} edit mode rewrites the current prompt; give it "
            "(or use the ip2p mode, which needs only the image)."
        )
    from core.rewrite import load_rewriter

    # DiffChat section 3: the rewriter maps (raw prompt, instruction) to the target prompt,
    # rendered by the same TIS model with the same seed.
    target_prompt = request.target_prompt or load_rewriter(request.rewriter).rewrite(
        request.prompt, request.instruction, candidates=request.rewrite_candidates
    )
    generation = GenerationRequest(
        prompt=target_prompt,
        negative_prompt=request.negative_prompt,
        model=request.model,
        seed=request.seed,
        num_inference_steps=request.num_inference_steps,
        guidance_scale=request.guidance_scale,
        width=request.width,
        height=request.height,
    )
    if request.mode == "keep":
        result = keep_composition(
            request.image,
            generation,
            request.strength,
            progress=progress,
            cancel_event=cancel_event,
        )
    else:
        result = generate(generation, progress=progress, cancel_event=cancel_event)
    parameters = {
        **result.parameters,
        "mode": request.mode,
        "instruction": request.instruction,
        "source_prompt": request.prompt,
        "rewriter": request.rewriter or "default",
    }
    return _finish(result.image, parameters, target_prompt=target_prompt)
