"""Content integrity (DiffChat Listing 1) on hand-worked cases.

Reference for most cases: x_o = "a horse in a field", i = "turn the horse into a zebra",
y_o = "a zebra in a field".  keywords(y_o) = [zebra, field]; keywords(x_o) = {horse, field};
keywords(i) = {turn, horse, zebra}; highlighted = {zebra} (in i, not in x_o).
"""

import json
import subprocess
import sys

import pytest

from core.content_integrity import PrefixContentIntegrity, content_integrity
from core.nlp import extract_keywords, synonyms, tagged_keywords

RAW, INSTRUCTION, TARGET = "a horse in a field", "turn the horse into a zebra", "a zebra in a field"


@pytest.mark.parametrize(
    "candidate, raw, score",
    [
        # zebra (highlighted, +2) + field (+1) = 3 of 2 keywords -> capped at 1.
        ("a zebra grazing in a sunny field, oil painting", 1.0, 1.0),
        # only field (+1): 1/2 = 0.5 < 0.7 -> thresholded to 0, raw kept.
        ("a horse in a field", 0.5, 0.0),
        # only the highlighted zebra (+2): 2/2 = 1.
        ("a zebra", 1.0, 1.0),
        # "fields" lemmatizes to field; "zebras" to zebra.
        ("zebras in fields", 1.0, 1.0),
        # nothing kept.
        ("a castle on a hill", 0.0, 0.0),
        ("", 0.0, 0.0),
    ],
)
def test_hand_worked_listing_cases(candidate, raw, score):
    result = content_integrity(RAW, INSTRUCTION, TARGET, candidate)
    assert result.raw == pytest.approx(raw)
    assert result.score == pytest.approx(score)


def test_synonym_counts_as_kept():
    # y_o keywords [car, road]; "automobile" is a WordNet synonym of car: (1 + 1) / 2.
    result = content_integrity(
        "a car on a road", "paint it", "a car on a road", "an automobile on a road"
    )
    assert result.raw == pytest.approx(1.0)


def test_non_highlighted_partial_keep_below_threshold():
    # y_o keywords [red, car, road, night]: x_o has car/road; i adds red/night (highlighted).
    # Candidate keeps car and road only: (1 + 1) / 4 = 0.5 -> 0 after threshold.
    result = content_integrity(
        "a car on a road",
        "make the car red at night",
        "a red car on a road at night",
        "a car on a road",
    )
    assert result.raw == pytest.approx(0.5)
    assert result.score == 0.0


def test_reference_without_keywords_has_nothing_to_lose():
    assert content_integrity("", "", "", "anything").raw == 1.0


def test_threshold_is_configurable():
    assert (
        content_integrity(RAW, INSTRUCTION, TARGET, "a horse in a field", threshold=0.5).score
        == 0.5
    )


def test_keywords_are_lemmatized_content_words():
    assert extract_keywords("Two horses were standing in the misty meadows") == [
        "horse", "stand", "misty", "meadow",
    ]  # fmt: skip
    assert ("horse", "n") in tagged_keywords("a horse")


def test_synonyms_include_the_word_itself_and_wordnet_lemmas():
    names = synonyms("car")
    assert {"car", "automobile", "auto"} <= names
    assert synonyms("qwertyuiop") == frozenset({"qwertyuiop"})


def test_prefix_scores_end_with_the_full_score_and_grow_with_the_text():
    tokens = ["a", " zeb", "ra", " standing", " in", " a", " fi", "eld", ",", " photo"]
    prefix = PrefixContentIntegrity(RAW, INSTRUCTION, TARGET)
    raw_scores = prefix.prefix_scores(tokens, thresholded=False)
    assert len(raw_scores) == len(tokens)
    full = content_integrity(RAW, INSTRUCTION, TARGET, "".join(tokens))
    assert raw_scores[-1] == full.raw
    assert raw_scores[0] == 0.0  # "a": nothing yet
    assert raw_scores[2] == 1.0  # "a zebra": the highlighted word counts double
    assert prefix.prefix_scores(tokens)[-1] == full.score


def test_prefix_scores_match_from_scratch_calls_on_each_prefix():
    tokens = ["a", " horse", " in", " a", " field", " at", " night"]
    prefix = PrefixContentIntegrity(RAW, INSTRUCTION, TARGET)
    expected = [
        content_integrity(RAW, INSTRUCTION, TARGET, "".join(tokens[: t + 1])).raw
        for t in range(len(tokens))
    ]
    assert prefix.prefix_scores(tokens, thresholded=False) == expected


def test_ci_command_json_contract():
    output = subprocess.run(
        [sys.executable, "-m", "core", "ci", "--raw", RAW, "--instruction", INSTRUCTION,
         "--target", TARGET, "--output", "a horse in a field", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert json.loads(output) == {"ci": 0.0, "ci_raw": 0.5}
