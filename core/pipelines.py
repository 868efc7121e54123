"""Load diffusers pipelines by registry name, keep one in memory, and pick device and dtype.

Weights come from the local Hugging Face cache, the hub (when online), a single checkpoint
file (`from_single_file`, Deliberate) or a local folder (the offline `tiny-*` set, custom
models). Only one pipeline is held at a time: loading another frees the old one first, since
two SD checkpoints rarely fit a consumer GPU together. The img2img pipeline used by
keep-composition is built from the loaded text-to-image pipeline's components, not loaded
again.

Settings (also readable from the environment, for the app and the CLI):
- device: DIFFCHAT_DEVICE ("cuda", "cpu"); default cuda when available.
- dtype: DIFFCHAT_DTYPE ("float16", "bfloat16", "float32"); default float16 on GPU, float32 on CPU.
- CPU offload: DIFFCHAT_CPU_OFFLOAD=1 forces it; by default it is turned on for GPUs with
  less memory than the model needs (see `_OFFLOAD_BELOW_GIB`).
- fast path: DIFFCHAT_COMPILE=1 (and DIFFCHAT_COMPILE_MODE), off by default: compiled UNet
  and VAE decoder, fused QKV, channels_last on CUDA (core/fast_path.py); compiled at load,
  with a warm-up image at the model's native size. Not combined with CPU offload.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from core import fast_path
from core.errors import InputError, ModelUnavailableError
from core.registry import IMAGE_KINDS, ModelSpec, get_model_spec

log = logging.getLogger(__name__)

# Below this much GPU memory, model CPU offload is switched on by default (fp16 weights plus
# activations at the model's native size; SD 1.5 needs about 3 GiB, SDXL about 9 GiB).
_OFFLOAD_BELOW_GIB = {"sdxl": 12.0, "text2image": 6.0, "instruct_pix2pix": 6.0}

_PIPELINE_CLASS_NAMES = {
    "text2image": "StableDiffusionPipeline",
    "sdxl": "StableDiffusionXLPipeline",
    "instruct_pix2pix": "StableDiffusionInstructPix2PixPipeline",
}

_DTYPE_NAMES = ("float16", "bfloat16", "float32")


@dataclass(frozen=True)
class RuntimeSettings:
    """Where and how pipelines run. `None` fields are resolved from the environment/hardware."""

    device: str | None = None
    dtype: str | None = None
    cpu_offload: bool | None = None
    fast_path: fast_path.FastPathSettings | None = None

    def resolved_fast_path(self) -> fast_path.FastPathSettings:
        return self.fast_path or fast_path.FastPathSettings.from_environment()

    def resolved_device(self) -> str:
        import torch

        device = self.device or os.environ.get("DIFFCHAT_DEVICE")
        if device is None:
            return "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"Device {device!r} was asked for, but no CUDA GPU is available.")
        return device

    def resolved_dtype(self):
        import torch

        name = self.dtype or os.environ.get("DIFFCHAT_DTYPE")
        if name is None:
            # fp16 halves memory and roughly doubles speed on GPUs; CPUs have no fast fp16 path.
            name = "float32" if self.resolved_device() == "cpu" else "float16"
        if name not in _DTYPE_NAMES:
            raise InputError(f"Unknown dtype {name!r}; choose one of {', '.join(_DTYPE_NAMES)}.")
        return getattr(torch, name)

    def resolved_cpu_offload(self, kind: str) -> bool:
        import torch

        device = self.resolved_device()
        if not device.startswith("cuda"):
            return False
        if self.cpu_offload is not None:
            return self.cpu_offload
        if os.environ.get("DIFFCHAT_CPU_OFFLOAD"):
            return os.environ["DIFFCHAT_CPU_OFFLOAD"] not in ("0", "false", "False", "")
        total_gib = torch.cuda.get_device_properties(torch.device(device)).total_memory / 2**30
        return total_gib < _OFFLOAD_BELOW_GIB.get(kind, 6.0)


@dataclass
class _Loaded:
    key: tuple
    spec: ModelSpec
    pipeline: object
    device: str
    cpu_offload: bool
    derived: dict = field(default_factory=dict)  # e.g. {"img2img": pipeline sharing components}


_current: _Loaded | None = None
_lock = threading.RLock()


def _unavailable(spec: ModelSpec, reason: str) -> ModelUnavailableError:
    if spec.offline:
        how = "Build the offline model set with `python -m core.assets fetch`."
    else:
        how = (
            f"Download it once while online (for example `hf download {spec.repo_id}`, or run "
            "DiffChat with network access and HF_HUB_OFFLINE unset); the offline stand-ins "
            "tiny-sd, tiny-sdxl and tiny-ip2p need no download (`python -m core.assets fetch`)."
        )
    return ModelUnavailableError(
        f"Model {spec.name!r} ({spec.source}) is not available: {reason} {how}"
    )


def _hub_is_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _cached_config_folder(spec: ModelSpec) -> str:
    """Return the pipeline layout for a single-file model: the config repo or its cached folder."""
    if not _hub_is_offline():
        return spec.config_repo
    # Offline, from_single_file needs `config=` a local folder (it cannot resolve a repo id).
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(
            spec.config_repo,
            local_files_only=True,
            allow_patterns=["*.json", "*.txt"],
        )
    except Exception as error:  # huggingface_hub raises several types for "not cached"
        raise _unavailable(
            spec,
            f"its pipeline configs ({spec.config_repo}) are not in the local Hugging Face cache "
            "and downloads are off (HF_HUB_OFFLINE).",
        ) from error


def _variant(spec: ModelSpec, dtype) -> str | None:
    import torch

    # The fp16 files are half the download and what the GPU runs anyway.
    return "fp16" if spec.fp16_variant and dtype == torch.float16 else None


def _load_from_source(spec: ModelSpec, dtype):
    import diffusers

    if spec.base_model:
        return _load_lora_model(spec, dtype)
    pipeline_class = getattr(diffusers, _PIPELINE_CLASS_NAMES[spec.kind])
    # Never unpickle: .safetensors only.
    if spec.local_path is not None:
        path = Path(spec.local_path())
        if spec.single_file:
            if not path.is_file():
                raise _unavailable(spec, f"{path} does not exist.")
            return pipeline_class.from_single_file(
                str(path), config=_cached_config_folder(spec), dtype=dtype
            )
        if not (path / "model_index.json").is_file():
            raise _unavailable(spec, f"{path} holds no diffusers pipeline (model_index.json).")
        return pipeline_class.from_pretrained(path, dtype=dtype, use_safetensors=True)
    try:
        if spec.single_file:
            url = f"https://huggingface.co/{spec.repo_id}/blob/main/{spec.single_file}"
            return pipeline_class.from_single_file(
                url,
                config=_cached_config_folder(spec),
                dtype=dtype,
                local_files_only=_hub_is_offline(),
            )
        return pipeline_class.from_pretrained(
            spec.repo_id, dtype=dtype, use_safetensors=True, variant=_variant(spec, dtype)
        )
    except ModelUnavailableError:
        raise
    except (OSError, ValueError) as error:
        # OSError covers "not in the cache" offline and network failures online; diffusers
        # raises ValueError for a repo without .safetensors weights.
        if _hub_is_offline():
            reason = "its weights are not in the local Hugging Face cache and downloads are off (HF_HUB_OFFLINE)."
        else:
            reason = f"loading failed ({type(error).__name__}: {str(error).splitlines()[0][:300]})."
        raise _unavailable(spec, reason) from error


def _load_lora_model(spec: ModelSpec, dtype):
    """Load the base model, fuse the LoRA into it and switch to the model's scheduler."""
    import diffusers

    from core.registry import MODELS

    pipeline = _load_from_source(MODELS[spec.base_model], dtype)
    try:
        pipeline.load_lora_weights(spec.repo_id, weight_name=spec.lora_file, adapter_name="draft")
    except (OSError, ValueError) as error:
        raise _unavailable(
            spec, f"its LoRA {spec.repo_id}/{spec.lora_file} could not be loaded ({error})."
        ) from error
    # Fused weights run at the base model's speed; the adapter bookkeeping is then dropped.
    pipeline.fuse_lora()
    pipeline.unload_lora_weights()
    if spec.scheduler:
        scheduler_class = getattr(diffusers, spec.scheduler)
        pipeline.scheduler = scheduler_class.from_config(
            pipeline.scheduler.config, **dict(spec.scheduler_options)
        )
    return pipeline


