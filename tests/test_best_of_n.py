"""Best-of-N: the weighted score mix (hand-worked) and a run on the tiny models."""

from __future__ import annotations

import math

import pytest

from core.best_of_n import best_of_n, check_weights, combine_scores, parse_weights
from core.errors import InputError


class ListRewriter:
    """A rewriter double whose samples are a fixed list (duplicates included)."""

    def __init__(self, samples):
        self.samples = samples
        self.calls = []

    def sample(self, prompt, instruction, num_candidates, typical_p=0.97, seed=0):
        self.calls.append((prompt, instruction, num_candidates, typical_p, seed))
        return self.samples[:num_candidates]


def test_combine_scores_standardises_each_score_before_weighting():
    # a: mean 2, std sqrt(2/3) -> z = -1.2247, 0, 1.2247; b: mean 20, std 10*sqrt(2/3), reversed.
    scores = {"a": [1.0, 2.0, 3.0], "b": [30.0, 20.0, 10.0], "c": [5.0, 5.0, 5.0]}
    combined = combine_scores(scores, {"a": 2.0, "b": 1.0, "c": 7.0})
    z = math.sqrt(1.5)
    assert combined == pytest.approx([-2 * z + z, 0.0, 2 * z - z])


def test_combine_scores_ignores_nan_values():
    assert combine_scores({"a": [1.0, math.nan, 3.0]}, {"a": 1.0}) == pytest.approx(
        [-1.0, 0.0, 1.0]
    )


def test_weights_are_checked_and_parsed():
    assert parse_weights("pickscore=2, aesthetic=0,hps") == {"pickscore": 2.0, "hps": 1.0}
    with pytest.raises(InputError, match="Unknown score.*beauty"):
        check_weights({"beauty": 1.0})
    with pytest.raises(InputError, match="non-negative"):
        check_weights({"pickscore": -1.0})
    with pytest.raises(InputError, match="positive weight"):
        check_weights({"pickscore": 0.0})
    with pytest.raises(InputError, match="NAME=NUMBER"):
        parse_weights("pickscore=high")


def test_best_of_n_on_tiny_models_returns_distinct_candidates_best_first():
    from core.assets import tiny_pipelines
    from core.images import GenerationRequest
    from core.scoring import build_scorer

    tiny_pipelines.fetch()
    rewriter = ListRewriter(
        ["a cat on a mat", "a cat on a mat", "a red cat", "a cat, oil painting"]
    )
    weights = {"pickscore": 1.0, "aesthetic": 0.5, "directional_clip": 1.0}
    scorers = {name: build_scorer(name, tiny=True) for name in weights}
    request = GenerationRequest(prompt="", model="tiny-sd", seed=3, num_inference_steps=2)
    steps = []

    candidates = best_of_n(
        rewriter,
        "a cat",
        "put it on a mat",
        4,
        weights,
        request,
        seed=5,
        scorers=scorers,
        progress=lambda done, total: steps.append((done, total)),
    )

    assert [c.prompt for c in candidates].count("a cat on a mat") == 1
    assert sorted(c.prompt for c in candidates) == [
        "a cat on a mat",
        "a cat, oil painting",
        "a red cat",
    ]
    assert [c.combined for c in candidates] == sorted(
        (c.combined for c in candidates), reverse=True
    )
    assert all(set(c.scores) == set(weights) and c.image.size == (64, 64) for c in candidates)
    assert rewriter.calls == [("a cat", "put it on a mat", 4, 0.97, 5)]
    assert steps[-1] == (4, 4)  # the raw image (for the directional score) + 3 candidates
    # The mix is recomputable from the reported scores.
    expected = combine_scores({n: [c.scores[n] for c in candidates] for n in weights}, weights)
    assert [c.combined for c in candidates] == pytest.approx(expected)


def test_best_of_n_refuses_zero_candidates():
    with pytest.raises(InputError, match="at least one candidate"):
        best_of_n(ListRewriter([]), "a", "b", 0, {"pickscore": 1.0}, request=None)
