"""Rewriter speed: `Rewriter.rewrite_batch` against a bare `model.generate` on the same inputs.

Both sides run the same model with the same decoding arguments (greedy, the rewriter's stop
conditions), so the ratio measures only what core/rewrite.py adds: the template,
tokenization, the lock, the RNG fork, decoding and first-line extraction. Target: >= 0.95x.
Also measured: cold load of the converted SmolLM2 folder (what every app start pays).
"""

from __future__ import annotations

import statistics
import time

PAIRS = [
    ("a castle on a hill at sunset, oil painting, trending on artstation", "change it to night"),
    ("a photo of a cat sitting on a sofa, high detail", "make the cat black"),
    ("portrait of a woman with red hair, studio lighting", "add a hat"),
    ("a red car parked in a street, photorealistic", "make it snowing"),
    ("a bowl of fruit on a wooden table, still life", "replace the apples with oranges"),
    ("a lighthouse on a cliff, stormy sea, dramatic", "make the sea calm"),
    ("a small cottage in a forest, watercolor", "add a river in front"),
    ("a robot walking in a city, cyberpunk, neon lights", "make it daytime"),
]
REPEATS = 3


def _cold_load_seconds() -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.assets.smollm2 import model_folder

    started = time.perf_counter()
    AutoTokenizer.from_pretrained(model_folder())
    AutoModelForCausalLM.from_pretrained(model_folder(), dtype=torch.float32)
    return time.perf_counter() - started


def main() -> None:
    import torch

    from bench.__main__ import machine_description, write_result
    from core.assets import smollm2
    from core.rewrite import format_rewrite_prompt, load_rewriter

    smollm2.fetch()
    cold_load = _cold_load_seconds()
    rewriter = load_rewriter()
    model, tokenizer = rewriter.model, rewriter.tokenizer
    inputs = tokenizer(
        [format_rewrite_prompt(p, i) for p, i in PAIRS], return_tensors="pt", padding=True
    )
    inputs = {key: value.to(model.device) for key, value in inputs.items()}
    kwargs = rewriter.generation_kwargs()

    def bare() -> int:
        with torch.inference_mode():
            output = model.generate(**inputs, **kwargs)
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return int((new_tokens != tokenizer.pad_token_id).sum())

    def wrapped() -> None:
        rewriter.rewrite_batch(PAIRS)

    generated_tokens = bare()  # warm-up (also builds the stop-string tables once)
    wrapped()
    bare_times, wrapped_times = [], []
    for _ in range(REPEATS):  # interleaved, so machine load hits both sides alike
        for run, times in ((bare, bare_times), (wrapped, wrapped_times)):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
    bare_s, wrapped_s = statistics.median(bare_times), statistics.median(wrapped_times)
    # Each adjacent pair ran under the same machine load: the median of their ratios is the
    # steadiest figure on a shared machine.
    ratio = statistics.median(b / w for b, w in zip(bare_times, wrapped_times, strict=True))
    markdown = f"""## Rewriter (`bench/bench_rewriter.py`)

Machine: {machine_description()}. Model: `{rewriter.name}` ({rewriter.description}),
batch of {len(PAIRS)} requests, greedy, {generated_tokens} new tokens per batch,
median of {REPEATS} interleaved runs.

| measure | value |
| --- | --- |
| bare `model.generate` | {generated_tokens / bare_s:.1f} tokens/s ({bare_s:.2f} s) |
| `Rewriter.rewrite_batch` | {generated_tokens / wrapped_s:.1f} tokens/s ({wrapped_s:.2f} s) |
| ratio, median over adjacent pairs (target >= 0.95) | {ratio:.3f}x |
| cold load of the converted SmolLM2 folder | {cold_load:.2f} s |
"""
    write_result("rewriter", markdown)
    print(markdown)
