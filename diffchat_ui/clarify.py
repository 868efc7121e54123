"""Ask one clarifying question when an instruction is too vague to act on.

DialogPaint (Wei et al. 2023, section 3.1 and Fig. 3) showed that a dialogue editor should
not guess on directives like "change it", "make it better" or "something else": it asks a
question with concrete options and acts on the answer. DiffChat's rewriter has no such
behaviour (a vague instruction gives an arbitrary rewrite), so the Create tab checks each
instruction here first. The check is lexical on purpose: it must be instant, predictable
and testable, and it only has to catch instructions that carry no concrete content at all,
or that name a thing to change without saying into what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words that carry no concrete edit on their own. An instruction made only of these is vague.
_FILLER = frozenset(
    """a an the it its it's this that these those me us you i we my our your one ones some
    please can could would will should just maybe perhaps bit little kind sort of so very
    really much more less lot again now then also too here there thing things stuff
    something anything everything whatever else other another different new way look
    image picture photo pic scene version try let let's lets do make change edit modify
    alter tweak redo update fix improve improved better nicer good great best cooler cool
    nice interesting awesome prettier pretty beautiful fancy amazing to into be is are
    get give go for with in on up out""".split()
)
# Words that ask for "quality" rather than content: answered with quality choices.
_QUALITY = frozenset(
    "better nicer good great best improve improved fix prettier pretty beautiful "
    "cooler cool nice interesting awesome fancy amazing".split()
)
# Verbs that need a destination ("change the sky" ... to what?).
_CHANGE_VERBS = ("change", "replace", "swap", "switch", "alter", "modify", "transform", "edit")
_DESTINATION = re.compile(r"\b(to|into|with|for|by|so|as|from)\b")
_CHANGE_OBJECT = re.compile(
    rf"^(?:please\s+)?(?:{'|'.join(_CHANGE_VERBS)})\s+(?:the|his|her|its|their|that|this|a)?\s*"
    r"([a-z][a-z' -]{0,30}?)\s*$"
)
# Replies that mean "don't ask, act on what I said".
_JUST_DO_IT = frozenset(
    (
        "just do it",
        "just do it please",
        "do it",
        "do it anyway",
        "go ahead",
        "go on",
        "anyway",
        "whatever",
        "surprise me",
        "you choose",
        "you decide",
        "up to you",
        "your choice",
        "any",
        "anything",
        "skip",
        "no preference",
    )
)
_LEADING_VERBS = frozenset(
    """make turn add remove replace change give put let set swap switch paint draw show
    have delete erase place move use convert transform render""".split()
)

QUALITY_CHOICES = (
    "add more detail and a sharper focus",
    "give it dramatic cinematic lighting",
    "make the colors more vivid",
    "make it look like a professional photograph",
)
CONTENT_CHOICES = (
    "turn it into a watercolor painting",
    "make it night time",
    "make it snow",
    "move the scene to a sunny beach",
)


@dataclass(frozen=True)
class Clarification:
    """A question for the user: the vague instruction, the question, and concrete choices."""

    instruction: str
    question: str
    choices: tuple[str, ...]
    target: str | None = None  # the thing to change, for "change the sky"-style instructions

    def as_markdown(self) -> str:
        """Return the question and numbered choices as one chat message."""
        lines = [self.question, ""]
        lines += [f"{number}. {choice}" for number, choice in enumerate(self.choices, 1)]
        lines += ["", 'Reply with a number, your own words, or "just do it".']
        return "\n".join(lines)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z][a-z']*", text.lower())


def clarify(instruction: str) -> Clarification | None:
    """Return a Clarification when `instruction` is too vague to act on, else None.

    Vague means either every word is filler ("change it", "make it better", "something
    else"), or a change verb names an object but no destination ("change the sky"). An
    instruction with any concrete word ("make it snow", "make the car blue") returns None.
    """
    text = " ".join(instruction.lower().split()).strip(" .!?")
    words = _words(text)
    if not words:
        return None
    if all(word in _FILLER for word in words):
        if any(word in _QUALITY for word in words):
            return Clarification(
                instruction, "Better in what way? Pick one or describe it:", QUALITY_CHOICES
            )
        return Clarification(
            instruction, "What would you like to change? For example:", CONTENT_CHOICES
        )
    match = _CHANGE_OBJECT.match(text)
    if match and not _DESTINATION.search(text):
        target = match.group(1).strip()
        if target and not all(word in _FILLER for word in _words(target)):
            choices = (
                f"make the {target} red",
                f"make the {target} golden",
                f"make the {target} bigger",
                f"remove the {target}",
            )
            return Clarification(
                instruction, f"What should the {target} become? For example:", choices, target
            )
    return None


def resolve_answer(pending: Clarification, answer: str) -> str:
    """Return the instruction to run, given the user's reply to `pending`.

    A choice number ("2") or the text of a choice picks that choice; "just do it" (and
    similar) runs the original instruction as it was; any other reply is taken as the
    instruction, completed with the original object when it is only a destination
    ("change the sky" + "a stormy sky" -> "change the sky to a stormy sky").
    """
    reply = " ".join(answer.split()).strip()
    normalized = reply.lower().strip(" .!?")
    if normalized.isdigit() and 1 <= int(normalized) <= len(pending.choices):
        return pending.choices[int(normalized) - 1]
    for choice in pending.choices:
        if normalized == choice.lower():
            return choice
    if normalized in _JUST_DO_IT:
        return pending.instruction
    words = _words(normalized)
    if words and words[0] in _LEADING_VERBS:
        return reply
    if pending.target:
        return f"{pending.instruction.strip(' .!?')} to {reply}"
    return f"make it {reply}"
