"""Images scored per second, batched vs one by one, on the tiny random-weight scorer twins.

Both modes run in the same process on the same images, so the ratio is meaningful even on a
noisy shared machine; absolute numbers only describe that machine. The tiny models are so
small that the ratio mostly measures per-call overhead (preprocessing, Python, kernel
launches), which is what batching removes.
"""

from __future__ import annotations

import time

import numpy as np
from PIL import Image

from bench.__main__ import machine_description, write_result
from core.scoring import SCORE_NAMES, EditContext, build_scorer

NUM_IMAGES = 32
BATCH_SIZE = 16
REPEATS = 3


def _images_per_second(scorer, images, prompts, edits) -> float:
    scorer.score(images[:2], prompts[:2], edits[:2])  # warm-up: loading, first kernels
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        scorer.score(images, prompts, edits)
        best = min(best, time.perf_counter() - start)
    return len(images) / best


def main() -> None:
    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
        for _ in range(NUM_IMAGES)
    ]
    prompts = [f"a photo of object number {i}, highly detailed" for i in range(NUM_IMAGES)]
    edits = [
        EditContext("a photo", "add detail", prompt, images[-1 - i])
        for i, prompt in enumerate(prompts)
    ]
    lines = [
        "## Scoring throughput (tiny scorer twins)",
        "",
        f"Machine: {machine_description()}. {NUM_IMAGES} images of 64x64, best of {REPEATS} runs; "
        f"batched = batch size {BATCH_SIZE}. `python -m bench scoring`.",
        "",
        "| score | one by one (img/s) | batched (img/s) | speed-up |",
        "| --- | --- | --- | --- |",
    ]
    for name in SCORE_NAMES:
        if name == "content_integrity":
            continue  # text only, no model: nothing to batch
        single = _images_per_second(
            build_scorer(name, tiny=True, batch_size=1), images, prompts, edits
        )
        batched = _images_per_second(
            build_scorer(name, tiny=True, batch_size=BATCH_SIZE), images, prompts, edits
        )
        lines.append(f"| {name} | {single:.1f} | {batched:.1f} | {batched / single:.2f}x |")
        print(lines[-1], flush=True)
    path = write_result("scoring", "\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
