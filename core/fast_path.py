"""The fast path (issue 14), off by default: compiled UNet and VAE decoder, fused QKV, channels_last.

Switched on with DIFFCHAT_COMPILE=1 (mode: DIFFCHAT_COMPILE_MODE, one of torch.compile's
modes; default "max-autotune-no-cudagraphs" on CUDA, "default" on the CPU). Applied once,
in place, when `core.pipelines` loads a model:

- fused QKV projections in the UNet's and VAE's attention (diffusers `fuse_qkv_projections`:
  one matmul instead of three; the attention stays torch's SDPA, diffusers' default);
- channels_last memory format for the UNet and VAE, on CUDA only (on the CPU it slowed the
  tiny pipelines; on an H100 it helped SDXL and not SD 1.5 in eager mode, see
  bench/results/text_to_image_gpu.md);
- `torch.compile` of the UNet and the VAE decoder with static shapes (`dynamic=False`):
  each new input shape (size, or batch 1 vs 2 when guidance is off or on) compiles once and
  says so in the log; past torch's recompile limit a module runs eagerly, it never fails.
  Compilation errors are caught: the model goes back to eager with a log line, and the
  image is rendered again eagerly;
- SDXL on a CUDA GPU in fp16: the fp16-fix VAE (FP16_FIX_VAES) when it is in the local cache
  or downloadable, so the decode runs in fp16 instead of upcasting to fp32. It is a
  fine-tuned VAE: its images differ slightly from the original VAE's (not a same-image
  change; the other parts are).

Models are compiled in place (the module's own compiled-call slot, as `nn.Module.compile`
does), so the img2img pipeline built from the same components shares the compiled modules.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from core.errors import InputError

log = logging.getLogger(__name__)

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# The default CUDA mode autotunes matmuls/convolutions without CUDA graphs: graphs need
# static input addresses and re-record for every size, which fits a server with one
# fixed size better than an app whose size is a setting (`reduce-overhead` opts in).
DEFAULT_MODE = {"cuda": "max-autotune-no-cudagraphs", "cpu": "default"}
# VAEs that decode in fp16 without overflowing, by pipeline kind (madebyollin/sdxl-vae-fp16-fix:
# SDXL's VAE fine-tuned to keep activations in fp16 range; MIT licence).
FP16_FIX_VAES = {"sdxl": "madebyollin/sdxl-vae-fp16-fix"}

_ON = ("1", "true", "yes", "on")
_OFF = ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class FastPathSettings:
    """Whether the fast path is on and which torch.compile mode it uses (None = device default)."""

    enabled: bool = False
    mode: str | None = None

    @classmethod
    def from_environment(cls, environ=None) -> FastPathSettings:
        """Read DIFFCHAT_COMPILE and DIFFCHAT_COMPILE_MODE; refuse (InputError) other values."""
        environ = os.environ if environ is None else environ
        switch = environ.get("DIFFCHAT_COMPILE", "").strip().lower()
        if switch not in _ON + _OFF:
            raise InputError(
                f"DIFFCHAT_COMPILE={environ['DIFFCHAT_COMPILE']!r} is neither on (1, true, yes, "
                "on) nor off (0, false, no, off, empty)."
            )
        mode = environ.get("DIFFCHAT_COMPILE_MODE", "").strip() or None
        if mode is not None and mode not in COMPILE_MODES:
            raise InputError(
                f"DIFFCHAT_COMPILE_MODE={mode!r} is not a torch.compile mode; choose one of "
                f"{', '.join(COMPILE_MODES)}."
            )
        return cls(enabled=switch in _ON, mode=mode)

    def resolved_mode(self, device: str) -> str:
        """Return the torch.compile mode for `device` ("cuda", "cuda:1", "cpu")."""
        return self.mode or DEFAULT_MODE["cuda" if device.startswith("cuda") else "cpu"]


def _compiled_modules(pipeline) -> list:
    modules = [getattr(pipeline, "unet", None)]
    vae = getattr(pipeline, "vae", None)
    modules.append(getattr(vae, "decoder", None))
    return [module for module in modules if module is not None]


def is_compiled(pipeline) -> bool:
    """Return True when the pipeline's UNet runs compiled."""
    unet = getattr(pipeline, "unet", None)
    return getattr(unet, "_compiled_call_impl", None) is not None


def eager(pipeline) -> None:
    """Put the pipeline's compiled modules back to eager execution (fused QKV etc. stay)."""
    for module in _compiled_modules(pipeline):
        # nn.Module.__call__ uses this slot when set (what nn.Module.compile fills in).
        module._compiled_call_impl = None


