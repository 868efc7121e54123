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


# Hand-made v2-style rows: (x_o, i, y_o) captions and the long target prompt y.
CAPTIONED_ROWS = [
    (
        "a dog asleep on a porch",
        "make the dog a fox",
        "a fox asleep on a porch",
        "a fox asleep on a porch, golden hour, 35mm photo",
    ),
    (
        "a red car on a road",
        "make the car blue",
        "a blue car on a road",
        "a blue car on a wet road at dusk, cinematic, highly detailed",
    ),
    (
        "a castle on a hill in summer",
        "make it winter",
        "a castle on a hill in winter",
        "an old stone castle on a snowy hill in winter, oil painting, dramatic sky",
    ),
    (
        "a woman reading in a garden",
        "add a cat",
        "a woman reading in a garden with a cat",
        "portrait of a woman reading a book in a lush garden with a cat, soft light, watercolor",
    ),
]


@pytest.mark.parametrize("raw_caption, instruction, target_caption, target_prompt", CAPTIONED_ROWS)
def test_negatives_score_clearly_below_the_positive(
    raw_caption, instruction, target_caption, target_prompt
):
    from core.content_integrity import content_integrity, highlighted_keywords
    from core.nlp import extract_keywords

    sampler = NegativeSampler.from_target_prompts(
        [row[3] for row in CAPTIONED_ROWS] + ["a boat on a lake", "a house by a tree"], rate=1.0
    )
    keywords = extract_keywords(target_caption)
    highlighted = highlighted_keywords(raw_caption, instruction, keywords)
    positive = content_integrity(raw_caption, instruction, target_caption, target_prompt)
    assert positive.score == 1.0
    seen = set()
    for kind in (REMOVE, REPLACE):
        for seed in range(6):
            negative = sampler.perturb(target_prompt, kind, random.Random(seed), keywords)
            assert negative is not None and negative.keyword in keywords
            seen.add(negative.keyword)
            ci = content_integrity(raw_caption, instruction, target_caption, negative.text)
            assert ci.raw <= positive.raw - 0.2, negative
            if negative.keyword in highlighted:  # the edit itself lost: below the threshold
                assert ci.score == 0.0, negative
    assert seen & set(highlighted)


def test_keywords_are_matched_as_whole_words():
    from train.adm import keyword_spans

    text = "sunflowers under the sun, two suns"
    assert [text[a:b] for a, b in keyword_spans(text, "sun")] == ["sun", "suns"]
    sampler = NegativeSampler({"n": ["moon"]}, rate=1.0)
    removed = sampler.perturb(text, REMOVE, random.Random(0), keywords=["sun"])
    assert removed.text == "sunflowers under the, two"
    replaced = sampler.perturb(text, REPLACE, random.Random(0), keywords=["sun"])
    assert replaced.text == "sunflowers under the moon, two moon"
    assert sampler.perturb("a field of sunflowers", REMOVE, random.Random(0), ["sun"]) is None


def test_negatives_only_touch_the_keywords_asked_for(sampler):
    rng = random.Random(4)
    for _ in range(20):
        perturbation = sampler.perturb(PROMPT, REMOVE, rng, keywords=["car", "tree"])
        assert perturbation.keyword in ("car", "tree")
    assert sampler.perturb(PROMPT, REMOVE, rng, keywords=["zebra"]) is None
