"""Content integrity (DiffChat Listing 1) on hand-worked cases.

Reference for most cases: x_o = "a horse in a field", i = "turn the horse into a zebra",
y_o = "a zebra in a field".  keywords(y_o) = [zebra, field]; keywords(x_o) = {horse, field};
keywords(i) = {turn, horse, zebra}; highlighted = {zebra} (in i, not in x_o).
Every keyword kept counts 1, a highlighted one 2; the full count is 2 + 1 highlighted = 3.
"""

import pytest

from core.assets import language_data
from core.content_integrity import PrefixContentIntegrity, content_integrity

RAW, INSTRUCTION, TARGET = "a horse in a field", "turn the horse into a zebra", "a zebra in a field"


@pytest.fixture(autouse=True, scope="module")
def language_data_installed():
    # `make test` runs `python -m core.assets fetch` first; tests never download anything.
    if not language_data.is_ready():
        pytest.fail("WordNet is not installed: run `python -m core.assets fetch` first.")


@pytest.mark.parametrize(
    "candidate, raw, score",
    [
        # zebra (highlighted, +2) + field (+1) = 3 of 3.
        ("a zebra grazing in a sunny field, oil painting", 1.0, 1.0),
        # only field (+1): 1/3 < 0.7 -> thresholded to 0, raw kept.
        ("a horse in a field", 1 / 3, 0.0),
        # only the highlighted zebra (+2): 2/3 — the lost "field" is not hidden by zebra's
        # double weight (Listing 1's min(2/2, 1) gave 1.0 here).
        ("a zebra", 2 / 3, 0.0),
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
    # Candidate keeps car and road only: (1 + 1) / (4 + 2) -> 0 after threshold.
    result = content_integrity(
        "a car on a road",
        "make the car red at night",
        "a red car on a road at night",
        "a car on a road",
    )
    assert result.raw == pytest.approx(2 / 6)
    assert result.score == 0.0


@pytest.mark.parametrize(
    "candidate, raw",
    [
        # y_o keywords [red, car, road]; x_o keywords {red, horse, road}; i keywords
        # {replace, horse, car}: highlighted = {car}; full count 3 + 1 = 4.
        # car kept (highlighted, +2) + road (+1) = 3/4: the lost "red" shows.
        ("a blue car on a road", 3 / 4),
        # car's first synonym present is "automobile", which is not itself highlighted, so
        # the listing adds only 1 (line 39 tests the synonym s): (1 + 1) / 4, below 0.7.
        ("a blue automobile on a road", 2 / 4),
        # red + automobile + road = (1 + 1 + 1) / 4.
        ("a red automobile on a road", 3 / 4),
        # everything kept as itself.
        ("a red car on a road", 1.0),
        # the highlighted word missing: red + road = 2/4.
        ("a red horse on a road", 2 / 4),
    ],
)
def test_highlighted_weight_applies_to_the_synonym_found(candidate, raw):
    result = content_integrity(
        "a red horse on a road", "replace the horse with a car", "a red car on a road", candidate
    )
    assert result.raw == pytest.approx(raw)
    assert result.score == (result.raw if raw >= 0.7 else 0.0)


def test_reference_without_keywords_has_nothing_to_lose():
    result = content_integrity("a horse", "make it so", "the, a", "")
    assert (result.score, result.raw) == (1.0, 1.0)


def test_empty_instruction_highlights_nothing():
    # No highlighted words: zebra (+1) alone is 1/2 = 0.5.
    result = content_integrity(RAW, "", TARGET, "a zebra")
    assert (result.score, result.raw) == (0.0, 0.5)


def test_threshold_is_configurable():
    assert content_integrity(
        RAW, INSTRUCTION, TARGET, "a zebra", threshold=0.5
    ).score == pytest.approx(2 / 3)


def test_prefix_scores_end_with_the_full_score_and_grow_with_the_text():
    tokens = ["a", " zeb", "ra", " standing", " in", " a", " fi", "eld", ",", " photo"]
    prefix = PrefixContentIntegrity(RAW, INSTRUCTION, TARGET)
    raw_scores = prefix.prefix_scores(tokens, thresholded=False)
    assert len(raw_scores) == len(tokens)
    full = content_integrity(RAW, INSTRUCTION, TARGET, "".join(tokens))
    assert raw_scores[-1] == full.raw
    assert raw_scores[0] == 0.0  # "a": nothing yet
    assert raw_scores[2] == pytest.approx(2 / 3)  # "a zebra": the highlighted word counts 2
    assert prefix.prefix_scores(tokens)[-1] == full.score


def test_prefix_scores_match_from_scratch_calls_on_each_prefix():
    tokens = ["a", " horse", " in", " a", " field", " at", " night"]
    prefix = PrefixContentIntegrity(RAW, INSTRUCTION, TARGET)
    expected = [
        content_integrity(RAW, INSTRUCTION, TARGET, "".join(tokens[: t + 1])).raw
        for t in range(len(tokens))
    ]
    assert prefix.prefix_scores(tokens, thresholded=False) == expected