def unload() -> None:
    """Free the loaded pipeline (and its derived pipelines), releasing GPU memory."""
    global _current
    with _lock:
        if _current is None:
            return
        _current = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def load_pipeline(
    model: str, settings: RuntimeSettings | None = None, kinds: tuple[str, ...] | None = None
):
    """Return the diffusers pipeline for registry name or local folder `model`, loading it if needed.

    The pipeline stays cached until another model (or other settings) is asked for. Raises
    UnknownModelError for names not in the registry (listing the models of `kinds`, the kinds
    the caller renders with; every pipeline kind when None), InputError for a model that is
    not an image model, ModelUnavailableError when its weights are neither cached nor reachable.
    """
    global _current
    settings = settings or RuntimeSettings()
    spec = get_model_spec(model, kinds or tuple(_PIPELINE_CLASS_NAMES))
    if spec.kind not in _PIPELINE_CLASS_NAMES:
        raise InputError(f"Model {spec.name!r} is a {spec.kind}, not an image model.")
    device = settings.resolved_device()
    dtype = settings.resolved_dtype()
    offload = settings.resolved_cpu_offload(spec.kind)
    fast = settings.resolved_fast_path()
    # Offload is not part of the key: once switched on (asked for, or after an out-of-memory
    # error) it stays on for that pipeline, which is what a short-of-memory GPU needs.
    key = (spec.name, device, str(dtype), fast)
    with _lock:
        if _current is not None and _current.key == key:
            if offload and not _current.cpu_offload:
                switch_to_cpu_offload()
            return _current.pipeline
        unload()  # free the old weights before the new ones arrive
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        # The app and CLI show their own progress; loading bars would interleave with them.
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
        pipeline = _load_from_source(spec, dtype)
        pipeline.set_progress_bar_config(disable=True)
        # Attention: diffusers uses torch's scaled_dot_product_attention (AttnProcessor2_0) by
        # default, which picks flash/memory-efficient kernels on GPU; nothing to switch on.
        if offload:
            pipeline.enable_model_cpu_offload(device=device)
        else:
            pipeline.to(device)
        _current = _Loaded(key, spec, pipeline, device, offload)
        if fast.enabled and offload:
            # Offload hooks move weights inside forward; compiled graphs would not see that.
            log.info("fast path off: the model runs with CPU offload")
        elif fast.enabled:
            fast_path.apply(pipeline, fast, device, spec.kind, _hub_is_offline())
            if spec.kind in ("text2image", "sdxl"):  # InstructPix2Pix compiles at its first edit
                fast_path.warm_up(pipeline, spec.guidance_scale)
        return pipeline


