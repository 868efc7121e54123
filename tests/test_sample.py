"""The authored InstructPE sample: sizes, category coverage, no leakage, seeded generator."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from train.data import deduplicate, load_triplets, normalize_text
from train.sample_generator import (
    CATEGORIES,
    EDITS,
    SampleConfig,
    build_sample,
    generate_triplets,
    random_scene,
)

SAMPLE = Path(__file__).resolve().parent.parent / "assets" / "instructpe"


@pytest.fixture(scope="module")
def shipped():
    return load_triplets(SAMPLE / "train.jsonl"), load_triplets(SAMPLE / "test.jsonl")


def test_shipped_sample_sizes(shipped):
    train, test = shipped
    assert len(train) >= 2000
    assert len(test) >= 200


def test_shipped_sample_covers_every_category_in_both_splits(shipped):
    train, test = shipped
    for rows, least in ((train, 100), (test, 5)):
        counts = Counter(row.category for row in rows)
        assert all(counts[category] >= least for category in CATEGORIES), counts


def test_shipped_test_split_shares_no_raw_prompt_with_train(shipped):
    train, test = shipped
    train_prompts = {normalize_text(row.raw_prompt) for row in train}
    assert not any(normalize_text(row.raw_prompt) in train_prompts for row in test)


def test_shipped_sample_has_no_duplicates_and_mixes_in_handwritten_rows(shipped):
    train, test = shipped
    assert len(deduplicate(train + test)) == len(train + test)
    handwritten = load_triplets(SAMPLE / "handwritten.jsonl")
    assert len(handwritten) >= 150
    sources = Counter(row.source for row in train + test)
    assert sources["handwritten"] == len(handwritten)


def test_shipped_sample_is_what_the_generator_builds(shipped):
    # The committed files must be reproducible: `python -m train data sample --seed 0`.
    assert build_sample(SampleConfig(seed=0)) == shipped


def test_generator_is_deterministic_by_seed():
    assert generate_triplets(60, seed=1) == generate_triplets(60, seed=1)
    assert generate_triplets(60, seed=1) != generate_triplets(60, seed=2)


def test_generated_rows_rotate_through_the_categories():
    rows = generate_triplets(3 * len(CATEGORIES), seed=0)
    assert [row.category for row in rows] == list(CATEGORIES) * 3


def test_generated_target_differs_and_keeps_the_style_tags():
    for row in generate_triplets(260, seed=5):
        assert row.raw_prompt != row.target_prompt
        # Quality tags come last and no edit touches them: the prompts end the same way.
        assert row.raw_prompt.split(", ")[-1] == row.target_prompt.split(", ")[-1]


@pytest.mark.parametrize("category", CATEGORIES)
def test_each_edit_changes_only_its_part_of_the_scene(category):
    rng = random.Random(11)
    # Which scene fields each edit may change (time also swaps a time-bound light; season
    # can drop snow in summer).
    allowed = {
        "replace": {"subject", "age"},
        "add": {"accessories", "extra"},
        "remove": {"accessories", "extra"},
        "colour": {"colour", "accessories"},
        "material": {"material"},
        "style": {"style"},
        "weather": {"weather"},
        "season": {"season", "weather"},
        "time_of_day": {"time", "lighting"},
        "location": {"setting"},
        "lighting": {"lighting"},
        "age_expression": {"age", "expression"},
        "count": {"count"},
    }[category]
    applied = 0
    for _ in range(200):
        scene = random_scene(rng)
        result = EDITS[category](scene, rng)
        if result is None:
            continue
        edited, instruction = result
        applied += 1
        changed = {
            name
            for name in scene.__dataclass_fields__
            if getattr(scene, name) != getattr(edited, name)
        }
        assert changed and changed <= allowed, (category, changed)
        assert instruction.strip()
    assert applied >= 20
