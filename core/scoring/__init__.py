"""Image scorers, one module per score, all behind `ImageScorer.score(images, prompts, edits)`.

The six scores of DiffChat Table 1, in the table's column order:

| name | module | what it measures |
| --- | --- | --- |
| `pickscore` | pickscore.py | preference (PickScore_v1) |
| `aesthetic` | aesthetic.py | beauty (LAION improved aesthetic predictor) |
| `hps` | hps.py | human preference (HPS v2) |
| `clip_score` | clip_score.py | image-prompt agreement (CLIP ViT-L/14) |
| `directional_clip` | directional_clip.py | edit direction agreement (CLIP ViT-L/14) |
| `content_integrity` | content_integrity.py | key contents kept by the prompt (Listing 1) |

`build_scorer(name, tiny=True)` gives the same class loaded from the tiny random-weight twins
(`python -m core.assets fetch --only tiny_scorers`): same code, meaningless numbers.
"""

from __future__ import annotations

from core.errors import InputError
from core.scoring.aesthetic import AestheticScorer
from core.scoring.base import EditContext, ImageScorer
from core.scoring.clip_score import ClipScoreScorer
from core.scoring.content_integrity import ContentIntegrityScorer
from core.scoring.directional_clip import DirectionalClipScorer, directional_similarity
from core.scoring.hps import HpsScorer
from core.scoring.pickscore import PickScoreScorer

SCORERS: dict[str, type[ImageScorer]] = {
    cls.name: cls
    for cls in (
        PickScoreScorer,
        AestheticScorer,
        HpsScorer,
        ClipScoreScorer,
        DirectionalClipScorer,
        ContentIntegrityScorer,
    )
}
SCORE_NAMES: tuple[str, ...] = tuple(SCORERS)


def _tiny_arguments(name: str) -> dict:
    # The only difference between a real scorer and its tiny twin: where the weights are.
    from core.assets.tiny_scorers import fetch, tiny_paths

    fetch()
    paths = {role: str(path) for role, path in tiny_paths().items()}
    return {
        "pickscore": {"model_id": paths["clip"], "processor_id": paths["clip"]},
        "clip_score": {"model_id": paths["clip"]},
        "directional_clip": {"model_id": paths["clip"]},
        "aesthetic": {
            "clip_model": f"local-dir:{paths['open_clip']}",
            "clip_pretrained": None,
            "mlp_weights": paths["aesthetic_mlp"],
        },
        "hps": {"model_name": f"local-dir:{paths['hps']}", "checkpoint": paths["hps_checkpoint"]},
        "content_integrity": {},
    }[name]


def build_scorer(
    name: str, tiny: bool = False, device: str | None = None, batch_size: int = 16
) -> ImageScorer:
    """Return an (unloaded) scorer by name; `tiny` swaps in the random-weight twin.

    Refuses (InputError) a name that is not one of SCORE_NAMES.
    """
    if name not in SCORERS:
        raise InputError(f"Unknown score {name!r}. Scores are: {', '.join(SCORE_NAMES)}.")
    arguments = _tiny_arguments(name) if tiny else {}
    return SCORERS[name](device=device, batch_size=batch_size, **arguments)


__all__ = [
    "SCORERS",
    "SCORE_NAMES",
    "EditContext",
    "ImageScorer",
    "build_scorer",
    "directional_similarity",
]
