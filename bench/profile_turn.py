"""Where the time of one image goes: per-phase timings of `core.images.generate` and the PNG write.

Phases (each the outermost call of that part; a part called inside another is counted in
the outer one): text encoding (`pipeline.encode_prompt`), UNet (one call per denoising
step, both guidance halves batched), scheduler (`scale_model_input` + `step`), VAE decode,
safety checker (`run_safety_checker`, which includes its own PIL conversion and CLIP
preprocessing), PIL conversion (`image_processor.postprocess`), the step callback
(`core.images._step_callback`: Stop check + progress), and PNG writing
(`GeneratedImage.save`). "rest" is what `generate` spends outside them: request checks,
CLIP token counting, latents, the PNG parameters text, diffusers' own glue.

On CUDA three passes follow a warm-up: (1) `torch.cuda.synchronize()` around every phase,
so each phase gets its device time; (2) no syncs inside, as the app runs: the wall time per
image, and per phase the host time to enqueue it (when the UNet's host time is close to its
device time the step is launch-bound: the GPU waits for Python); (3) implicit host syncs
counted per phase with `torch.cuda.set_sync_debug_mode("warn")` (`.item()`, `.cpu()`,
indexing a CPU table with a GPU tensor...). On the CPU there is nothing to synchronize:
one timed pass.

CPU, tiny pipelines of the offline set (seconds):
    nice -n 19 python bench/profile_turn.py --out bench/results/profile_turn_tiny_cpu.md
GPU, full-size SD 1.5 (with its safety checker, as `from_pretrained` loads it) and SDXL,
random weights, no download (about 2 minutes on an H100):
    python bench/profile_turn.py --full-size --tokenizer DIR --out FILE.md
DIR: a saved CLIPTokenizer (DIFFCHAT_HOME/models/clip-tokenizer). `--fast` turns on the
fast path (DIFFCHAT_COMPILE=1, core/fast_path.py) for the same passes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

PROMPT = "a watercolor painting of a lighthouse on a cliff at sunset, dramatic sky"
PHASES = (
    "text encoding",
    "UNet",
    "scheduler",
    "VAE decode",
    "safety checker",
    "PIL conversion",
    "step callback",
    "PNG writing",
)


class PhaseTimer:
    """Wraps a pipeline's parts so that every call of a part is timed as one phase.

    Only the outermost phase is timed (a part called inside another phase belongs to it).
    With `synchronize` (CUDA only) each phase is bracketed by `torch.cuda.synchronize()`.
    `active` names the phase running now (read by the sync counter). Use as a context
    manager: leaving it restores every wrapped attribute.
    """

    def __init__(self, synchronize: bool):
        self.synchronize = synchronize and torch.cuda.is_available()
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.active: str | None = None
        self._restore = []

    def _sync(self):
        if self.synchronize:
            torch.cuda.synchronize()

    def timed(self, function, phase: str):
        """Return `function` wrapped so that its calls are timed as `phase`."""

        def call(*args, **kwargs):
            if self.active is not None:
                return function(*args, **kwargs)
            self._sync()
            self.active = phase
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._sync()
                self.seconds[phase].append(time.perf_counter() - start)
                self.active = None

        return call

    def wrap(self, owner, attribute: str, phase: str) -> None:
        """Time `owner.attribute` (a method or function) as `phase` until the timer is left."""
        self._replace(owner, attribute, self.timed(getattr(owner, attribute), phase))

    def _replace(self, owner, attribute: str, value) -> None:
        original = getattr(owner, attribute)
        own = attribute in vars(owner)  # an instance attribute (or module global) to put back
        setattr(owner, attribute, value)
        self._restore.append(
            lambda: setattr(owner, attribute, original) if own else delattr(owner, attribute)
        )

    def wrap_pipeline(self, pipeline) -> None:
        """Wrap the phases of a diffusers text-to-image pipeline and of core.images."""
        from core import images

        self.wrap(pipeline, "encode_prompt", "text encoding")
        # A fast-path UNet runs its compiled-call slot (core/fast_path.py), not `forward`.
        compiled = getattr(pipeline.unet, "_compiled_call_impl", None) is not None
        self.wrap(pipeline.unet, "_compiled_call_impl" if compiled else "forward", "UNet")
        self.wrap(pipeline.scheduler, "scale_model_input", "scheduler")
        self.wrap(pipeline.scheduler, "step", "scheduler")
        self.wrap(pipeline.vae, "decode", "VAE decode")
        if hasattr(pipeline, "run_safety_checker"):
            self.wrap(pipeline, "run_safety_checker", "safety checker")
        self.wrap(pipeline.image_processor, "postprocess", "PIL conversion")
        make_callback = images._step_callback
        # Not the factory call: the callback it returns runs once per denoising step.
        self._replace(
            images,
            "_step_callback",
            lambda *args: self.timed(make_callback(*args), "step callback"),
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for restore in reversed(self._restore):
            restore()
        self._restore.clear()


@dataclass
class Profile:
    """Per-phase timings of one model: seconds per image and per call."""

    model: str
    size: int
    steps: int
    total: float  # seconds per image, wall (the app's view: unsynced on CUDA)
    device_seconds: dict[str, float]  # per phase per image, synced pass (CPU: the only pass)
    calls: dict[str, int]  # per image
    host_seconds: dict[str, float]  # per phase per image, unsynced pass (CUDA only)
    syncs: dict[str, int]  # implicit host syncs per phase per image (CUDA only)


def count_syncs(render, pipeline) -> dict[str, int]:
    """Render once with CUDA sync debugging on; return implicit syncs per phase."""
    counts: dict[str, int] = defaultdict(int)
    with PhaseTimer(synchronize=False) as timer, warnings.catch_warnings():
        timer.wrap_pipeline(pipeline)
        warnings.simplefilter("always")
        previous = warnings.showwarning

        def count(message, category, *args, **kwargs):
            if "synchroniz" in str(message).lower():
                counts[timer.active or "rest"] += 1
            else:
                previous(message, category, *args, **kwargs)

        warnings.showwarning = count
        torch.cuda.set_sync_debug_mode("warn")
        try:
            render()
        finally:
            torch.cuda.set_sync_debug_mode("default")
            warnings.showwarning = previous
    return dict(counts)


def profile_model(model: str, size: int, steps: int, repeats: int, out_dir: Path) -> Profile:
    """Load `model` through core.pipelines and profile `repeats` images after a warm-up."""
    from core import pipelines
    from core.images import GenerationRequest, generate

    request = GenerationRequest(
        PROMPT, model=model, num_inference_steps=steps, width=size, height=size
    )
    pipeline = pipelines.load_pipeline(model)
    cuda = torch.cuda.is_available() and str(pipeline.device).startswith("cuda")
    progress_seen = []

    def render(timer=None):
        # The worker's progress function puts an event on a queue; appending is the same cost.
        result = generate(request, progress=lambda s, t: progress_seen.append(s))
        if timer is None:
            return result.save(out_dir / "image.png")
        return timer.timed(result.save, "PNG writing")(out_dir / "image.png")

    render()  # warm-up: allocator, cuDNN/cuBLAS choices, compiled graphs
    totals = []
    with PhaseTimer(synchronize=cuda) as timer:
        timer.wrap_pipeline(pipeline)
        for _ in range(repeats):
            start = time.perf_counter()
            render(timer)
            totals.append(time.perf_counter() - start)
    device = {phase: sum(values) / repeats for phase, values in timer.seconds.items()}
    calls = {phase: len(values) // repeats for phase, values in timer.seconds.items()}
    host, syncs = {}, {}
    if cuda:
        totals = []
        with PhaseTimer(synchronize=False) as timer:
            timer.wrap_pipeline(pipeline)
            for _ in range(repeats):
                torch.cuda.synchronize()
                start = time.perf_counter()
                render(timer)
                torch.cuda.synchronize()
                totals.append(time.perf_counter() - start)
        host = {phase: sum(values) / repeats for phase, values in timer.seconds.items()}
        syncs = count_syncs(render, pipeline)
    return Profile(
        pipelines.current_spec().name if os.sep not in model else Path(model).name,
        size,
        steps,
        statistics.mean(totals),  # a mean, like the phases, so that "rest" is their difference
        device,
        calls,
        host,
        syncs,
    )


def markdown_table(profile: Profile) -> list[str]:
    """Return the Markdown rows of one profile."""
    cuda = bool(profile.host_seconds)
    header = "| phase | calls / image | ms / image | ms / call | share |"
    rule = "| --- | ---: | ---: | ---: | ---: |"
    if cuda:
        header += " host ms / image (unsynced) | implicit syncs / image |"
        rule += " ---: | ---: |"
    lines = [
        "",
        f"### {profile.model}, {profile.size}x{profile.size}, {profile.steps} steps: "
        f"{profile.total * 1000:.1f} ms per image (prompt to PNG file)",
        "",
        header,
        rule,
    ]
    measured = sum(profile.device_seconds.values())
    rows = [(phase, profile.device_seconds.get(phase)) for phase in PHASES]
    rows.append(("rest", max(0.0, profile.total - measured) if not cuda else None))
    for phase, seconds in rows:
        if phase == "rest" and cuda:
            seconds = max(0.0, profile.total - sum(profile.host_seconds.values()))
        if seconds is None:
            continue
        calls = profile.calls.get(phase, 1 if phase == "rest" else 0)
        per_call = f"{seconds * 1000 / calls:.2f}" if calls else "-"
        row = (
            f"| {phase} | {calls if phase != 'rest' else '-'} | {seconds * 1000:.2f} | "
            f"{per_call if phase != 'rest' else '-'} | {seconds / profile.total:.0%} |"
        )
        if cuda:
            host = profile.host_seconds.get(phase, seconds if phase == "rest" else 0.0)
            row += f" {host * 1000:.2f} | {profile.syncs.get(phase, 0)} |"
        lines.append(row)
    return lines


def tiny_models(folder: Path) -> list[tuple[str, int]]:
    """The offline set's tiny-sd (with a tiny safety checker added, as SD 1.5 ships) and tiny-sdxl."""
    from core.assets import fetch_all, tiny_pipelines
    from core.assets.local_hub import _tiny_safety_checker

    fetch_all(steps=("tiny_pipelines",))
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()

    pipeline = StableDiffusionPipeline.from_pretrained(tiny_pipelines.pipeline_folder("tiny-sd"))
    checker, processor = _tiny_safety_checker()
    pipeline.register_modules(safety_checker=checker, feature_extractor=processor)
    pipeline.register_to_config(requires_safety_checker=True)
    pipeline.save_pretrained(folder / "tiny-sd-with-safety-checker", safe_serialization=True)
    return [(str(folder / "tiny-sd-with-safety-checker"), 64), ("tiny-sdxl", 64)]


