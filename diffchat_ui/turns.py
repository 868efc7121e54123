"""One chat turn as a worker task: render (first turn) or edit, then score.

The Create tab packs its widgets into the library's own request dataclasses
(`core.images.GenerationRequest` for the first turn, `core.images.EditRequest` after);
`run_turn` runs on the worker thread and only calls the library.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.errors import DiffChatError
from diffchat_ui.worker import ProgressFn

log = logging.getLogger(__name__)

MODE_LABELS = {
    "rewrite only": "rewrite",
    "keep composition": "keep",
    "InstructPix2Pix": "ip2p",
}


@dataclass
class TurnResult:
    """What a finished turn produced."""

    prompt: str
    image: Any  # PIL.Image
    parameters: dict
    scores: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # True when the rewriter gave back the prompt it was given: nothing was rendered.
    unchanged: bool = False


def same_prompt(first: str, second: str) -> bool:
    """Return True when two prompts differ only in case and spacing (a no-op rewrite)."""
    return " ".join(first.split()).lower() == " ".join(second.split()).lower()


def rewrite_for_turn(request, sample_seed: int | None = None) -> str:
    """Return the target prompt of an EditRequest: the rewriter's answer (verified decoding
    with the request's candidates), or with `sample_seed` ("try again" after a no-op) that
    many sampled rewrites, the reader's check choosing among them (core.rewrite.choose_sample)."""
    from core.rewrite import choose_sample, load_rewriter

    rewriter = load_rewriter(request.rewriter)
    prompt, instruction, count = request.prompt, request.instruction, request.rewrite_candidates
    if sample_seed is None:
        return rewriter.rewrite(prompt, instruction, candidates=count)
    return choose_sample(
        prompt, instruction, rewriter.sample(prompt, instruction, count, seed=sample_seed)
    )


def run_turn(
    request,
    progress: ProgressFn,
    cancel_event: threading.Event,
    score: bool = True,
    tiny: bool = False,
    source_image=None,
    sample_seed: int | None = None,
) -> TurnResult:
    """Run one turn and return its prompt, image and scores.

    A GenerationRequest renders the starting prompt; an EditRequest applies one DiffChat
    edit (rewrite y = LM(x, i) and render with the session seed, keep composition, or
    InstructPix2Pix). `source_image` is the image before the edit (for the edit scores);
    `tiny` scores with the random-weight twins of the offline set. A rewrite that gives back
    the prompt unchanged renders nothing: the result has `unchanged` set and no image (a
    prompt given as `target_prompt`, e.g. edited by hand, is always rendered). `sample_seed`
    draws a sampled rewrite instead of the greedy one. Raises the library's DiffChatError
    subclasses (GenerationCancelled on Stop).
    """
    from core import images

    def step_progress(step: int, total: int) -> None:
        progress(step, total, "denoising")

    if isinstance(request, images.EditRequest):
        if request.mode != "ip2p" and request.target_prompt is None:
            progress(0, 0, f"rewriting the prompt with {request.rewriter}")  # a phase without steps
            target_prompt = rewrite_for_turn(request, sample_seed)
            if same_prompt(target_prompt, request.prompt):
                return TurnResult(target_prompt, None, {}, unchanged=True)
            request = replace(request, target_prompt=target_prompt)
        say_model_loading(request.ip2p_model if request.mode == "ip2p" else request.model, progress)
        edited = images.edit(request, progress=step_progress, cancel_event=cancel_event)
        result = TurnResult(edited.target_prompt, edited.image, dict(edited.parameters))
    else:
        say_model_loading(request.model, progress)
        generated = images.generate(request, progress=step_progress, cancel_event=cancel_event)
        result = TurnResult(request.prompt, generated.image, dict(generated.parameters))
    if score:
        edits = None
        if isinstance(request, images.EditRequest) and request.prompt:
            from core.scoring import EditContext

            edits = [EditContext(request.prompt, request.instruction, raw_image=source_image)]
        per_image, result.notes = score_images([result.image], [result.prompt], edits, tiny)
        result.scores = per_image[0]
    return result


def say_model_loading(model: str, progress: ProgressFn) -> None:
    """Report "loading MODEL" as a phase of its own when the render must load it first (real
    weights take tens of seconds), instead of a progress overlay with no words until the
    first denoising step."""
    from core import pipelines
    from core.registry import get_model_spec

    try:
        name = get_model_spec(model).name
    except DiffChatError:
        return  # the render refuses it itself, with its message
    loaded = pipelines.current_spec()
    if loaded is None or loaded.name != name:
        progress(0, 0, f"loading {name}")


_scorers: dict[tuple[str, bool], object] = {}
_scorers_lock = threading.Lock()


def shared_scorer(name: str, tiny: bool):
    """Return the process-wide scorer `name` (its tiny twin when `tiny`), built on first use."""
    # Built once per process and reused: loading CLIP-sized weights per turn would dominate.
    from core.scoring import build_scorer

    with _scorers_lock:
        if (name, tiny) not in _scorers:
            _scorers[name, tiny] = build_scorer(name, tiny=tiny)
        return _scorers[name, tiny]


def score_images(images_: list, prompts: list[str], edits: list | None = None, tiny: bool = False):
    """Return ([{score name: value}] per image, notes) from every scorer that can run.

    Scores that judge an edit (directional CLIP, content integrity) run only when `edits`
    (core.scoring.EditContext per image) is given. A scorer whose weights are absent is left
    out with a note naming it; the others still run.
    """
    from core.scoring import SCORE_NAMES, SCORERS

    scores: list[dict[str, float]] = [{} for _ in images_]
    notes = []
    for name in SCORE_NAMES:
        if SCORERS[name].needs_edit_context and edits is None:
            continue
        try:
            values = shared_scorer(name, tiny).score(
                images_, prompts, edits if SCORERS[name].needs_edit_context else None
            )
        except DiffChatError as error:  # missing weights: say which, keep the others
            notes.append(f"{name} not scored: {error}")
            continue
        except Exception as error:  # a broken scorer must not cost the user the image
            log.exception("scorer %s failed", name)
            notes.append(f"{name} not scored: {type(error).__name__}: {error}")
            continue
        for per_image, value in zip(scores, values, strict=True):
            per_image[name] = float(value)
    return scores, notes


def save_turn_image(result: TurnResult, folder: Path, name: str) -> Path:
    """Write the turn's PNG with its generation parameters embedded; return the path."""
    from core.png_metadata import save_png

    folder.mkdir(parents=True, exist_ok=True)
    return Path(save_png(result.image, folder / f"{name}.png", result.parameters))
