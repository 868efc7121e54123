"""One GPU run, side by side: diffusers fp16+SDPA vs DiffChat's fast path, and a whole chat turn.

Issue 14's targets, measured in one run on one card: SD 1.5 512x512 25 steps and SDXL
1024x1024 30 steps, (a) the bare diffusers pipeline call in fp16 with SDPA (what
`from_pretrained(..., dtype=float16)` gives) and (b) `core.images.generate` with the fast
path (DIFFCHAT_COMPILE=1, core/fast_path.py) for each compile mode asked for; the compile
time (load + warm-up) apart; the same-image check (fast vs eager image of the same request
and seed: max pixel difference and PSNR); then one whole chat turn
(`diffchat_ui.turns.run_turn`: SmolLM2 rewrite on the GPU + SD 1.5 render + the scores the
turn shows), eager and fast, with its phases.

No download: full-size architectures with random weights (speed does not depend on the
weight values). SD 1.5 and SDXL as in bench/text_to_image_gpu.py (SD 1.5 with its ViT-L/14
safety checker, as the real repo ships), the scorers as in bench/scoring_full_size.py,
SmolLM2-135M from its config.json (random weights: the rewrite runs to max_new_tokens
unless it draws the end token, so the rewrite time is an upper bound). Its tokenizer and
the CLIP tokenizer are read from folders (see below). The random-weight SDXL VAE keeps
`force_upcast` (the fp16-fix VAE cannot be downloaded there); one extra row decodes it in
fp16 as the fp16-fix VAE allows (same architecture, `force_upcast=False`), labelled.

Rows run in this order and each is skipped (and says so) once `--budget-s` is spent, so
the table is always written (after every row, to `--out`): SD 1.5 eager, SD 1.5 fast per
mode, chat turn, SDXL eager, SDXL fast, SDXL fast + fp16 decode. About 8-10 minutes on an
H100 with the default modes (max-autotune compiles take most of it).

On the GPU machine (no network) carry, besides the working tree:
- wheels the machine lacks, checked with `pip list` there first (earlier lent machines had
  torch and transformers, and needed diffusers==0.42.1 and compel==2.5.1; this script also
  needs open_clip_torch==3.3.0 with ftfy and timm, peft, nltk, safetensors);
- the SmolLM2 tokenizer: DIFFCHAT_HOME/models/smollm2-135m-instruct/{tokenizer.json,
  tokenizer_config.json} (3.5 MB; not the 538 MB weights) -> `--lm-tokenizer DIR`;
- a saved CLIPTokenizer (DIFFCHAT_HOME/models/clip-tokenizer) -> `--tokenizer DIR`.
Run: `python bench/chat_turn_gpu.py --tokenizer DIR --lm-tokenizer DIR --out $OUT/chat_turn_gpu.md`,
then copy the file to bench/results/chat_turn_gpu.md.

CPU check of the same code on the tiny pipelines, tiny scorers and a tiny random LM
(no timing value): `nice -n 19 python bench/chat_turn_gpu.py --tiny --out /tmp/x.md`.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.profile_turn import PROMPT  # noqa: E402

INSTRUCTION = "make it a winter night with snow"
# SmolLM2-135M-Instruct's config.json (HuggingFaceTB/SmolLM2-135M-Instruct).
SMOLLM2_CONFIG = dict(
    vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
    num_attention_heads=9, num_key_value_heads=3, head_dim=64, hidden_act="silu",
    max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=100000.0,
    tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2,
)  # fmt: skip
TINY_LM_CONFIG = {**SMOLLM2_CONFIG, "hidden_size": 64, "intermediate_size": 128,
                  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                  "head_dim": 16}  # fmt: skip


class Budget:
    """Seconds left for the run; rows that start after it is spent are skipped."""

    def __init__(self, seconds: float):
        self.deadline = time.perf_counter() + seconds

    def left(self) -> float:
        return self.deadline - time.perf_counter()


class Report:
    """The Markdown result, rewritten to `path` after every row (a timeout keeps what ran)."""

    def __init__(self, path: str | None, header: list[str]):
        self.path = path
        self.lines = header

    def add(self, *lines: str) -> None:
        self.lines += lines
        for line in lines:
            print(line, flush=True)
        if self.path:
            Path(self.path).write_text("\n".join(self.lines) + "\n")


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(call, repeats: int) -> float:
    """Median seconds of `call` after one warm-up, synchronized on CUDA."""
    call()
    times = []
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        call()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def image_difference(first, second) -> tuple[int, float]:
    """Return (max abs pixel difference in levels of 255, PSNR in dB) of two PIL images."""
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    mse = float(np.mean((a - b) ** 2))
    psnr = math.inf if mse == 0 else 10 * math.log10(255**2 / mse)
    return int(np.abs(a - b).max()), psnr


def bare_call(folder: str, size: int, steps: int, device: str):
    """Return a function rendering with the bare diffusers pipeline (fp16 on CUDA, SDPA)."""
    from diffusers import DiffusionPipeline

    dtype = torch.float16 if device == "cuda" else torch.float32
    pipeline = DiffusionPipeline.from_pretrained(folder, dtype=dtype).to(device)
    pipeline.set_progress_bar_config(disable=True)

    def call():
        generator = torch.Generator("cpu").manual_seed(0)
        return pipeline(
            PROMPT, num_inference_steps=steps, width=size, height=size, generator=generator
        ).images[0]

    return pipeline, call


def core_settings(mode: str | None):
    from core import pipelines
    from core.fast_path import FastPathSettings

    return pipelines.RuntimeSettings(fast_path=FastPathSettings(mode is not None, mode))


def core_render(folder: str, size: int, steps: int, mode: str | None):
    """Load `folder` through core.pipelines (fast path with `mode`, eager for None); time the load."""
    from core import pipelines
    from core.images import GenerationRequest, generate

    pipelines.unload()
    synchronize()
    start = time.perf_counter()
    pipelines.load_pipeline(folder, core_settings(mode))  # the fast path compiles here
    synchronize()
    load_seconds = time.perf_counter() - start
    request = GenerationRequest(
        PROMPT, model=folder, num_inference_steps=steps, width=size, height=size, seed=0
    )
    # generate() loads with the environment's settings: make them the same as above.
    os.environ["DIFFCHAT_COMPILE"] = "1" if mode else "0"
    os.environ["DIFFCHAT_COMPILE_MODE"] = mode or ""
    return load_seconds, lambda: generate(request).image


def model_rows(report, budget, title, folder, size, steps, modes, repeats, device, min_left):
    """Bare diffusers vs core eager vs core fast path per mode, with the same-image check."""
    report.add("", f"### {title}", "", "| setting | s / image | vs diffusers | load + compile s | max pixel diff / PSNR vs eager |", "| --- | ---: | ---: | ---: | --- |")  # fmt: skip
    if budget.left() < min_left:
        report.add("| (all rows) | skipped: time budget spent | | | |")
        return None
    pipeline, bare = bare_call(folder, size, steps, device)
    bare_seconds = timed(bare, repeats)
    dtype = "fp16" if device == "cuda" else "fp32"
    report.add(f"| diffusers {dtype} + SDPA, bare pipeline call | {bare_seconds:.3f} | 1.00x | | |")
    del pipeline, bare
    if device == "cuda":
        torch.cuda.empty_cache()
    load_seconds, render = core_render(folder, size, steps, None)
    eager_image = render()
    eager_seconds = timed(render, repeats)
    report.add(
        f"| core.images.generate, eager (DiffChat default) | {eager_seconds:.3f} | "
        f"{bare_seconds / eager_seconds:.2f}x | {load_seconds:.1f} | |"
    )
    for mode in modes:
        if budget.left() < min_left:
            report.add(f"| fast path, {mode} | skipped: time budget spent | | | |")
            continue
        load_seconds, render = core_render(folder, size, steps, mode)
        fast_image = render()
        fast_seconds = timed(render, repeats)
        diff, psnr = image_difference(fast_image, eager_image)
        report.add(
            f"| core.images.generate, fast path {mode} | {fast_seconds:.3f} | "
            f"{bare_seconds / fast_seconds:.2f}x | {load_seconds:.1f} | {diff} / {psnr:.1f} dB |"
        )
    return eager_image


def sdxl_fp16_decode_row(report, budget, folder, size, steps, mode, repeats, min_left):
    """SDXL fast path with the VAE decoding in fp16 (what the fp16-fix VAE allows)."""
    from core import pipelines

    if budget.left() < min_left:
        report.add(f"| fast path {mode} + fp16 VAE decode | skipped: time budget spent | | | |")
        return
    load_seconds, render = core_render(folder, size, steps, mode)
    pipelines.load_pipeline(folder).vae.register_to_config(force_upcast=False)
    seconds = timed(render, repeats)
    report.add(
        f"| fast path {mode} + fp16 VAE decode (fp16-fix VAE's setting; changes the image) "
        f"| {seconds:.3f} | | {load_seconds:.1f} | |"
    )


def lm_folder(folder: Path, tokenizer_dir: str, config: dict, device: str) -> str:
    """Save a random-weight SmolLM2-architecture causal LM with the real tokenizer."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    with torch.device(device):
        model = LlamaForCausalLM(LlamaConfig(**config))
    model.save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(folder)
    return str(folder)


