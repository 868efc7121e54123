"""Image scorers on their tiny random-weight twins: same loading code as the real weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import InputError, ModelUnavailableError
from core.scoring import SCORE_NAMES, EditContext, build_scorer, directional_similarity
from core.scoring.aesthetic import AestheticScorer, build_aesthetic_mlp
from core.scoring.base import load_weights_file
from core.scoring.hps import HpsScorer
from core.scoring.pickscore import PickScoreScorer

MODEL_SCORES = [name for name in SCORE_NAMES if name != "content_integrity"]
PROMPTS = ["a cat on a mat", "a red car in the snow", "portrait of a woman, oil painting"]


def _images(seed: int, count: int = 3, size: int = 48) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(count)
    ]


@pytest.fixture(scope="module")
def batch():
    raw_images = _images(1)
    edits = [EditContext("a cat", "put it somewhere", "a cat on a mat", raw) for raw in raw_images]
    return _images(0), PROMPTS, edits


@pytest.mark.parametrize("name", MODEL_SCORES)
def test_tiny_scorer_is_deterministic_and_batch_equals_single(name, batch):
    images, prompts, edits = batch
    batched = build_scorer(name, tiny=True, batch_size=3)
    single = build_scorer(name, tiny=True, batch_size=1)

    first = batched.score(images, prompts, edits)
    again = batched.score(images, prompts, edits)
    one_by_one = single.score(images, prompts, edits)

    assert len(first) == len(images) and all(isinstance(value, float) for value in first)
    assert all(np.isfinite(first))
    assert first == again
    np.testing.assert_allclose(first, one_by_one, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["pickscore", "clip_score", "hps"])
def test_prompt_aware_scorers_depend_on_the_prompt(name, batch):
    images, prompts, edits = batch
    scorer = build_scorer(name, tiny=True)
    assert scorer.score(images, prompts, edits) != scorer.score(
        images, list(reversed(prompts)), edits
    )


def test_clip_score_is_clipped_at_zero(batch):
    images, prompts, edits = batch
    scores = build_scorer("clip_score", tiny=True).score(images * 3, prompts * 3)
    assert all(0 <= value <= 100 for value in scores)


@pytest.mark.parametrize(
    ("image_change", "text_change", "expected"),
    [
        ([1.0, 0.0], [2.0, 0.0], 1.0),  # same direction, any length
        ([1.0, 0.0], [-1.0, 0.0], -1.0),  # opposite
        ([1.0, 0.0], [0.0, 3.0], 0.0),  # orthogonal
        ([1.0, 1.0], [1.0, 0.0], 2**-0.5),  # 45 degrees
        ([0.0, 0.0], [1.0, 0.0], 0.0),  # unchanged image: no direction
    ],
)
def test_directional_similarity_on_constructed_embeddings(image_change, text_change, expected):
    raw_image = torch.tensor([[0.5, -0.25]])
    raw_text = torch.tensor([[-1.0, 2.0]])
    similarity = directional_similarity(
        raw_image,
        raw_image + torch.tensor([image_change]),
        raw_text,
        raw_text + torch.tensor([text_change]),
    )
    assert similarity.shape == (1,)
    assert similarity.item() == pytest.approx(expected, abs=1e-6)


def test_directional_scorer_rewards_a_copy_of_the_text_change_direction(batch):
    # Same image for raw and target: no image change, so the score is exactly 0.
    images, prompts, _ = batch
    edits = [EditContext("a dog", "x", "", image) for image in images]
    assert build_scorer("directional_clip", tiny=True).score(images, prompts, edits) == [0.0] * 3


def test_aesthetic_mlp_matches_laion_state_dict_layout():
    keys = set(build_aesthetic_mlp().state_dict())
    expected = {f"{i}.{kind}" for i in (0, 2, 4, 6, 7) for kind in ("weight", "bias")}
    assert keys == expected
    assert build_aesthetic_mlp()[0].in_features == 768


def test_weights_file_is_loaded_without_pickle_and_unwrapped(tmp_path):
    path = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": {"module.layer.weight": torch.ones(2)}}, path)
    assert list(load_weights_file(path)) == ["layer.weight"]
    torch.save({"state_dict": {"x": torch.ones(1)}, "trainer": object()}, tmp_path / "unsafe.pth")
    with pytest.raises(Exception, match="[Ww]eights only|weights_only"):
        load_weights_file(tmp_path / "unsafe.pth")


def test_missing_weights_name_the_score_and_how_to_get_them(batch):
    images, prompts, _ = batch
    with pytest.raises(ModelUnavailableError, match="aesthetic.*improved-aesthetic-predictor"):
        AestheticScorer(mlp_weights="/nonexistent/sac+logos+ava1-l14-linearMSE.pth").score(
            images, prompts
        )
    with pytest.raises(ModelUnavailableError, match="HPS v2.*xswu/HPSv2"):
        HpsScorer().score(images, prompts)  # the hub is offline in tests
    with pytest.raises(ModelUnavailableError, match="PickScore"):
        PickScoreScorer(model_id="/nonexistent/pickscore", processor_id="/nonexistent/p").score(
            images, prompts
        )


def test_bad_calls_are_refused(batch):
    images, prompts, _ = batch
    with pytest.raises(InputError, match="3 images but 2 prompts"):
        build_scorer("pickscore", tiny=True).score(images, prompts[:2])
    with pytest.raises(InputError, match="EditContext"):
        build_scorer("directional_clip", tiny=True).score(images, prompts)
    with pytest.raises(InputError, match="Unknown score 'beauty'"):
        build_scorer("beauty")


def test_content_integrity_score_is_the_raw_fraction_in_percent():
    from core.content_integrity import content_integrity

    edit = EditContext("a photo of a cat", "make it a dog", "a photo of a dog")
    candidates = ["a photo of a dog", "a photo", ""]
    scores = build_scorer("content_integrity", tiny=True).score([None] * 3, candidates, [edit] * 3)
    expected = [
        100 * content_integrity(edit.raw_prompt, edit.instruction, edit.reference_target, c).raw
        for c in candidates
    ]
    assert scores == pytest.approx(expected)
    assert scores[0] == pytest.approx(100.0) and scores[2] == pytest.approx(0.0)
    assert scores[0] > scores[1]
