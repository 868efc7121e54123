"""The content-integrity (CI) score: DiffChat Listing 1 (appendix A.4), and its prefix form.

Given the InstructPix2Pix-style references (x_o raw prompt, i instruction, y_o target
prompt) CI measures how many keywords of y_o survive, up to WordNet synonyms, in a
candidate prompt y:

    highlighted = keywords(y_o) that are in keywords(i) but not in keywords(x_o)
    for each keyword k of y_o: take the first synonym s of k (k itself first) that is among
        y's lemmatized words; add 2 if s is highlighted, else 1
    raw   = count / (len(keywords(y_o)) + len(highlighted))
    score = raw if raw >= threshold (0.7) else 0

The normalisation departs from the listing's `min(count / len(keywords(y_o)), 1)` on purpose:
under that cap a kept highlighted word (+2) pays for a lost keyword, so a prompt that drops
one of the other keywords still scores 1.0 (ADM- negatives scored like positives, issue 10).
Dividing by the largest count reachable keeps the listing's double weight for highlighted
words, gives 1.0 only when every keyword is kept, and lowers the score for every loss.

Edge cases (the listing leaves them open):
- y_o has no keywords: nothing can be lost, raw = 1.0.
- empty candidate (and y_o has keywords): raw = 0.0.
- instruction or raw prompt without keywords: nothing is highlighted; plain counting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from core.nlp import (
    extract_keywords,
    lemmatize,
    normalize_word,
    synonyms,
    tagged_lemmas,
    word_spans,
)

DEFAULT_THRESHOLD = 0.7  # DiffChat Listing 1, `thres=0.7`


@dataclass(frozen=True)
class ContentIntegrity:
    """A CI result: `score` after thresholding (the PPO reward), `raw` before (as reported)."""

    score: float
    raw: float


def highlighted_keywords(
    raw_prompt: str, instruction: str, reference_keywords: list[str]
) -> list[str]:
    """Return Listing 1's highlighted words: the keywords of y_o (`reference_keywords`, i.e.
    extract_keywords(reference_target)) that the instruction names and x_o lacks (line 31)."""
    raw_keywords = set(extract_keywords(raw_prompt))
    instruction_keywords = set(extract_keywords(instruction))
    return [k for k in reference_keywords if k not in raw_keywords and k in instruction_keywords]


class _Reference:
    """The reference side (x_o, i, y_o) of Listing 1, computed once."""

    def __init__(self, raw_prompt: str, instruction: str, reference_target: str):
        self.keywords = extract_keywords(reference_target)
        self.highlighted = frozenset(highlighted_keywords(raw_prompt, instruction, self.keywords))
        # The count when every keyword is kept as itself: highlighted ones weigh 2 (line 41).
        self.full_count = len(self.keywords) + len(self.highlighted)
        # Each keyword's synonyms, the keyword itself first (the order the listing breaks on).
        self.ordered_synonyms = [
            [keyword, *sorted(synonyms(keyword) - {keyword})] for keyword in self.keywords
        ]
        # word -> [(keyword index, position in that keyword's synonym list)]
        self.positions: dict[str, list[tuple[int, int]]] = {}
        for index, names in enumerate(self.ordered_synonyms):
            for position, name in enumerate(names):
                self.positions.setdefault(name, []).append((index, position))

    def weight(self, index: int, position: int) -> int:
        return 2 if self.ordered_synonyms[index][position] in self.highlighted else 1

    def raw_from_matches(self, first_match: list[int | None]) -> float:
        if not self.keywords:
            return 1.0
        count = sum(
            self.weight(index, position)
            for index, position in enumerate(first_match)
            if position is not None
        )
        # The cap only matters when a keyword is found through a synonym that is itself a
        # highlighted keyword (weight 2 where 1 was counted in full_count).
        return min(count / self.full_count, 1.0)

    def match_words(self, words: set[str]) -> list[int | None]:
        first_match: list[int | None] = [None] * len(self.keywords)
        for word in words:
            for index, position in self.positions.get(word, ()):
                if first_match[index] is None or position < first_match[index]:
                    first_match[index] = position
        return first_match


def _threshold(raw: float, threshold: float) -> float:
    return raw if raw >= threshold else 0.0


def content_integrity(
    raw_prompt: str,
    instruction: str,
    reference_target: str,
    candidate: str,
    threshold: float = DEFAULT_THRESHOLD,
) -> ContentIntegrity:
    """Return the CI of `candidate` against (x_o=raw_prompt, i=instruction, y_o=reference_target)."""
    reference = _Reference(raw_prompt, instruction, reference_target)
    candidate_words = {lemma for lemma, _ in tagged_lemmas(candidate)}
    raw = reference.raw_from_matches(reference.match_words(candidate_words))
    return ContentIntegrity(score=_threshold(raw, threshold), raw=raw)


class PrefixContentIntegrity:
    """CI of every prefix of a generated prompt, for PPO's value estimate (DiffChat eq. 7).

    The reference side is computed once. `prefix_scores` tags the finished text once and
    walks its tokens, adding each word as soon as the prefix contains it. A word is added
    whole once complete and, while it is still being generated, as its lemmatized fragment,
    which is what a from-scratch call on that prefix would see. The one difference from
    calling `content_integrity` on each prefix: a word keeps the POS tag it has in the
    finished text (taggers look right as well as left). The last prefix equals the full
    call exactly.
    """

    def __init__(
        self,
        raw_prompt: str,
        instruction: str,
        reference_target: str,
        threshold: float = DEFAULT_THRESHOLD,
    ):
        self.reference = _Reference(raw_prompt, instruction, reference_target)
        self.threshold = threshold

    def prefix_scores(self, token_texts: list[str], thresholded: bool = True) -> list[float]:
        """Return one CI per prefix: element t scores "".join(token_texts[: t + 1])."""
        text = "".join(token_texts)
        lemmas = tagged_lemmas(text)
        spans = word_spans(text)
        reference = self.reference
        first_match: list[int | None] = [None] * len(reference.keywords)

        def add(word: str, matches: list[int | None]) -> None:
            for index, position in reference.positions.get(word, ()):
                if matches[index] is None or position < matches[index]:
                    matches[index] = position

        scores = []
        next_word = 0
        end = 0
        for token in token_texts:
            end += len(token)
            # Words that end strictly before the prefix end, or at the end of the whole text,
            # are complete.
            while next_word < len(spans) and (
                spans[next_word][1] < end or spans[next_word][1] == len(text) == end
            ):
                add(lemmas[next_word][0], first_match)
                next_word += 1
            matches = first_match
            if next_word < len(spans) and spans[next_word][0] < end:
                fragment = normalize_word(text[spans[next_word][0] : end])
                matches = list(first_match)
                add(lemmatize(fragment, lemmas[next_word][1]), matches)
            raw = reference.raw_from_matches(matches)
            scores.append(_threshold(raw, self.threshold) if thresholded else raw)
        return scores


def decoded_token_texts(tokenizer, token_ids: list[int]) -> list[str]:
    """Return the text each token adds to the decoded sequence; the pieces join to its decode.

    Piece t is decode(ids[: t + 1]) minus decode(ids[: t]) (special tokens skipped), which is
    what `PrefixContentIntegrity.prefix_scores` needs. Decoding each token alone is wrong for
    SentencePiece tokenizers (Llama, Mistral): a lone "▁cat" decodes to "cat" without its
    space, words run together and every prefix CI is 0. Where a prefix ends inside a
    multi-byte character its text is not a prefix of the next one; such a token adds "" and
    the character comes with the token that completes it.
    """
    full = tokenizer.decode(token_ids, skip_special_tokens=True)
    pieces, end = [], 0
    for count in range(1, len(token_ids) + 1):
        prefix = tokenizer.decode(token_ids[:count], skip_special_tokens=True)
        reached = max(end, len(os.path.commonprefix([prefix, full])))
        pieces.append(full[end:reached])
        end = reached
    if pieces:
        pieces[-1] += full[end:]
    return pieces
