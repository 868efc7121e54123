"""InstructPE v2: sizes, edit-kind coverage, the five fields, chains, no leakage, rebuild."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from train.data import deduplicate, load_triplets, normalize_text
from train.sample_generator import (
    EDIT_KINDS,
    EDITS,
    PHRASINGS,
    SampleConfig,
    build_sample,
    generate_rows,
    random_scene,
)

SAMPLE = Path(__file__).resolve().parent.parent / "assets" / "instructpe"


@pytest.fixture(scope="module")
def shipped():
    chains = [json.loads(line) for line in (SAMPLE / "test_chains.jsonl").read_text().splitlines()]
    return load_triplets(SAMPLE / "train.jsonl"), load_triplets(SAMPLE / "test.jsonl"), chains


def test_shipped_sample_sizes(shipped):
    train, test, chains = shipped
    assert len(train) >= 30000
    assert len(test) >= 1500
    assert len(chains) >= 300
    assert all(len(chain["turns"]) == 3 for chain in chains)


def test_shipped_rows_carry_the_five_fields(shipped):
    train, test, _ = shipped
    generated = [row for row in train + test if row.source != "handwritten"]
    assert all(row.raw_caption and row.target_caption for row in generated)
    # Captions are the short plain form: no quality tags, shorter than the prompt on average.
    assert sum(len(r.raw_caption) for r in generated) < sum(len(r.raw_prompt) for r in generated)


def test_shipped_sample_covers_every_edit_kind_in_both_splits(shipped):
    train, test, _ = shipped
    for rows, least in ((train, 800), (test, 40)):
        counts = Counter(row.category for row in rows)
        assert all(counts[kind] >= least for kind in EDIT_KINDS), counts


def test_every_kind_has_at_least_twelve_phrasings():
    kinds_with_phrasings = [key for key in PHRASINGS if not key.startswith("_")]
    for key in kinds_with_phrasings:
        if key != "compound_joiners":
            assert len(PHRASINGS[key]) >= 12, key


def test_prompts_range_from_four_to_seventy_words(shipped):
    train, _, _ = shipped
    lengths = [len(row.raw_prompt.split()) for row in train if row.source != "handwritten"]
    assert min(lengths) >= 4 and max(lengths) <= 70
    assert sum(n <= 10 for n in lengths) > 1000 and sum(n >= 50 for n in lengths) > 500


def test_training_rows_include_turns_that_start_from_earlier_edits(shipped):
    train, _, _ = shipped
    sources = Counter(row.source for row in train)
    assert sources["chain"] >= 3000 and sources["handwritten"] == 170


def test_test_split_and_chains_share_no_raw_prompt_with_train(shipped):
    train, test, chains = shipped
    train_prompts = {normalize_text(row.raw_prompt) for row in train}
    assert not any(normalize_text(row.raw_prompt) in train_prompts for row in test)
    assert not any(normalize_text(chain["raw_prompt"]) in train_prompts for chain in chains)


def test_shipped_sample_has_no_duplicates(shipped):
    train, test, _ = shipped
    assert len(deduplicate(train)) == len(train)
    assert len(deduplicate(test)) == len(test)


def test_chain_turns_build_on_the_previous_target(shipped):
    _, _, chains = shipped
    for chain in chains[:50]:
        kinds = [turn["category"] for turn in chain["turns"]]
        assert len(set(kinds)) == 3, kinds  # three different edits
        prompts = [chain["raw_prompt"]] + [turn["target_prompt"] for turn in chain["turns"]]
        assert all(a != b for a, b in zip(prompts, prompts[1:], strict=False))


def test_generator_is_deterministic_by_seed():
    assert generate_rows(50, random.Random(1)) == generate_rows(50, random.Random(1))
    assert generate_rows(50, random.Random(1)) != generate_rows(50, random.Random(2))


def test_generated_rows_rotate_through_the_edit_kinds():
    rows = generate_rows(2 * len(EDIT_KINDS), random.Random(0))
    assert [row.category for row in rows] == list(EDIT_KINDS) * 2


def test_a_season_edit_replaces_the_season_in_place():
    from train.sample_generator import Scene

    scene = Scene(kind="animal", noun="fox", plural="foxes", location="in a forest")
    scene.season = "spring"
    assert scene.prompt() == "a fox in a forest, in spring"
    edited, instruction = EDITS["season"](scene, random.Random(0))
    assert edited.season != "spring" and edited.season in instruction
    assert edited.prompt() == f"a fox in a forest, in {edited.season}"  # no "in spring" left


def test_a_remove_edit_deletes_the_whole_clause():
    from train.sample_generator import Scene

    scene = Scene(kind="animal", noun="fox", plural="foxes", location="in a forest")
    scene.extras = [("kite", "a kite in the sky")]
    assert scene.prompt() == "a fox in a forest, a kite in the sky"
    edited, instruction = EDITS["remove"](scene, random.Random(0))
    assert "kite" in instruction
    assert edited.prompt() == "a fox in a forest"


@pytest.mark.parametrize("kind", EDIT_KINDS)
def test_each_edit_kind_changes_the_prompt_and_keeps_the_subject_phrase_order(kind):
    rng = random.Random(11)
    applied = 0
    for _ in range(300):
        scene = random_scene(rng)
        result = EDITS[kind](scene, rng)
        if result is None:
            continue
        edited, instruction = result
        applied += 1
        assert instruction.strip()
        assert edited.prompt() != scene.prompt()
        assert edited.quality == scene.quality  # quality tags are never edited
    assert applied >= 20


def test_shipped_sample_is_what_the_generator_builds(shipped):
    # The committed files must be reproducible: `python -m train data sample --seed 0`.
    train, test, chains = build_sample(SampleConfig(seed=0))
    assert (train, test, chains) == shipped