def prepare_scorers(folder: Path, device: str, tiny: bool) -> None:
    """Put the turn's scorers in diffchat_ui.turns' process cache (as the app builds them once)."""
    from core.scoring import SCORE_NAMES, SCORERS, build_scorer
    from diffchat_ui import turns

    if tiny:
        return  # run_turn(tiny=True) builds the offline set's tiny twins itself
    from bench.scoring_full_size import scorer_arguments

    arguments = scorer_arguments(folder, device)
    for name in SCORE_NAMES:
        if name in arguments:
            turns._scorers[name, False] = SCORERS[name](device=device, **arguments[name])
        else:  # content integrity: text only, no weights
            turns._scorers[name, False] = build_scorer(name)


def chat_turn_rows(report, budget, sd15_folder, steps, mode, rewriter, tiny, repeats, min_left):
    """A whole edit turn (rewrite + render + scores), eager and with the fast path."""
    from bench.profile_turn import PhaseTimer
    from core import images
    from core.errors import DiffChatError
    from diffchat_ui import turns

    report.add("", f"### A whole chat turn: rewrite ({'tiny LM' if tiny else 'SmolLM2-135M'}) + SD 1.5 render + scores", "", "| render | turn s (median) | one more turn, phased: total s | rewrite s | render s | scores s | scores shown |", "| --- | ---: | ---: | ---: | ---: | ---: | --- |")  # fmt: skip
    source = images.generate(images.GenerationRequest(PROMPT, model=sd15_folder, num_inference_steps=steps, seed=0))  # fmt: skip
    request = images.EditRequest(
        source.image, INSTRUCTION, prompt=PROMPT, model=sd15_folder, seed=0,
        num_inference_steps=steps, rewriter=rewriter,
    )  # fmt: skip
    runs = [("eager", None)] + ([(f"fast path {mode}", mode)] if mode else [])
    for label, turn_mode in runs:
        if budget.left() < min_left:
            report.add(f"| {label} | skipped: time budget spent | | | | | |")
            continue
        core_render(sd15_folder, None, steps, turn_mode)  # load (and compile) outside the turn

        def turn():
            # The worker's progress function (an event on a queue) costs about nothing.
            return turns.run_turn(request, lambda *a: None, threading.Event(), tiny=tiny, source_image=source.image)  # fmt: skip

        try:
            seconds = timed(turn, repeats)
            with PhaseTimer(synchronize=True) as timer:
                timer.wrap(turns, "rewrite_for_turn", "rewrite")
                timer.wrap(images, "edit", "render")
                timer.wrap(turns, "score_images", "scores")
                start = time.perf_counter()
                result = turn()
                phased_seconds = time.perf_counter() - start
        except DiffChatError as error:  # e.g. a random-weight rewrite that came out empty
            report.add(f"| {label} | failed: {error} | | | | | |")
            continue
        phase = {name: values[0] for name, values in timer.seconds.items()}
        shown = ", ".join(sorted(result.scores)) or "none"
        if result.notes:
            shown += "; " + "; ".join(result.notes)
        report.add(
            f"| {label} | {seconds:.3f} | {phased_seconds:.3f} | {phase.get('rewrite', 0):.3f} | "
            f"{phase.get('render', 0):.3f} | {phase.get('scores', 0):.3f} | {shown} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="CPU check on the tiny pipelines")
    parser.add_argument("--tokenizer", help="saved CLIPTokenizer folder (default: built from open_clip's vocabulary)")  # fmt: skip
    parser.add_argument("--lm-tokenizer", help="SmolLM2 tokenizer folder (default DIFFCHAT_HOME/models/smollm2-135m-instruct)")  # fmt: skip
    parser.add_argument("--sd15-modes", nargs="*", default=["max-autotune-no-cudagraphs", "reduce-overhead"])  # fmt: skip
    parser.add_argument("--sdxl-modes", nargs="*", default=["max-autotune-no-cudagraphs"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget-s", type=float, default=540, help="skip rows after this many seconds")  # fmt: skip
    parser.add_argument("--out", help="Markdown file to write (after every row)")
    args = parser.parse_args()
    device = "cpu" if args.tiny else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA GPU here; use --tiny for the CPU check")
    budget = Budget(args.budget_s)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import diffusers

    from bench.__main__ import machine_description
    from core.paths import models_dir

    card = torch.cuda.get_device_name(0) if device == "cuda" else machine_description()
    report = Report(args.out, [
        "## chat_turn_gpu: diffusers fp16+SDPA vs the fast path, and a whole chat turn",
        "",
        f"Card: {card}; torch {torch.__version__}, diffusers {diffusers.__version__}, "
        f"transformers {__import__('transformers').__version__}. Random-weight full-size "
        f"architectures{' (tiny pipelines: a code check, no timing value)' if args.tiny else ''}; "
        f"median of {args.repeats} after a warm-up; prompt to PIL image, guidance 7.5. "
        "Same image: the fast path's image vs the eager image of the same request and seed. "
        "`python bench/chat_turn_gpu.py` (its docstring lists what it needs carried).",
    ])  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="diffchat-chat-turn-"))
    lm_tokenizer = args.lm_tokenizer or str(models_dir() / "smollm2-135m-instruct")
    if args.tiny:
        from bench.profile_turn import tiny_models
        from core.assets import fetch_all
        from core.assets.tiny_pipelines import pipeline_folder

        fetch_all(steps=("language_data", "tiny_pipelines", "tiny_scorers"))
        sd15, sdxl = tiny_models(folder)[0][0], str(pipeline_folder("tiny-sdxl"))
        sizes, steps, lm_config = (64, 64), (4, 4), TINY_LM_CONFIG
        # The CPU check compiles in the CPU's default mode (max-autotune tunes for minutes);
        # `--sd15-modes --sdxl-modes` with no values checks the eager rows only.
        sd15_modes = ["default"] if args.sd15_modes else []
        sdxl_modes = ["default"] if args.sdxl_modes else []
        min_left = 0
    else:
        from bench.profile_turn import full_size_models
        from core.assets.clip_vocab import load_clip_tokenizer

        tokenizer_dir = args.tokenizer
        if tokenizer_dir is None:
            tokenizer_dir = str(folder / "clip-tokenizer")
            load_clip_tokenizer().save_pretrained(tokenizer_dir)
        (sd15, _), (sdxl, _) = full_size_models(folder, tokenizer_dir)
        sizes, steps, lm_config = (512, 1024), (25, 30), SMOLLM2_CONFIG
        sd15_modes, sdxl_modes, min_left = args.sd15_modes, args.sdxl_modes, 150
    title = "SD 1.5, {0}x{0}, {1} steps (PNDM), batch 1, with the safety checker"
    model_rows(report, budget, title.format(sizes[0], steps[0]), sd15, sizes[0], steps[0], sd15_modes, args.repeats, device, min_left)  # fmt: skip
    if budget.left() >= min_left:
        rewriter = lm_folder(folder / "smollm2-random", lm_tokenizer, lm_config, device)
        prepare_scorers(folder / "scorers", device, args.tiny)
        turn_mode = sd15_modes[0] if sd15_modes else None
        chat_turn_rows(report, budget, sd15, steps[0], turn_mode, rewriter, args.tiny, max(1, args.repeats // 2), min_left)  # fmt: skip
    else:
        report.add("", "### A whole chat turn", "", "skipped: time budget spent")
    title = "SDXL base, {0}x{0}, {1} steps (Euler), batch 1"
    model_rows(report, budget, title.format(sizes[1], steps[1]), sdxl, sizes[1], steps[1], sdxl_modes, args.repeats, device, min_left)  # fmt: skip
    if sdxl_modes:
        sdxl_fp16_decode_row(report, budget, sdxl, sizes[1], steps[1], sdxl_modes[0], args.repeats, min_left)  # fmt: skip
    report.add("", f"Total run time {args.budget_s - budget.left():.0f} s.")


if __name__ == "__main__":
    main()