def full_size_models(folder: Path, tokenizer_dir: str) -> list[tuple[str, int]]:
    """Random-weight SD 1.5 (with a ViT-L/14 safety checker) and SDXL, saved in fp16."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPTokenizer

    from bench.text_to_image_gpu import build_sd15, build_sdxl

    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    sd15 = build_sd15(tokenizer)
    with torch.device("cuda"):
        # stable-diffusion-v1-5/safety_checker/config.json: CLIP ViT-L/14 vision tower.
        checker = StableDiffusionSafetyChecker(
            CLIPConfig(
                vision_config={"hidden_size": 1024, "intermediate_size": 4096,
                               "num_hidden_layers": 24, "num_attention_heads": 16,
                               "image_size": 224, "patch_size": 14},
                projection_dim=768,
            )
        )  # fmt: skip
    processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size=224)
    sd15.register_modules(safety_checker=checker, feature_extractor=processor)
    sd15.register_to_config(requires_safety_checker=True)
    sd15.to(torch.float16).save_pretrained(folder / "sd15-random", safe_serialization=True)
    del sd15, checker
    sdxl = build_sdxl(tokenizer)
    sdxl.to(torch.float16).save_pretrained(folder / "sdxl-random", safe_serialization=True)
    del sdxl
    torch.cuda.empty_cache()
    return [(str(folder / "sd15-random"), 512), (str(folder / "sdxl-random"), 1024)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-size", action="store_true", help="full-size SD 1.5 + SDXL (GPU)")
    parser.add_argument("--tokenizer", help="saved CLIPTokenizer folder (with --full-size)")
    parser.add_argument("--steps", type=int, help="denoising steps (default 10 tiny, 25/30 full)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--fast", action="store_true", help="with the fast path (DIFFCHAT_COMPILE=1)"
    )
    parser.add_argument("--out", help="Markdown file to write")
    args = parser.parse_args()
    if args.full_size and not (torch.cuda.is_available() and args.tokenizer):
        parser.error("--full-size needs a CUDA GPU and --tokenizer")
    if args.fast:
        os.environ["DIFFCHAT_COMPILE"] = "1"
    from bench.__main__ import machine_description
    from core import pipelines

    folder = Path(tempfile.mkdtemp(prefix="diffchat-profile-"))
    if args.full_size:
        models = full_size_models(folder, args.tokenizer)
        default_steps = {512: 25, 1024: 30}
    else:
        models = tiny_models(folder)
        default_steps = {64: 10}
    lines = [
        "## profile_turn: where the time of one image goes",
        "",
        f"Machine: {machine_description()}; diffusers {__import__('diffusers').__version__}. "
        f"{'Full-size random-weight architectures' if args.full_size else 'Tiny pipelines of the offline set'}, "
        f"{pipelines.RuntimeSettings().resolved_dtype()}, fast path "
        f"{'on' if args.fast else 'off'}; `core.images.generate` with a progress callback, then "
        f"the PNG write; mean of {args.repeats} images after a warm-up; load average "
        f"{os.getloadavg()[0]:.1f} at the start (a shared CPU: compare shares, not absolutes). "
        "`python bench/profile_turn.py` (its docstring says what each phase covers).",
    ]
    for model, size in models:
        steps = args.steps or default_steps[size]
        profile = profile_model(model, size, steps, args.repeats, folder)
        lines += markdown_table(profile)
        pipelines.unload()
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
