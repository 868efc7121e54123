"""Words, tags, lemmas, keywords and synonyms (core/nlp.py) over the offline language data."""

import shutil

import pytest

from core.assets import language_data
from core.errors import ModelUnavailableError
from core.nlp import (
    extract_keywords,
    lemmatize,
    split_words,
    synonyms,
    tagged_keywords,
    tagged_lemmas,
    word_spans,
)


@pytest.fixture(autouse=True, scope="module")
def language_data_installed():
    # `make test` runs `python -m core.assets fetch` first; tests never download anything.
    if not language_data.is_ready():
        pytest.fail("WordNet is not installed: run `python -m core.assets fetch` first.")


def test_split_words_keeps_prompt_vocabulary_and_drops_punctuation():
    assert split_words("A well-known Cat's toy, 4k; (don't)") == [
        "a", "well-known", "cat", "toy", "4k", "don't",
    ]  # fmt: skip
    assert split_words(" ,.;!") == []


def test_word_spans_point_into_the_text():
    text = "Two Horses, 8k"
    assert [(text[start:end], word) for start, end, word in word_spans(text)] == [
        ("Two", "two"), ("Horses", "horses"), ("8k", "8k"),
    ]  # fmt: skip


def test_lemmatize_uses_wordnet_morphology():
    assert lemmatize("geese", "n") == "goose"
    assert lemmatize("running", "v") == "run"
    assert lemmatize("better", "a") == "good"
    assert lemmatize("running", None) == "running"  # no POS: left as is


def test_tagger_gives_coarse_wordnet_tags():
    tags = dict(tagged_lemmas("the black dogs are running quickly"))
    assert tags["the"] is None
    assert tags["black"] == "a"
    assert tags["dog"] == "n"
    assert tags["run"] == "v"
    assert tags["quickly"] == "r"


def test_keywords_are_unique_lemmas_of_nouns_adjectives_and_verbs():
    assert extract_keywords("Two horses were standing in the misty meadows") == [
        "horse", "stand", "misty", "meadow",
    ]  # fmt: skip
    # Duplicates collapse to the first occurrence; adverbs are left out.
    assert extract_keywords("a red car, a red car, highly detailed") == ["red", "car", "detail"]


def test_keywords_drop_auxiliaries_and_negations():
    keywords = extract_keywords("the cat is sitting and has done nothing, don't move")
    assert {"be", "have", "do", "don't"}.isdisjoint(keywords)
    assert {"cat", "sit", "move"} <= set(keywords)


def test_tagged_keywords_carry_the_pos():
    assert tagged_keywords("a happy horse jumped") == [
        ("happy", "a"),
        ("horse", "n"),
        ("jump", "v"),
    ]
    assert tagged_keywords("") == []


def test_synonyms_include_the_word_itself_and_wordnet_lemmas():
    names = synonyms("car")
    assert {"car", "automobile", "auto", "motorcar"} <= names
    assert "railway car" in names  # underscores become spaces
    assert synonyms("qwertyuiop") == frozenset({"qwertyuiop"})


def test_synonyms_can_be_restricted_to_one_pos():
    assert "bleed" in synonyms("run", "v") - synonyms("run", "n")  # a verb-only sense
    assert synonyms("run", "v") < synonyms("run")


def test_fetch_is_idempotent_when_wordnet_is_there():
    assert "ready" in language_data.fetch()


def test_missing_apt_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ModelUnavailableError, match="nltk.downloader wordnet"):
        language_data._download_wordnet_debs(tmp_path)
