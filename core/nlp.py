"""Words, part-of-speech tags, lemmas, keywords and WordNet synonyms: the one home for them.

The content-integrity score (DiffChat Listing 1), PPO's negative sampling (ADM) and the data
pipeline all go through these functions. Tagging uses nltk's averaged perceptron when its
data is installed, otherwise TextBlob's PatternTagger (a Brill-style tagger whose lexicon
and contextual rules ship in the textblob wheel). Lemmas come from nltk's WordNet
lemmatizer over WordNet 3.0 (see core/assets/language_data.py).

Keywords (Listing 1, lines 13-22) are the lemmas of nouns, adjectives and verbs. We keep
verbs because edits are often actions ("make her smile", "have the dog jump"), and leave
out adverbs ("highly", "very") which in prompts are intensifiers, not content. Auxiliary
verbs (be, have, do, get, let) and negated contractions (don't, isn't) are dropped: they
carry no image content, and counting them would let a rewrite score points for "is".

Words are runs of letters and digits ("4k", "3d" are prompt vocabulary) with inner
hyphens or apostrophes; a possessive 's is removed ("cat's" -> "cat"), where nltk's
tokenizer would split it off as its own token.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

from core.errors import ModelUnavailableError

CANDIDATE_POS = ("n", "a", "v")
AUXILIARY_LEMMAS = frozenset({"be", "have", "do", "get", "let"})
# Letters and digits ("4k", "3d"), with inner hyphens or apostrophes ("well-known", "don't").
_WORD = re.compile(r"[A-Za-z0-9]+(?:['\-][A-Za-z0-9]+)*")
_lock = threading.Lock()


def normalize_word(word: str) -> str:
    """Return `word` lower-cased without a possessive 's ("cat's" -> "cat")."""
    word = word.lower()
    return word[:-2] if word.endswith("'s") and len(word) > 2 else word


def word_spans(text: str) -> list[tuple[int, int, str]]:
    """Return (start, end, normalized word) for every word of `text`, in order."""
    return [(m.start(), m.end(), normalize_word(m.group(0))) for m in _WORD.finditer(text)]


def split_words(text: str) -> list[str]:
    """Return the words of `text` (letters/digits, inner apostrophes or hyphens), normalized."""
    return [normalize_word(match.group(0)) for match in _WORD.finditer(text)]


@lru_cache(maxsize=1)
def _wordnet():
    from core.assets.language_data import is_ready, register_nltk_path

    register_nltk_path()
    if not is_ready():
        raise ModelUnavailableError(
            "WordNet is not installed. Run `python -m core.assets fetch` (it takes Debian's "
            "wordnet-base package) or install nltk's WordNet data."
        )
    import warnings

    from nltk.corpus import wordnet

    with warnings.catch_warnings():  # "multilingual functions are not available": not used
        warnings.simplefilter("ignore")
        wordnet.ensure_loaded()
    return wordnet


@lru_cache(maxsize=1)
def _tag_function():
    """Return a function mapping a word list to Penn Treebank tags."""
    import nltk

    from core.assets.language_data import register_nltk_path

    register_nltk_path()
    try:
        nltk.data.find("taggers/averaged_perceptron_tagger_eng")
        return lambda words: [tag for _, tag in nltk.pos_tag(words)]
    except LookupError:
        from textblob.en.taggers import PatternTagger

        tagger = PatternTagger()

        def pattern_tags(words: list[str]) -> list[str]:
            # PatternTagger tokenizes its input itself; words joined by spaces come back one
            # token each, since split_words already removed punctuation.
            tagged = tagger.tag(" ".join(words), tokenize=False)
            return [tag for _, tag in tagged]

        return pattern_tags


def coarse_pos(penn_tag: str) -> str | None:
    """Map a Penn Treebank tag to WordNet's n/v/a/r, or None for function words."""
    return {"N": "n", "V": "v", "J": "a", "R": "r"}.get(penn_tag[:1])


@lru_cache(maxsize=200_000)
def lemmatize(word: str, pos: str | None) -> str:
    """Return nltk's WordNet lemma of `word` for WordNet POS `pos` (the word itself if none)."""
    if pos not in ("n", "v", "a", "r"):
        return word
    wordnet = _wordnet()
    lemmas = wordnet._morphy(word, pos)  # what nltk's WordNetLemmatizer.lemmatize does
    return min(lemmas, key=len) if lemmas else word


@lru_cache(maxsize=50_000)
def tagged_lemmas(text: str) -> tuple[tuple[str, str | None], ...]:
    """Return (lemma, coarse POS or None) for every word of `text`, in order."""
    words = split_words(text)
    if not words:
        return ()
    with _lock:  # the PatternTagger's lazy lexicon load is not thread-safe
        tags = _tag_function()(words)
    if len(tags) != len(words):  # a tokenizer disagreement: tag word by word instead
        with _lock:
            tags = [_tag_function()([word])[0] for word in words]
    result = []
    for word, tag in zip(words, tags, strict=True):
        pos = coarse_pos(tag)
        if tag == "FW" and _wordnet()._morphy(word, "n"):
            pos = "n"  # the tagger's "foreign word" for a noun it lacks: kimono, tofu, ramen
        lemma = lemmatize(word, pos)
        if lemma == word and tag in ("NNS", "NNPS"):
            # An irregular plural that WordNet also lists as a noun of its own ("men": a work
            # force) is still its singular's plural; "glasses" (spectacles) stays itself.
            irregular = [f for f in _wordnet()._morphy(word, "n") if not word.startswith(f)]
            lemma = min(irregular, key=len, default=word)
        result.append((lemma, pos))
    return tuple(result)


def tagged_keywords(text: str) -> list[tuple[str, str]]:
    """Return unique (lemma, POS) keyword pairs of `text` in first-seen order (POS n, v or a)."""
    seen: dict[str, str] = {}
    for lemma, pos in tagged_lemmas(text):
        if (
            pos in CANDIDATE_POS
            and lemma not in AUXILIARY_LEMMAS
            and not lemma.endswith("n't")  # don't, isn't, can't: auxiliaries and modals
            and lemma not in seen
        ):
            seen[lemma] = pos
    return list(seen.items())


def extract_keywords(text: str) -> list[str]:
    """Return the unique keyword lemmas of `text` in first-seen order (DiffChat Listing 1, l.14)."""
    return [lemma for lemma, _ in tagged_keywords(text)]


@lru_cache(maxsize=100_000)
def synonyms(lemma: str, pos: str | None = None) -> frozenset[str]:
    """Return the WordNet synonym set of `lemma`: itself plus every lemma name of its synsets.

    Names are lower-cased with underscores turned into spaces. `pos` (n/v/a/r) restricts
    the synsets; None takes all of them, as Listing 1's synonym_dict does.
    """
    wordnet = _wordnet()
    names = {lemma}
    for synset in wordnet.synsets(lemma, pos=pos):
        names.update(name.lower().replace("_", " ") for name in synset.lemma_names())
    return frozenset(names)
