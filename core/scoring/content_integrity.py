"""Content integrity (DiffChat Listing 1, before thresholding): how many of the key contents
of the raw prompt and instruction the candidate prompt keeps. The CI Score column of DiffChat
Table 1 (about 85-87) is this raw fraction in percent.

The score reads only prompts (the image is ignored); the computation lives in
`core.content_integrity`, the one home of the CI score.
"""

from __future__ import annotations

from core.scoring.base import DEFAULT_BATCH_SIZE, EditContext, ImageScorer


class ContentIntegrityScorer(ImageScorer):
    """100 * the raw content-integrity fraction of each candidate prompt (0-100)."""

    name = "content_integrity"
    label = "CI Score"
    scale = "100 * fraction of key contents kept: 0-100 (paper: about 85-87)"
    source = "core.content_integrity (DiffChat Listing 1), no weights"
    needs_edit_context = True

    def __init__(self, device: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE):
        super().__init__(device, batch_size)

    def _load(self) -> None:
        from core.content_integrity import content_integrity

        self._content_integrity = content_integrity

    def _score_batch(self, images, prompts, edits: list[EditContext] | None) -> list[float]:
        return [
            100
            * self._content_integrity(
                edit.raw_prompt, edit.instruction, edit.reference_target, candidate
            ).raw
            for candidate, edit in zip(prompts, edits, strict=True)
        ]