def _compile(module, name: str, mode: str) -> None:
    """Compile `module` in place; log each new input shape, which is when torch compiles."""
    import torch

    # forward, not _call_impl: each module class has its own code object, so the UNet's and
    # the decoder's sizes count against separate recompile limits.
    from torch.utils._pytree import tree_map_only

    compiled = torch.compile(module.forward, mode=mode, dynamic=False)
    seen_shapes: set[tuple] = set()
    cuda_graphs = mode in ("reduce-overhead", "max-autotune")

    def call(*args, **kwargs):
        sample = args[0] if args else next(iter(kwargs.values()))
        shape = tuple(getattr(sample, "shape", ()))
        if shape not in seen_shapes:
            seen_shapes.add(shape)
            log.info(
                "fast path: compiling the %s for input %s (mode %s; once per size, so this "
                "image takes longer)",
                name,
                "x".join(map(str, shape)),
                mode,
            )
        if not cuda_graphs:
            return compiled(*args, **kwargs)
        # A CUDA graph's outputs are overwritten by its next replay, and schedulers keep past
        # model outputs (PNDM's `ets`): hand out copies.
        torch.compiler.cudagraph_mark_step_begin()
        return tree_map_only(torch.Tensor, torch.clone, compiled(*args, **kwargs))

    module._compiled_call_impl = call


def _use_fp16_fix_vae(pipeline, kind: str, offline: bool) -> bool:
    import torch
    from diffusers import AutoencoderKL

    repo = FP16_FIX_VAES.get(kind)
    if repo is None or not pipeline.vae.config.get("force_upcast", False):
        return False
    try:
        vae = AutoencoderKL.from_pretrained(repo, dtype=torch.float16, local_files_only=offline)
    except (OSError, ValueError) as error:  # not cached offline, or unreachable
        log.info("fast path: %s not available (%s); SDXL keeps decoding in fp32", repo, error)
        return False
    pipeline.vae = vae.to(pipeline.device)
    return True


def apply(pipeline, settings: FastPathSettings, device: str, kind: str, offline: bool) -> list[str]:
    """Apply the fast path to a loaded pipeline in place; return what was applied (for the log).

    Never raises for an optimisation that is not available: it is left out with a log line.
    Compilation itself happens on the first call at each size (see `warm_up`).
    """
    import torch

    applied = []
    cuda = device.startswith("cuda")
    if cuda and pipeline.dtype == torch.float16 and _use_fp16_fix_vae(pipeline, kind, offline):
        applied.append(f"fp16 VAE {FP16_FIX_VAES[kind]}")
    for name in ("unet", "vae"):
        module = getattr(pipeline, name, None)
        try:
            module.fuse_qkv_projections()
            applied.append(f"fused QKV ({name})")
        except (AttributeError, ValueError, NotImplementedError) as error:
            # e.g. added KV projections (IP-Adapter style): diffusers refuses to fuse those.
            log.info("fast path: QKV of the %s not fused (%s)", name, error)
    if cuda:
        for name in ("unet", "vae"):
            getattr(pipeline, name).to(memory_format=torch.channels_last)
        applied.append("channels_last")
    mode = settings.resolved_mode(device)
    try:
        _compile(pipeline.unet, "UNet", mode)
        _compile(pipeline.vae.decoder, "VAE decoder", mode)
        applied.append(f"torch.compile {mode}")
    except Exception as error:  # torch.compile raises many types when a backend is missing
        eager(pipeline)
        log.warning("fast path: torch.compile unavailable (%s); running eagerly", error)
    log.info("fast path on: %s", ", ".join(applied) or "nothing applicable")
    return applied


def call(render, pipeline):
    """Return `render()`; if compilation fails in it, go eager (logged) and render again."""
    if not is_compiled(pipeline):
        return render()
    from torch._dynamo.exc import TorchDynamoException

    try:
        return render()
    except TorchDynamoException as error:  # compile/backend failures, not the model's own errors
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        log.warning("fast path: compilation failed (%s); this model now runs eagerly", first_line)
    # Retried outside the except block, so the failed attempt's tensors can be freed.
    eager(pipeline)
    return render()


def warm_up(pipeline, guidance_scale: float, steps: int = 2) -> None:
    """Render once at the model's native size so compilation happens at load, not mid-chat."""
    import torch

    log.info("fast path: compiling for the model's native size (once per model and size)")
    try:
        call(
            lambda: pipeline(
                "warm-up",
                num_inference_steps=steps,
                guidance_scale=guidance_scale,
                generator=torch.Generator("cpu").manual_seed(0),
            ),
            pipeline,
        )
    except torch.cuda.OutOfMemoryError:
        # Loading must not fail for want of memory: the first image (which can switch to
        # CPU offload, core.images) compiles instead.
        log.warning("fast path: warm-up ran out of GPU memory; compiling at the first image")
