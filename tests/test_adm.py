"""ADM negatives (train/adm.py): rate, kinds, and what a replacement may be (DiffChat eq. 4)."""

from __future__ import annotations

import random

import pytest

from train.adm import REMOVE, REPLACE, NegativeSampler

PROMPT = "a red car parked beside an old tree, oil painting, warm evening light"


@pytest.fixture(scope="module")
def sampler():
    # "auto", "automobile" and "motorcar" are WordNet synonyms of "car"; "boat" and "house" are not.
    vocabulary = {
        "n": ["car", "auto", "automobile", "motorcar", "boat", "house"],
        "a": ["red", "blue", "old", "warm", "golden"],
        "v": ["park", "stand"],
    }
    return NegativeSampler(vocabulary, rate=0.04, remove_share=0.5)


def test_negative_rate_is_about_four_percent(sampler):
    rng = random.Random(0)
    draws = 4000
    perturbed = sum(sampler.maybe_perturb(PROMPT, rng) is not None for _ in range(draws))
    assert 0.03 <= perturbed / draws <= 0.05


def test_remove_and_replace_are_about_half_each():
    sampler = NegativeSampler({"n": ["boat", "house", "castle"], "a": ["blue", "golden"]}, rate=1.0)
    rng = random.Random(1)
    kinds = [sampler.maybe_perturb(PROMPT, rng).kind for _ in range(400)]
    assert 0.4 <= kinds.count(REMOVE) / len(kinds) <= 0.6
    assert set(kinds) == {REMOVE, REPLACE}


def test_removal_drops_one_keyword_and_keeps_the_rest(sampler):
    rng = random.Random(2)
    for _ in range(20):
        perturbation = sampler.perturb(PROMPT, REMOVE, rng)
        assert perturbation.kind == REMOVE
        assert perturbation.keyword not in perturbation.text.lower().split()
        assert len(perturbation.text.split()) == len(PROMPT.split()) - 1


def test_replacement_has_the_same_pos_and_is_not_a_synonym(sampler):
    from core.nlp import synonyms, tagged_keywords

    pos_of = dict(tagged_keywords(PROMPT))
    rng = random.Random(3)
    seen = set()
    for _ in range(60):
        perturbation = sampler.perturb(PROMPT, REPLACE, rng)
        keyword, replacement = perturbation.keyword, perturbation.replacement
        seen.add(keyword)
        assert replacement in sampler.vocabulary[pos_of[keyword]]
        assert replacement not in synonyms(keyword, pos_of[keyword])
        assert replacement not in PROMPT.split()
        assert replacement in perturbation.text
        if keyword == "car":
            assert replacement in ("boat", "house")  # never auto / automobile / motorcar
    assert "car" in seen


def test_vocabulary_comes_from_the_training_targets():
    sampler = NegativeSampler.from_target_prompts([PROMPT, "a blue boat on a calm lake"])
    assert "car" in sampler.vocabulary["n"] and "boat" in sampler.vocabulary["n"]


def test_prompt_without_keywords_gives_no_negative(sampler):
    assert sampler.perturb("a the of", REPLACE, random.Random(0)) is None
