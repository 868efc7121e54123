"""Best-of-N rewriting (beyond the paper): sample N rewrites, render each, keep the best image.

The candidates are drawn with locally typical sampling (the sampler DiffChat uses for positive
samples, section 3.3 eq. 3), rendered with the same generation request (same model and seed),
scored, and ranked by a user-chosen weighted mix of the scores. Scores live on different
scales (PickScore ~20, aesthetic ~6, CI ~90), so each is standardised across the N candidates
before weighting: a weight says how much that score matters, not how big its numbers are.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from core.errors import InputError
from core.scoring import SCORE_NAMES, EditContext, ImageScorer, build_scorer

DEFAULT_WEIGHTS: dict[str, float] = {"pickscore": 1.0, "aesthetic": 1.0}
DEFAULT_TYPICAL_P = 0.97  # DiffChat Table 3 (ADM typical sampling probability)


@dataclass
class Candidate:
    """One sampled rewrite with its image, its raw scores and its weighted mix (higher = better)."""

    prompt: str
    image: object  # PIL.Image.Image
    scores: dict[str, float] = field(default_factory=dict)
    combined: float = 0.0


def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Return the weights with zero entries dropped.

    Refuses (InputError) unknown score names, negative or non-finite weights, and a mix with
    no positive weight.
    """
    unknown = sorted(set(weights) - set(SCORE_NAMES))
    if unknown:
        raise InputError(
            f"Unknown score(s) in weights: {', '.join(unknown)}. Scores are: {', '.join(SCORE_NAMES)}."
        )
    for name, weight in weights.items():
        if not math.isfinite(weight) or weight < 0:
            raise InputError(f"The weight of {name} must be a non-negative number, got {weight}.")
    kept = {name: float(weight) for name, weight in weights.items() if weight > 0}
    if not kept:
        raise InputError("Give at least one score a positive weight.")
    return kept


def parse_weights(text: str) -> dict[str, float]:
    """Parse "pickscore=1,aesthetic=0.5" into a checked weights dict (see `check_weights`)."""
    weights = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            weights[name.strip()] = float(value) if sep else 1.0
        except ValueError:
            raise InputError(f"Cannot read the weight {part!r}; write NAME=NUMBER.") from None
    return check_weights(weights)


def combine_scores(
    scores: Mapping[str, Sequence[float]], weights: Mapping[str, float]
) -> list[float]:
    """Return the weighted mix per candidate: sum of weight * standardised score.

    Each score is standardised across the candidates ((x - mean) / std); a score that is the
    same for all candidates (std 0) or NaN contributes nothing.
    """
    count = len(next(iter(scores.values()))) if scores else 0
    combined = [0.0] * count
    for name, weight in weights.items():
        values = list(scores[name])
        finite = [value for value in values if math.isfinite(value)]
        if len(finite) < 2:
            continue
        mean = sum(finite) / len(finite)
        std = math.sqrt(sum((value - mean) ** 2 for value in finite) / len(finite))
        if std == 0:
            continue
        for index, value in enumerate(values):
            if math.isfinite(value):
                combined[index] += weight * (value - mean) / std
    return combined


def best_of_n(
    rewriter,
    prompt: str,
    instruction: str,
    num_candidates: int,
    weights: Mapping[str, float],
    request,
    seed: int = 0,
    typical_p: float = DEFAULT_TYPICAL_P,
    scorers: Mapping[str, ImageScorer] | None = None,
    raw_image=None,
    reference_target: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel_event=None,
    sampled: Sequence[str] | None = None,
) -> list[Candidate]:
    """Return the distinct sampled rewrites of `prompt` with images and scores, best first.

    `request` is a `core.images.GenerationRequest`; each candidate is rendered with it, only the
    prompt replaced. `scorers` maps score names to loaded scorers (built on demand otherwise).
    The directional score needs the raw image (rendered from `prompt` with the same request
    when not given); the content-integrity score compares with `reference_target`, which
    defaults to the raw prompt followed by the instruction (everything the user asked to
    keep). `progress(done, total)` is called after each render. `sampled`: rewrites already
    drawn (a chat API's, asked outside the model worker); then `rewriter` is not asked.

    Refuses (InputError) fewer than one candidate and invalid weights; raises
    ModelUnavailableError when a weighted scorer's weights are absent.
    """
    from core.images import generate

    if num_candidates < 1:
        raise InputError(f"Best-of-N needs at least one candidate, got {num_candidates}.")
    weights = check_weights(weights)
    scorers = dict(scorers or {})
    for name in weights:
        scorers.setdefault(name, build_scorer(name))

    # 1. sample N rewrites; identical samples would only cost renders
    if sampled is None:
        sampled = rewriter.sample(
            prompt, instruction, num_candidates, typical_p=typical_p, seed=seed
        )
    prompts = list(dict.fromkeys(text.strip() for text in sampled if text.strip()))
    if not prompts:
        raise InputError("The rewriter produced no candidate prompt; try another instruction.")

    # 2. render every candidate with the same request (same model, seed, steps)
    needs_raw = any(scorers[name].needs_edit_context for name in weights)
    total = len(prompts) + (1 if needs_raw and raw_image is None else 0)
    if needs_raw and raw_image is None:
        raw_image = generate(
            dataclasses.replace(request, prompt=prompt), cancel_event=cancel_event
        ).image
        if progress:
            progress(1, total)
    images = []
    for text in prompts:
        rendered = generate(dataclasses.replace(request, prompt=text), cancel_event=cancel_event)
        images.append(rendered.image)
        if progress:
            progress(total - len(prompts) + len(images), total)

    # 3. score, mix, rank
    reference = reference_target or f"{prompt}, {instruction}"
    edits = [EditContext(prompt, instruction, reference, raw_image)] * len(prompts)
    table = {name: scorers[name].score(images, prompts, edits) for name in weights}
    combined = combine_scores(table, weights)
    candidates = [
        Candidate(text, image, {name: table[name][i] for name in weights}, combined[i])
        for i, (text, image) in enumerate(zip(prompts, images, strict=True))
    ]
    # sorted() is stable: ties keep the sampling order.
    return sorted(candidates, key=lambda candidate: -candidate.combined)
