"""Content-integrity throughput, and the cost of scoring every prefix of a 77-token output.

Issue target: CI on all prefixes of a 77-token output costs at most 3x one full call.
Both sides are measured from a cold text cache (the PPO case: every rollout text is new),
with the word-level caches (lemmas, synonyms) warm, as they are after a few PPO steps.
"""

from __future__ import annotations

import statistics
import time

from bench.__main__ import machine_description, write_result
from core.content_integrity import PrefixContentIntegrity, content_integrity
from core.nlp import tagged_lemmas

RAW = "a majestic horse standing in a misty meadow at dawn, golden light, highly detailed"
INSTRUCTION = "turn the horse into a zebra and make it snow"
TARGET = "a majestic zebra standing in a snowy meadow at dawn, golden light, highly detailed"
OUTPUT_WORDS = (
    "a majestic zebra standing in a snowy meadow at dawn with falling snow, golden light, "
    "soft mist, frosted grass, highly detailed, digital painting, artstation, sharp focus, "
    "dramatic composition, volumetric lighting, cinematic atmosphere, trending"
).split(" ")


def _output_tokens(variant: int) -> list[str]:
    # 77 tokens, roughly subword-sized; `variant` makes each text unique (cold text caches).
    text = " ".join(OUTPUT_WORDS) + f" v{variant}"
    pieces = []
    for word in text.split(" "):
        pieces += [(" " if pieces else "") + word[:4]] + ([word[4:]] if len(word) > 4 else [])
    return (pieces + [" ,"] * 77)[:77]


def _clear_text_caches():
    tagged_lemmas.cache_clear()


def main() -> None:
    content_integrity(RAW, INSTRUCTION, TARGET, " ".join(OUTPUT_WORDS))  # warm word caches
    full_times, prefix_times = [], []
    for variant in range(30):
        tokens = _output_tokens(variant)
        _clear_text_caches()
        start = time.perf_counter()
        content_integrity(RAW, INSTRUCTION, TARGET, "".join(tokens))
        full_times.append(time.perf_counter() - start)
        _clear_text_caches()
        start = time.perf_counter()
        PrefixContentIntegrity(RAW, INSTRUCTION, TARGET).prefix_scores(tokens)
        prefix_times.append(time.perf_counter() - start)
    full, prefixes = statistics.median(full_times), statistics.median(prefix_times)
    naive = []
    for variant in range(3):
        tokens = _output_tokens(100 + variant)
        _clear_text_caches()
        start = time.perf_counter()
        for t in range(len(tokens)):
            content_integrity(RAW, INSTRUCTION, TARGET, "".join(tokens[: t + 1]))
        naive.append(time.perf_counter() - start)
    markdown = f"""## Content-integrity score

Machine: {machine_description()}

| measure | value |
| --- | --- |
| one full CI call (cold text, warm word caches) | {full * 1e3:.2f} ms ({1 / full:.0f} calls/s) |
| all 77 prefixes, incremental (`PrefixContentIntegrity`) | {prefixes * 1e3:.2f} ms |
| **incremental prefixes / one full call** (target <= 3x) | **{prefixes / full:.2f}x** |
| all 77 prefixes, one full call each (naive) / one full call | {statistics.median(naive) / full:.1f}x |
"""
    write_result("content_integrity", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