def current_spec() -> ModelSpec | None:
    """Return the registry row of the loaded pipeline, or None."""
    return _current.spec if _current is not None else None


def load_img2img_pipeline(model: str, settings: RuntimeSettings | None = None):
    """Return an img2img pipeline sharing the text-to-image pipeline's components (no second load).

    Refuses (InputError) InstructPix2Pix models, which take the image differently.
    """
    from diffusers import AutoPipelineForImage2Image

    pipeline = load_pipeline(model, settings, IMAGE_KINDS)
    with _lock:
        loaded = _current
        if loaded.spec.kind == "instruct_pix2pix":
            raise InputError(
                f"Model {loaded.spec.name!r} edits by instruction; it has no img2img mode."
            )
        if "img2img" not in loaded.derived:
            img2img = AutoPipelineForImage2Image.from_pipe(pipeline)
            img2img.set_progress_bar_config(disable=True)
            loaded.derived["img2img"] = img2img
        return loaded.derived["img2img"]


def switch_to_cpu_offload() -> bool:
    """After a GPU out-of-memory error: move the loaded pipeline to model CPU offload.

    Returns True when offload was switched on, False when it was already on or there is no GPU
    (then retrying cannot help).
    """
    import torch

    with _lock:
        loaded = _current
        if loaded is None or loaded.cpu_offload or not loaded.device.startswith("cuda"):
            return False
        fast_path.eager(loaded.pipeline)  # compiled graphs do not follow offload's weight moves
        loaded.pipeline.to("cpu")
        gc.collect()
        torch.cuda.empty_cache()
        loaded.pipeline.enable_model_cpu_offload(device=loaded.device)
        for derived in loaded.derived.values():
            derived.enable_model_cpu_offload(device=loaded.device)
        loaded.cpu_offload = True
        return True
