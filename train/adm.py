"""Action-space Dynamic Modification (ADM), DiffChat section 3.3, eqs. 3-4.

Positive samples (ADM+, eq. 3): responses are sampled with locally typical sampling
(Meister et al., 2023) at p = 0.97, which drops low-information tokens from the action
space at every step — transformers' generate(typical_p=...), whose support is
`train.ppo_math.typical_support_mask`.

Negative samples (ADM-, eq. 4): with probability 0.04 a rollout's *target prompt* y gets one
of its keywords (Listing 1 line 10, `core.nlp.tagged_keywords`) removed (50%) or replaced
(50%) by a keyword of the same part of speech from the training set that is not its WordNet
synonym (Listing 1 line 36, `core.nlp.synonyms`). The keyword is one the content-integrity
reward checks (a keyword of the CI reference y_o), so that the reward sees the error. Our reading of eq. 4: the action space of
such a rollout is narrowed to exactly the tokens of the perturbed target prompt, i.e. the
perturbed prompt is used as the response (teacher-forced) in place of a sampled one. It is
scored like any rollout — content integrity drops for the missing or wrong keyword — so PPO
learns from a realistic omission/replacement error that the policy rarely samples itself.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass

import torch

REMOVE = "remove"
REPLACE = "replace"


@dataclass(frozen=True)
class Perturbation:
    """A negative target prompt: `text` is `original` with `keyword` removed or replaced."""

    text: str
    original: str
    kind: str  # REMOVE or REPLACE
    keyword: str
    replacement: str | None = None


def keyword_spans(text: str, keyword: str) -> list[tuple[int, int]]:
    """Return the (start, end) character spans of the words of `text` whose lemma is `keyword`.

    Words are matched by their lemma in context (`core.nlp.tagged_lemmas`), so "cats" and
    "mice" are found for "cat" and "mouse", and "sun" does not hit "sunflowers".
    """
    from core.nlp import tagged_lemmas, word_spans

    return [
        (start, end)
        for (start, end, _), (lemma, _) in zip(word_spans(text), tagged_lemmas(text), strict=True)
        if lemma == keyword
    ]


def _substitute(text: str, spans: list[tuple[int, int]], replacement: str) -> str:
    for start, end in reversed(spans):
        text = text[:start] + replacement + text[end:]
    return text


def _tidy(text: str) -> str:
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r"([,;:])(\s*[,;:])+", r"\1", text)
    text = re.sub(r"\s{2,}", " ", text)
    return text.strip(" ,;:")


class NegativeSampler:
    """Make ADM- negative target prompts (DiffChat eq. 4).

    `vocabulary` maps a coarse POS ("n", "v", "a") to the training set's keyword lemmas of that
    POS (build it with `from_target_prompts`). `rate` is the share of target prompts perturbed
    (0.04), `remove_share` the share of those where the keyword is removed (0.5; the rest are
    replaced).
    """

    def __init__(
        self, vocabulary: dict[str, list[str]], rate: float = 0.04, remove_share: float = 0.5
    ):
        if not 0.0 <= rate <= 1.0 or not 0.0 <= remove_share <= 1.0:
            raise ValueError("rate and remove_share must be in [0, 1]")
        self.vocabulary = {pos: sorted(set(words)) for pos, words in vocabulary.items()}
        self.rate = rate
        self.remove_share = remove_share

    @classmethod
    def from_target_prompts(
        cls, target_prompts: Iterable[str], rate: float = 0.04, remove_share: float = 0.5
    ) -> NegativeSampler:
        """Return a sampler whose replacement vocabulary is the keywords of `target_prompts`."""
        from core.nlp import tagged_keywords

        vocabulary: dict[str, set[str]] = {}
        for text in target_prompts:
            for lemma, pos in tagged_keywords(text):
                vocabulary.setdefault(pos, set()).add(lemma)
        return cls({pos: sorted(words) for pos, words in vocabulary.items()}, rate, remove_share)

    def maybe_perturb(
        self, target_prompt: str, rng: random.Random, keywords: Iterable[str] | None = None
    ) -> Perturbation | None:
        """Return a Perturbation with probability `rate` (and when one is possible), else None.

        `keywords`: see `perturb`.
        """
        if rng.random() >= self.rate:
            return None
        kind = REMOVE if rng.random() < self.remove_share else REPLACE
        return self.perturb(target_prompt, kind, rng, keywords)

    def perturb(
        self,
        target_prompt: str,
        kind: str,
        rng: random.Random,
        keywords: Iterable[str] | None = None,
    ) -> Perturbation | None:
        """Return `target_prompt` with one random keyword removed or replaced (`kind`).

        Every occurrence of the keyword (any inflection) goes, so the error is not undone by a
        second mention. `keywords` (lemmas) limits the choice to the keywords the reward checks
        — the CI reference's (y_o's) — so that the negative is an error the reward can see; a
        perturbed style tag that the reference does not hold would be scored like a positive.
        Returns None when no such keyword is in the prompt or, for a replacement, no same-POS
        non-synonym keyword exists in the vocabulary.
        """
        from core.nlp import synonyms, tagged_keywords

        if kind not in (REMOVE, REPLACE):
            raise ValueError(f"kind must be '{REMOVE}' or '{REPLACE}', got {kind!r}")
        wanted = None if keywords is None else set(keywords)
        candidates = [
            (lemma, pos)
            for lemma, pos in tagged_keywords(target_prompt)
            if wanted is None or lemma in wanted
        ]
        rng.shuffle(candidates)
        for keyword, pos in candidates:
            spans = keyword_spans(target_prompt, keyword)
            if not spans:
                continue
            if kind == REMOVE:
                text = _tidy(_substitute(target_prompt, spans, ""))
                if text and text != target_prompt:
                    return Perturbation(text, target_prompt, REMOVE, keyword)
                continue
            replacement = self._replacement(keyword, pos, target_prompt, rng, synonyms)
            if replacement is not None:
                text = _substitute(target_prompt, spans, replacement)
                return Perturbation(text, target_prompt, REPLACE, keyword, replacement)
        return None

    def _replacement(self, keyword, pos, target_prompt, rng, synonyms) -> str | None:
        related = {s.lower() for s in synonyms(keyword, pos)} | {keyword.lower()}
        words = set(re.findall(r"[a-z]+", target_prompt.lower()))
        options = [
            word
            for word in self.vocabulary.get(pos, [])
            if word.lower() not in related
            and word.lower() not in words
            and keyword.lower() not in {s.lower() for s in synonyms(word, pos)}
        ]
        return rng.choice(options) if options else None


def sample_responses(
    language_model,
    query_ids: torch.Tensor,
    query_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    pad_token_id: int,
    eos_token_id: int | list[int],
    typical_p: float | None,
) -> torch.Tensor:
    """Return sampled response ids [B, N] (right-padded with pad_token_id) for left-padded queries.

    `typical_p` set: ADM+ locally typical sampling (DiffChat eq. 3); None: plain sampling from
    the full distribution (eq. 2, the ablation). top_k is switched off so that nothing but the
    typical set narrows the action space. Generation stops at any id of `eos_token_id` (the
    PPO rollout passes the special and newline tokens: generate's stop_strings fails on
    tokenizers whose vocabulary it cannot map, e.g. word-level ones).
    """
    options = {"typical_p": typical_p} if typical_p is not None else {}
    with torch.no_grad():
        output = language_model.generate(
            input_ids=query_ids,
            attention_mask=query_mask,
            do_sample=True,
            top_k=0,
            top_p=1.0,
            temperature=1.0,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_token_id,
            eos_token_id=eos_token_id,
            **options,
        )
    return output[:, query_ids.shape[1] :]
