"""Word-level highlighting of what the rewriter changed between two prompts.

Each turn of the Create tab shows the new prompt with the words that changed against the
previous prompt; this module is the one place that computes that difference.
"""

from __future__ import annotations

import difflib
import re

ADDED = "added"
REMOVED = "removed"
# Colours for gr.HighlightedText (the legend shows the labels).
COLOR_MAP = {ADDED: "green", REMOVED: "red"}

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>])")


def _comparison_key(token: str) -> str:
    # "meadow," and "Meadow" are the same word to a reader; punctuation moves are not edits.
    return token.strip(".,;:!?\"'()[]").lower()


def diff_words(previous: str, current: str) -> list[tuple[str, str | None]]:
    """Return `current` as (word, label) segments against `previous`.

    Labels are ADDED for words of `current` that are new, REMOVED for words of `previous`
    that are gone (placed where they were), and None for kept words. Adjacent segments with
    the same label are merged. An empty `previous` (the first turn) gives one unlabelled
    segment: nothing is "changed" on a first prompt.
    """
    old_words, new_words = previous.split(), current.split()
    if not old_words:
        return [(current.strip(), None)] if current.strip() else []
    matcher = difflib.SequenceMatcher(
        a=[_comparison_key(w) for w in old_words],
        b=[_comparison_key(w) for w in new_words],
        autojunk=False,
    )
    segments: list[tuple[str, str | None]] = []

    def emit(words: list[str], label: str | None) -> None:
        if not words:
            return
        text = " ".join(words)
        if segments and segments[-1][1] == label:
            segments[-1] = (f"{segments[-1][0]} {text}", label)
        else:
            segments.append((text, label))

    for tag, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if tag == "equal":
            emit(new_words[new_start:new_end], None)
            continue
        emit(old_words[old_start:old_end], REMOVED)  # empty for "insert"
        emit(new_words[new_start:new_end], ADDED)  # empty for "delete"
    # HighlightedText joins segments without separators: put the spaces back.
    return [
        (text + (" " if i < len(segments) - 1 else ""), lab)
        for i, (text, lab) in enumerate(segments)
    ]


def escape_markdown(text: str) -> str:
    """Return `text` with Markdown's special characters backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def diff_markdown(previous: str, current: str) -> str:
    """Return `current` as Markdown with added words in bold and removed words struck out."""
    parts = []
    for text, label in diff_words(previous, current):
        escaped = escape_markdown(text.strip())
        if label == ADDED:
            parts.append(f"**{escaped}**")
        elif label == REMOVED:
            parts.append(f"~~{escaped}~~")
        else:
            parts.append(escaped)
    return " ".join(parts)
