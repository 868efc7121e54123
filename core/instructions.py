"""Instruction understanding: what an edit must gain and lose, and whether it is too vague.

The one home of instruction reading (issue 9, section 3). From the current prompt x and an
instruction i alone, `read_instruction` lists

- `gain`: the lemmas the new prompt must contain: the content words of i that x lacks
  ("make the dog a fox" -> fox; "make the sea rougher" -> rough; "more clouds" -> cloud);
- `lose`: the lemmas the new prompt must no longer contain: the object of remove / delete /
  get rid of / erase / without / no more, the X of "replace X with Y", "swap X for Y",
  "turn X into Y", "change X to Y", "Y instead of X", and the old value of a slot that the
  instruction sets: season, time of day, weather and medium for the whole scene, colour for
  an object the prompt names ("make it winter" on "... in spring ..." -> spring; "make the
  car blue" on "a red car" -> red). A medium change also loses the prompt's tags of the
  other medium family (photo, 35mm, dslr, bokeh vs painting, watercolor, sketch, anime).

`check_edit` then judges a candidate rewrite against that reading. The verified decoding of
core/rewrite.py ranks candidates with it.

Where the knowledge comes from:
- Grammar is a short list below: verbs of editing, degree words, politeness, pronouns and
  the nouns that only name a slot ("season", "colour", "background"). It is the
  instruction's syntax, not its content.
- Slot membership comes from WordNet 3.0 through core.nlp: a season is a hyponym of
  season.n.02; a time of day a hyponym of hour.n.02 or a part of day.n.01 (morning,
  night, evening...); weather a hyponym of weather.n.01 or atmospheric_phenomenon.n.01 (or a
  cloud.n.01: fog, mist); a colour a hyponym of color.n.01; a medium a hyponym of
  graphic_art / painting / drawing / artwork (art family) or photograph / photography
  (photo family). Adjectives and verbs reach those nouns through WordNet's derivational
  links ("misty" -> mist, "wintry" -> winter, "photographic" -> photograph); adverbs reach
  none. A word read in passing in a prompt fills a season, time of day or weather only
  through its first, most frequent sense ("high contrast", "a mushroom", "a quiet street"
  fill none); media are named by the artist's material ("charcoal", "gouache", "canvas"),
  so a noun's medium senses read loosely; an instruction's new value may use a rarer sense
  where the first fills no slot.
- Weather has layers that stand side by side (wind; precipitation beside clouds and mist);
  other weather values exclude each other (see `_compatible`).
- WordNet lacks a few prompt tags: `_FALLBACK_SLOTS` lists them (35mm, dslr, bokeh,
  anime, pixel art, golden hour, sunny...), each with its slot.
- What WordNet cannot place at all is data, `core/reader_words.json`: the tags each medium
  kind carries ("cel shading" for anime, "soft washes" for watercolor, "octane render" for
  3d; they go when the instruction sets another kind), words bound to a season or weather
  ("snow on the roofs" only in winter), the words of which a picture holds one at a
  time: mood, expression, camera angle, shot size, lens, composition (`_lexicon_losses`),
  and the outfits WordNet 3.0 does not list ("hoodie", "tracksuit": `_is_outfit`).
- "Present in a text" is synonym-aware: a lemma is present when the text holds it, a word
  derived from it (snow / snowy), or a WordNet synonym used with the same part of speech
  (bike / bicycle; "night" / "dark" counts only where "dark" is a noun).

The vague-instruction check (`clarify`, `is_vague`) is lexical on purpose: it must be instant,
predictable and testable, and only has to catch instructions with no concrete content at all
("make it better", "change it") or a change verb with an object and no destination ("change
the sky"). DialogPaint (Wei et al. 2023, section 3.1 and Fig. 3) showed that a dialogue editor
should ask a question with concrete options there instead of guessing; the Create tab asks it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache

from core.nlp import lemmatize, split_words, synonyms, tagged_lemmas, word_spans

# ---------------------------------------------------------------------------------------------
# Grammar words (the instruction's syntax; no image content)

# Verbs that say how to edit, not what to show.
_EDIT_VERBS = frozenset(
    """make turn change replace remove add swap switch exchange substitute delete erase
    eliminate ditch drop get rid put place give set paint dye colour color recolor recolour
    convert transform render show have use let keep move shift zoom pan tilt crop frame
    include insert bring take lose want need like look seem appear feel become go try
    age resize shrink grow push stop reframe recompose relight rebuild redo dress style
    throw pile crank tone thin ease fill cut thicken deepen lighten arrange shoot relocate
    start begin continue""".split()
)
# Degree, quantity and politeness words, and nouns that only point at the image or name a slot.
_FILTER_WORDS = frozenset(
    """please more less fewer bit little lot lots much many way kind sort one ones thing things
    instead rather same whole entire again now also too just maybe actually slightly somewhat
    very really quite image picture pic version scene season time weather colour color style
    medium background setting tone look feel vibe mood atmosphere camera composition lighting
    framing face expression outfit clothes pls""".split()
)
_PRONOUNS = frozenset(
    """it its itself him his himself her hers herself them their theirs themselves he she they
    this that these those everything everyone everybody me my us our you your i we""".split()
)
# Prepositions that end a noun phrase ("the hat on his head" -> the hat).
_PREPOSITIONS = frozenset(
    """of in on at from with behind near by under over above below beside next to into onto
    through across around inside outside between for""".split()
)
_POLITE_PREFIX = re.compile(
    r"^(?:(?:please|pls|ok|okay|now|then|also|and|so|hey|can you|could you|would you|will you|"
    r"i want you to|i want to|i'd like to|i would like to|i'd like|i want|let's|lets|try to|"
    r"i'd rather|i would rather|go ahead and|just|"
    # lead-ins that only say "this instead": "go for moody lighting", "more like a dozen"
    r"go for|go with|more like|how about|what about|switch to)\s+)+"
)
_REMOVE = re.compile(
    r"^(?:remove|delete|erase|eliminate|ditch|drop|get rid of|take away|take out|take off|"
    r"lose|cut out|clear away|hide|stop|shave off|shave)\s+(?P<old>.+)$"
)
# "clear the fog", "clear up the clouds": the weather goes (a cleared table is not a removal).
_CLEAR_WEATHER = re.compile(r"^clear\s+(?:up\s+|away\s+|out\s+)?(?P<old>(?:the\s+)?[a-z]+)$")
# "in color pls" on "a black and white photo": the colours come back.
_IN_COLOR = re.compile(
    r"^(?:make it\s+|put it\s+|show it\s+|go\s+|back to\s+)?(?:in\s+)?(?:full\s+)?"
    r"(?:colou?r|colou?rs|colou?rized|colou?rised|colou?rize|colou?rise)(?:\s+it)?$"
)
_MONOCHROME = re.compile(r"\b(?:black[ -]and[ -]white|b&w|monochrome|monochromatic|gr[ae]yscale)\b")
_SET_LIGHTING = re.compile(
    r"^(?:make|set|change|turn)\s+the\s+(?:lighting|light)\s+(?:to\s+|into\s+)?(?:be\s+)?"
    r"(?P<new>(?!lighting\b)\w+(?:\s.+)?)$"
)
# Where a thing stands in the frame: "in the center of", "on the left side of".
_POSITION_WORDS = "left|right|center|centre|middle|top|bottom|corner|foreground"
_PROMPT_POSITION = re.compile(
    rf"\b(?:in|on|at)\s+the\s+(?:far\s+|very\s+|lower\s+|upper\s+)?(?P<where>{_POSITION_WORDS})"
    r"(?:\s+side)?\b"
)
_NEW_POSITION = re.compile(rf"\b(?P<where>{_POSITION_WORDS})\b")
# Words that name the mood of a picture ("make the mood creepy" -> "creepy mood").
_MOOD_WORDS = frozenset({"mood", "atmosphere", "vibe", "feel", "feeling", "ambience", "ambiance"})
_LINKS = r"(?:with|and|on|in|at|of|a|an|the|some)"
_SET_BACKGROUND = re.compile(
    r"^(?:change|make|set|turn|switch)\s+the\s+(?:background|backdrop)(?:\s+(?:to|into|with))?\s+(?P<new>.+)$"
)
# The prompt's background: "with desert dunes in the background", "a dark studio background".
_PROMPT_BACKGROUND = re.compile(
    r"(?P<lead>(?:with|and)\s+)?(?:(?:a|an|the|some)\s+)?"
    rf"(?P<what>(?:(?!{_LINKS}\b)[\w-]+\s+){{0,3}}?(?!{_LINKS}\b)[\w-]+)\s+"
    r"(?:(?P<in_the>in\s+the\s+)background|background)\b"
)
# "make the colors warm reds and golds", "change the palette to pastels".
_SET_PALETTE = re.compile(
    r"^(?:make|change|turn|set|switch)\s+the\s+(?:colou?rs?|palette|colou?r\s+(?:scheme|palette))"
    r"(?:\s+(?:to|into))?\s+(?P<new>.+)$"
)
_PALETTE_WORDS = frozenset({"colors", "colours", "tones", "hues", "palette", "shades"})
# A backdrop the prompt names as what stands behind: "in front of a brick wall".
_PROMPT_BACKDROP = re.compile(
    r"\bin front of\s+[\w'-]+(?:\s+(?!(?:with|while|and|as|holding|wearing)\b)[\w'-]+){0,4}"
)
_POSITION_VERBS = frozenset(
    {"move", "put", "place", "shift", "center", "centre", "position", "set"}
)
_CENTERED = frozenset({"center", "centre", "middle"})
_SET_PERSON = re.compile(r"^(?:make|turn)\s+(?:him|her|them)\s+(?P<new>.+)$")
# "take the hat off the snowman", "take his glasses off"
_LOOK = re.compile(
    r"^(?P<lead>(?:make|have|let)\s+(?:him|her|them|(?:the|his|her|their)\s+[\w'-]+))"
    r"\s+look\s+(?P<how>[\w'-]+)$"
)
_TAKE_OFF = re.compile(r"^take\s+(?P<old>(?:the|his|her|their|its)\s+.+?)\s+(?:off|out|away)\b.*$")
_NEGATION = re.compile(
    r"(?:^|\s)(?:without|no more|no longer any|no longer|not any|no|minus|"
    r"(?:don't|do not) want(?: any)?)\s+(?P<old>.+)$"
)
# (pattern, which group is the old value, which is the new one)
_REPLACEMENTS = (
    re.compile(r"^substitute\s+(?P<new>.+?)\s+for\s+(?P<old>.+)$"),
    re.compile(
        r"^(?:replace|swap|switch|exchange|trade)\s+(?P<old>.+?)\s+(?:with|for|by|to|into|and)\s+"
        r"(?P<new>.+)$"
    ),
    re.compile(
        r"^(?:turn|change|transform|convert|make|morph)\s+(?P<old>.+?)\s+(?:into|in to|to)\s+"
        r"(?P<new>.+)$"
    ),
    re.compile(r"^(?P<new>.+?)\s+(?:instead of|rather than|in place of)\s+(?P<old>.+)$"),
    re.compile(
        r"^(?:instead of|rather than)\s+(?P<old>.+?),?\s+(?P<new>(?:a|an|the|make|use|have|put)\s.+)$"
    ),
    re.compile(r"^(?:have|use)\s+(?P<new>.+?)\s+than\s+(?P<old>.+)$"),  # (i'd rather) have Y than X
    re.compile(r"^(?P<new>.+?),?\s+not\s+(?P<old>.+)$"),  # "a cat there, not a dog"
    re.compile(
        r"^(?P<old>.+?)\s+(?:should|must|could) be\s+(?P<new>.+)$"
    ),  # "the sky should be red"
    re.compile(
        r"^(?P<old>(?:the|his|her|their|its)\s.+?)\s+to be\s+(?P<new>.+)$"
    ),  # (i want) X to be Y
)
# The replacement patterns above whose new side is what the old thing turns into (so a bare
# material, "switch the train to paper", is an attribute), not a substitute for it.
_BECOMES = re.compile(r"\b(?:to|into|in to|should be|must be|could be|to be)$")
# "make the dog a fox": make + a named thing + an indefinite noun phrase.
# "move it to a cafe", "put him on the moon", "place the piano in the middle of a forest":
# the scene moves; the new place is a location (see _is_place).
_MAKE_IT_PLACE = re.compile(r"^(?:make it|set it in|make this)\s+(?P<place>[a-z][\w' -]*)$")
_MOVE_TO = re.compile(
    r"^(?:move|put|place|set|take|bring|relocate|transport|send)\s+"
    r"(?P<object>it|them|him|her|everything|the scene|(?:the|his|her|their)\s+[\w'-]+"
    r"(?:\s(?!(?:to|in|into|on|onto|at|inside|under|by)\b)[\w'-]+){0,2})\s+"
    r"(?P<new>(?:to|in|into|on|onto|at|inside|under|by)\s+.+)$"
)
# A place phrase of a prompt: "in a living room", "on a street in london", "at the beach".
_PLACE_PREPOSITIONS = "in|on|at|inside|by|near|under|beside|across|through|along"
_PLACE_PHRASE = re.compile(
    rf"\b(?:{_PLACE_PREPOSITIONS})\s+(?:a|an|the|his|her|their|some)?\s*"
    rf"[\w'-]+(?:\s+(?!(?:with|and|while|as|wearing|holding|{_PLACE_PREPOSITIONS})\b)[\w'-]+){{0,3}}"
)
_PLACE_ANCHORS = frozenset(
    {
        "location.n.01",
        "structure.n.01",
        "facility.n.01",
        "geological_formation.n.01",
        "body_of_water.n.01",
        "celestial_body.n.01",
        "land.n.04",
        "vegetation.n.01",
        "way.n.06",
    }
)
# Parts of the picture, not places: a move to them is a composition edit.
_FRAME_PARTS = frozenset(
    """left right top bottom middle center centre corner side front back foreground background
    edge frame distance""".split()
)
_MAKE_INTO = re.compile(
    r"^(?:make|turn)\s+(?P<old>(?:the|his|her|their|its|that|this)\s+.+?)\s+(?:an?|some)\s+"
    r"(?P<new>.+)$"
)
_MAKE_IT_A = re.compile(r"^(?:make|turn)\s+it\s+(?:into\s+)?(?P<new>(?:an?|some)\s+.+)$")
_MAKE_PERSON_A = re.compile(
    r"^(?:make|turn)\s+(?:him|her)\s+(?:into\s+)?(?P<new>an?\s+[\w'-]+(?:\s+[\w'-]+)?)$"
)
# "make the car blue", "paint the door red": make + a named thing + its new attribute.
_SET_ATTRIBUTE, _SET_ATTRIBUTE_ONE_WORD = (
    re.compile(
        r"^(?:make|turn|paint|dye|colou?r|recolou?r)\s+(?P<object>(?:the|his|her|their|its|that|"
        rf"this)\s+\S+{second_word})\s+(?P<new>(?!and\b)\S+(?:\s(?:and\s)?\S+){{0,{more}}})$"
    )
    # the object is one or two words / one word ("make the balloon striped red and white")
    for second_word, more in ((r"(?:\s\S+)?", 1), ("", 2))
)
# "make the players wear yellow jerseys", "have the dog hold a ball": someone does something.
_MAKE_DO = re.compile(
    r"^(?:make|have|let|get)\s+(?P<object>(?:the|his|her|their)\s+\S+)\s+(?P<verb>\S+)\s+"
    r"(?P<rest>(?:an?|the|some|his|her|their|\S+\s+\S+).*)$"
)
_COMPOUND_SPLIT = re.compile(
    r"\s*(?:,\s*and then|,\s*and|\band then\b|\band\b|;|,\s*then|\bthen\b|,)\s*"
)
# What may start the second part of a compound ("make it night and add a moon").
_PART_STARTS = _EDIT_VERBS | {"no", "without", "more", "less", "fewer", "instead", "also"}

# ---------------------------------------------------------------------------------------------
# Slots (WordNet anchors; see the module docstring)

SCENE_SLOTS = ("season", "time_of_day", "weather", "medium")
# The scene's own state, which one value replaces another of: all scene slots but the medium.
WEATHER_LIKE_SLOTS = frozenset(SCENE_SLOTS) - {"medium"}
# Nouns a weather or time value describes in a clause of their own ("sunny day", "midday
# sun"): a value that cannot describe them ("at dawn", "snowing") takes their place too.
SCENE_NOUNS = frozenset("day sun light sunlight weather sky morning afternoon evening".split())
OBJECT_SLOTS = ("colour", "count")
_SLOT_ANCHORS = {
    "season": ("season.n.02",),
    "time_of_day": ("hour.n.02",),  # plus the parts of day.n.01, computed in _time_of_day_parts
    "weather": ("weather.n.01", "atmospheric_phenomenon.n.01", "cloud.n.01"),
    "colour": ("color.n.01",),
    "count": ("integer.n.01",),  # "two cats" -> "three cats"
}
# Weather layers that may stand side by side (see _compatible).
_WIND, _PRECIPITATION, _CLOUD = "wind.n.01", "precipitation.n.03", "cloud.n.01"
_MEDIUM_ANCHORS = {
    "photo": ("photograph.n.01", "photography.n.01", "photography.n.02", "photography.n.03"),
    "art": ("graphic_art.n.01", "painting.n.01", "drawing.n.01", "drawing.n.02", "artwork.n.01"),
}
# WordNet files these genres under painting, yet a charcoal still life or a landscape photo
# is one: they name what is shown, in any medium.
_GENRES = frozenset(
    {"still_life.n.01", "landscape.n.02", "seascape.n.02", "cityscape.n.02", "nude.n.01"}
)
# Quantity words that count the noun after them ("many birds", "lots of balloons"); as
# fillers they say nothing ("a lot more fog").
_NUMBERLESS_COUNTS = frozenset("many several few lots dozens hundreds thousands countless".split())
_QUANTITIES = _NUMBERLESS_COUNTS | {"one"}
# Prompt tags WordNet 3.0 lacks (or files under an unrelated sense: "anime" is a resin,
# "cartoon" a kind of wit, "sunny" only means cheerful): slot, and medium family.
_FALLBACK_SLOTS: dict[str, tuple[str, str | None]] = {
    "35mm": ("medium", "photo"),
    "dslr": ("medium", "photo"),
    "bokeh": ("medium", "photo"),
    "photorealistic": ("medium", "photo"),
    "hyperrealistic": ("medium", "photo"),
    "photoreal": ("medium", "photo"),
    "realistic": ("medium", "photo"),
    "anime": ("medium", "art"),
    "manga": ("medium", "art"),
    "cartoon": ("medium", "art"),
    "cartoonish": ("medium", "art"),
    "comic": ("medium", "art"),
    "pixel art": ("medium", "art"),
    "golden hour": ("time_of_day", None),
    "blue hour": ("time_of_day", None),
    "sunny": ("weather", None),
    # shades WordNet knows only as a herb, a spice or a plant
    **{shade: ("colour", None) for shade in ("mint", "sage", "lilac", "mustard")},
    # Counts without a number ("lots of balloons"; "a lone wolf" is one); only the same word
    # is the same value.
    **{word: ("count", None) for word in _NUMBERLESS_COUNTS | {"lone", "solitary"}},
}
# A picture cannot show a 24-hour day: "on a sunny day" means the daytime part of it.
_WHOLE_DAY = {"day.n.01": "day.n.04"}
_FOCAL_LENGTH = re.compile(r"\d{2,3}mm")
_MAX_PHRASE = 2  # multiword tags looked up: "oil painting", "pixel art", "golden hour"


def _wordnet():
    from core.nlp import _wordnet as load

    return load()


@lru_cache(maxsize=100_000)
def _in_wordnet(term: str, pos: str | None = None) -> bool:
    """Whether WordNet has `term` (words joined by spaces), as `pos` where given. Cached:
    the prompt's every word pair is looked up, and WordNet's lookup runs its morphology."""
    return bool(_wordnet().synsets(term.replace(" ", "_"), pos=pos))


@lru_cache(maxsize=1)
def _time_of_day_parts() -> frozenset[str]:
    """Return every synset that is (transitively) a part of a day: morning, night, noon..."""
    wordnet = _wordnet()
    parts: set[str] = set()
    frontier = [wordnet.synset("day.n.01")]
    while frontier:
        synset = frontier.pop()
        for part in synset.part_meronyms():
            if part.name() not in parts:
                parts.add(part.name())
                frontier.append(part)
        for hyponym in synset.hyponyms() if synset.name() in parts else ():
            if hyponym.name() not in parts:  # kinds of a part of day are parts too (afternoon)
                parts.add(hyponym.name())
                frontier.append(hyponym)
    return frozenset(parts)


@lru_cache(maxsize=50_000)
def _noun_senses(lemma: str, pos: str | None = None, strict: bool = False) -> tuple:
    """Return the noun synsets a word stands for, as its part of speech `pos` allows.

    A noun (`pos` "n") stands for its own noun senses: all of its first three and any it
    heads, or with `strict` only its first, most frequent one (WordNet orders senses by
    frequency), so that "mushroom" or "greenhouse" read in passing are not a mushroom cloud
    or the greenhouse effect. An adjective stands for the nouns its first senses derive from
    ("misty" -> mist); a verb only for the nouns its senses derive from ("to snow" -> snow).
    With `strict`, a derived noun counts only where it is that noun's first sense: "frozen"
    is not a frost, "a calm sea" not calm weather. An adverb stands for nothing ("bright even
    light" has no evening). A word tagged
    as an adjective or adverb that WordNet knows only as a noun ("a watercolor painting") is
    a noun modifier and read as a noun. `pos` None reads every part of speech, loosely.
    """
    wordnet = _wordnet()
    key = lemma.replace(" ", "_")
    if pos in ("a", "r") and not wordnet.synsets(key, pos=pos) and wordnet.synsets(key, pos="n"):
        pos = "n"
    senses = []
    for index, synset in enumerate(wordnet.synsets(key, pos="n") if pos in (None, "n") else ()):
        # A rare sense counts only where the word heads it: "day" heads the daytime sense,
        # "light" does not head "daylight", "dark" does not head "night".
        if index == 0 or (not strict and (index < 3 or synset.lemma_names()[0].lower() == key)):
            senses.append(synset)
    derived_from = {None: ("a", "s", "v"), "a": ("a", "s"), "v": ("v",)}.get(pos, ())
    for other_pos in derived_from:
        for synset in wordnet.synsets(key, pos=other_pos)[:3]:
            for lemma_object in synset.lemmas():
                if lemma_object.name().lower() != key:
                    continue
                related = lemma_object.derivationally_related_forms() + lemma_object.pertainyms()
                for other in related:
                    noun = other.synset()
                    if noun.pos() != "n":
                        continue
                    if strict and wordnet.synsets(other.name(), "n")[:1] != [noun]:
                        continue
                    senses.append(noun)
    return tuple(dict.fromkeys(senses))


@lru_cache(maxsize=50_000)
def _closure(synset_name: str) -> frozenset[str]:
    synset = _wordnet().synset(synset_name)
    return frozenset(node.name() for path in synset.hypernym_paths() for node in path)


def _first_sense_is_a(lemma: str, anchor: str) -> bool:
    """Whether the first WordNet noun sense of `lemma` that is not a named one is a kind of
    `anchor` (synset name): "domino" is a game piece, though Fats Domino comes first."""
    senses = [s for s in _wordnet().synsets(lemma, pos="n") if not s.instance_hypernyms()]
    return bool(senses) and anchor in _closure(senses[0].name())


@dataclass(frozen=True)
class SlotValue:
    """A word's slot ("season", "medium", ...), medium family ("photo"/"art"), WordNet senses."""

    slot: str
    family: str | None
    senses: frozenset[str]


@lru_cache(maxsize=50_000)
def _is_weather(noun: str) -> bool:
    value = slot_of(lemmatize(noun, "n"), "n")
    return value is not None and value.slot == "weather"


def slot_of(lemma: str, pos: str | None = None, strict: bool = False) -> SlotValue | None:
    """Return the slot a lemma fills (season, time_of_day, weather, medium, colour, count) or
    None. `pos` is its part of speech where known (see `_noun_senses`: an adjective stands for
    the nouns it derives from, a verb only for its derived nouns, an adverb for nothing).

    Scene slots (season, time of day, weather, medium) follow `pos`: "bright even light" has
    no evening, "turn the violin miniature" no miniature painting. `strict` is for words read
    in passing in a prompt: a season, time of day or weather then needs the word's first
    noun sense ("a mushroom" is no mushroom cloud); a noun's medium senses still read loosely
    (see `_slot_from_senses`: "charcoal on paper"). An instruction names its new
    value on purpose, so where the first sense fills no slot its rarer ones may ("make it a
    woodblock print": print.n.02). Colours are read only before the noun they
    describe, from any reading of the word but a verb's.

    Membership is read from WordNet hypernyms (see the module docstring); `_FALLBACK_SLOTS`
    covers prompt tags WordNet lacks. Time of day is tried before weather ("sunset" is an
    hour before it is a sky), medium before colour.
    """
    if lemma in _FALLBACK_SLOTS:
        slot, family = _FALLBACK_SLOTS[lemma]
        return SlotValue(slot, family, frozenset())
    if _FOCAL_LENGTH.fullmatch(lemma):  # "85mm", "28mm": a lens, so a photograph
        return SlotValue("medium", "photo", frozenset())
    if lemma in _PRONOUNS or len(lemma) < 3:
        return None
    # The most frequent sense decides ("clouds" are clouds, not a cloud of dust); a noun's
    # rarer senses only where it fills no slot and is not read in passing ("a woodblock
    # print"). An adjective keeps to its first derived senses: "a calm sea" has no weather.
    value = _slot_from_senses(lemma, pos, strict=True)
    if value is not None or strict or pos not in (None, "n"):
        return value
    return _slot_from_senses(lemma, pos, strict=False)


def _slot_from_senses(lemma: str, pos: str | None, strict: bool) -> SlotValue | None:
    # Colour words are nouns and adjectives alike ("blonde", "silver"): any reading but a verb's.
    attribute = _noun_senses(lemma, "v" if pos == "v" else None)
    scene = _noun_senses(lemma, pos, strict=strict)
    # A prompt names its medium by the artist's material ("a gouache painting", "charcoal on
    # paper", "3d render"), whose first sense is the material itself: a noun's medium senses
    # read loosely; adjectives and verbs keep the strict rule ("a woman drawing a map").
    media = _noun_senses(lemma, pos, strict=strict and pos not in (None, "n"))
    parts = _time_of_day_parts()
    for slot in ("season", "time_of_day", "medium", "weather", "colour", "count"):
        matched = set()
        family = None
        senses = attribute if slot in OBJECT_SLOTS else media if slot == "medium" else scene
        for synset in senses:
            closure = _closure(synset.name())
            if slot == "medium":
                if synset.name() in _GENRES:
                    continue
                for name, anchors in _MEDIUM_ANCHORS.items():
                    if closure & set(anchors):
                        matched.add(synset.name())
                        family = family or name
            elif slot == "time_of_day" and synset.name() in _WHOLE_DAY:
                matched.add(_WHOLE_DAY[synset.name()])
            elif closure & set(_SLOT_ANCHORS[slot]) or (
                slot == "time_of_day" and synset.name() in parts
            ):
                matched.add(synset.name())
        if matched:
            return SlotValue(slot, family, frozenset(matched))
    return None


def _compatible(old: SlotValue, new: SlotValue, layered: bool = True) -> bool:
    """Whether an old slot value may stay beside the new one ("painting" beside "watercolor").

    `layered` False: the old value states the slot itself ("in misty weather"), so rain may
    not fall beside it ("make it rain" ends the misty weather, not a misty valley)."""
    if old.slot == "medium" and old.family != new.family:
        return False
    if old.slot == "medium" and old.family == "photo":
        return True  # a 35mm photo is still a photo: photo tags never contradict each other
    if old.slot == "weather":
        # Wind blows under any sky (a windy hill may get a cloudy sky), and rain or snow falls
        # from clouds and through mist ("clouds drifting by", "a misty valley"), unless the
        # mist is the stated weather ("in misty weather"). A foggy or cloudy *condition*
        # (weather.n.01) is no layer: it is the weather.
        layers = {_layer(old), _layer(new)}
        if "wind" in layers and len(layers) == 2:
            return True
        if layered and layers == {"precipitation", "cloud"}:
            return True
        # A part of the other's weather by WordNet's definition: a storm comes "with ...
        # thunder and lightning", so lightning added to a stormy sky leaves it stormy.
        if _defined_with(old, new) or _defined_with(new, old):
            return True
    if old.slot in ("season", "time_of_day", "count"):
        # Only the same value: evening is a kind of daytime, yet "make it evening" ends "day".
        return bool(old.senses & new.senses)
    # A kind of the old value refines it: watercolor is a painting, crimson a red.
    return any(
        sense in _closure(other) or other in _closure(sense)
        for sense in old.senses
        for other in new.senses
    )


def _defined_with(whole: SlotValue, part: SlotValue) -> bool:
    """Whether a WordNet definition of `whole`'s senses names one of `part`'s senses."""
    wordnet = _wordnet()
    names = {
        name.replace("_", " ")
        for sense in part.senses
        for name in wordnet.synset(sense).lemma_names()
    }
    return any(
        re.search(rf"\b{re.escape(name)}\b", wordnet.synset(sense).definition())
        for sense in whole.senses
        for name in names
    )


def _layer(value: SlotValue) -> str | None:
    """Return a weather value's layer: "wind" where any sense is a wind ("windy" is wind and
    windiness), "precipitation" or "cloud" (fog and mist are clouds) where all its senses
    are, else None (sunny, stormy, and "foggy", whose senses include a foggy condition)."""
    senses = value.senses
    if any(_WIND in _closure(sense) for sense in senses):
        return "wind"
    for layer, anchor in (("precipitation", _PRECIPITATION), ("cloud", _CLOUD)):
        if senses and all(anchor in _closure(sense) for sense in senses):
            return layer
    return None


# ---------------------------------------------------------------------------------------------
# Words of a text, for synonym-aware presence tests


@dataclass(frozen=True)
class _TextWords:
    forms: frozenset[str]  # every word, its tagged lemma and its noun/verb/adjective lemmas
    tagged: frozenset[tuple[str, str | None]]
    tagged_order: tuple[tuple[str, str | None], ...]  # (lemma, POS) in text order
    lemma_text: str  # " lemma lemma ... " for multiword look-ups
    word_text: str  # " word word ... "


@lru_cache(maxsize=4096)
def _text_words(text: str) -> _TextWords:
    words = split_words(text)
    tagged = tagged_lemmas(text) if words else ()
    forms = set(words)
    for word, (lemma, _) in zip(words, tagged, strict=False):
        forms.add(lemma)
        forms.update(lemmatize(word, pos) for pos in ("n", "v", "a"))
    return _TextWords(
        forms=frozenset(forms),
        tagged=frozenset(tagged),
        tagged_order=tuple(tagged),
        lemma_text=" " + " ".join(lemma for lemma, _ in tagged) + " ",
        word_text=" " + " ".join(words) + " ",
    )


@lru_cache(maxsize=50_000)
def _family(lemma: str) -> frozenset[str]:
    """Return the lemma and the words WordNet derives from it or it from them (snow/snowy)."""
    names = {lemma}
    if " " in lemma:
        return frozenset(names)
    for synset in _wordnet().synsets(lemma):
        for lemma_object in synset.lemmas():
            if lemma_object.name().lower() != lemma:
                continue
            for related in lemma_object.derivationally_related_forms() + lemma_object.pertainyms():
                name = related.name().lower()
                if "_" not in name and name[:3] == lemma[:3]:  # same stem: snowy, not "white"
                    names.add(name)
    return frozenset(names)


def _contains(
    words: _TextWords, lemma: str, pos: str | None, senses: frozenset[str] | None = None
) -> bool:
    """Whether `words` hold `lemma`, a word derived from it, or a synonym: of `pos` (n/v/a,
    else any), and where `senses` (synset names) is given, only a synonym in those senses:
    the season "spring" is not present in "a fountain" (spring.n.03)."""
    if " " in lemma:
        return f" {lemma} " in words.lemma_text or f" {lemma} " in words.word_text
    if _family(lemma) & words.forms:
        return True
    if senses is not None:
        candidates = _sense_names(senses) - {lemma}
    else:
        candidates = synonyms(lemma, pos if pos in ("n", "v", "a") else None) - {lemma}
    for synonym in candidates:
        if " " in synonym:
            if f" {synonym} " in words.lemma_text or f" {synonym} " in words.word_text:
                return True
        elif any(
            (synonym, tag) in words.tagged
            for tag in ((pos,) if pos in ("n", "v", "a") else ("n", "v", "a"))
        ):
            return True
    return False


@lru_cache(maxsize=50_000)
def _sense_names(senses: frozenset[str]) -> frozenset[str]:
    wordnet = _wordnet()
    return frozenset(
        name.lower().replace("_", " ")
        for sense in senses
        for name in wordnet.synset(sense).lemma_names()
    )


def _holds_word(text: str, lemma: str) -> bool:
    """Whether `text` holds `lemma` itself or a word derived from it (no synonyms)."""
    words = _text_words(text)
    if " " in lemma:
        return f" {lemma} " in words.lemma_text or f" {lemma} " in words.word_text
    return bool(_family(lemma) & words.forms)


def is_present(lemma: str, text: str, pos: str | None = None) -> bool:
    """Return True when `text` holds `lemma`, a word derived from it, or a same-POS synonym."""
    return _contains(_text_words(text), lemma, pos)


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class EditReading:
    """What an instruction asks of the new prompt (see the module docstring).

    `kind`: the reader's reading of the verb: "remove", "negation", "replace", "instead",
    "set" (a new slot value or attribute), "relative" ("rougher", "more clouds"), "add",
    "other", or "compound" (then `parts` holds one reading per part). `slots`: the slots it
    sets (season, time_of_day, weather, medium, colour). `pronoun`: the edit's object is a
    person pronoun ("make him older"). `vague`: see `clarify`. `old_phrase` / `new_phrase`:
    the instruction's words for what goes and what comes ("the bike" / "a horse" in "swap the
    bike for a horse"; "" / "add a canoe" where the instruction names no old thing), as
    core.literal_edit uses them. `drop`: the lose words that go with their clause instead of
    giving way to the new value (an old medium's tags, "snow on the roofs" in spring).
    `objects`: the nouns whose attribute a "set" or "relative" edit changes ("frog" in "make
    the frog bright blue").
    """

    instruction: str
    kind: str
    gain: tuple[str, ...]
    lose: tuple[str, ...]
    slots: tuple[str, ...] = ()
    pronoun: bool = False
    vague: bool = False
    parts: tuple[EditReading, ...] = ()
    old_phrase: str = ""
    new_phrase: str = ""
    drop: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()


# "sunflowers -> roses": the shorthand of a replacement.
_ARROW = re.compile(r"^(?P<old>[^-=>→]+?)\s*(?:->|=>|→)\s*(?P<new>[^-=>→]+)$")
# "no comic book, a teddy bear instead": a replacement said as a negation
_NO_X_Y_INSTEAD = re.compile(r"^no\s+(?:more\s+)?(?P<old>[^,]+?),?\s+(?P<new>[^,]+?)\s+instead$")


def _normalize(text: str) -> str:
    text = " ".join(text.lower().replace("’", "'").split())
    text = _ARROW.sub(r"replace \g<old> with \g<new>", text)
    text = _NO_X_Y_INSTEAD.sub(r"replace the \g<old> with \g<new>", text)
    return text.strip(" .!?")


def _strip_polite(text: str) -> str:
    text = _POLITE_PREFIX.sub("", text).strip(" ,.!?")
    text = re.sub(r"\s*,?\s*(?:please|pls|thanks|thank you)$", "", text)
    return text.replace("time of day", "time").strip(" ,.!?")


def split_compound(instruction: str) -> list[str]:
    """Return the parts of a compound instruction ("make it night and add a moon" -> 2 parts).

    A part boundary is "and", "then", "," or ";" followed by a new edit (a verb of editing,
    "no", "without", "more"...); "a cat and a dog" stays one part.
    """
    text = _normalize(instruction)
    # Odd items are the separators, kept to glue back pieces that start no new edit: the
    # comma of "stronger wind, a fierce gale" marks a restatement (see _read_verb).
    pieces = re.split(f"({_COMPOUND_SPLIT.pattern})", text)
    parts: list[str] = []
    separator = ""
    for index, piece in enumerate(pieces):
        if index % 2:
            separator = piece.strip()
            continue
        piece = piece.strip()
        if not piece:
            continue
        first = _strip_polite(piece).split(" ", 1)[0]
        if parts and first not in _PART_STARTS and (gapped := _gapped_parts(parts[-1], piece)):
            parts[-1:] = gapped
        elif parts and first not in _PART_STARTS:
            glue = f"{separator} " if separator in (",", ";") else f" {separator or 'and'} "
            parts[-1] = f"{parts[-1]}{glue}{piece}"
        else:
            parts.append(piece)
    return parts or [text]


_GAPPED_VERB = re.compile(
    r"^(make|turn|paint|colou?r|dye) ((?:the|his|her|its|their) \w+(?: \w+)??)(?: (\w+))?$"
)
_GAPPED_OBJECT = re.compile(r"^(?:the|his|her|its|their) \w+(?: \w+)? (\w+)$")
_GAPPED_THING = re.compile(r"^(?:the|his|her|its|their) \w+(?: \w+)? (?:an?) \w+(?: \w+)?$")


def _gapped_parts(previous: str, piece: str) -> list[str] | None:
    """Return the two parts of an attribute edit whose second (or first) side leaves out what
    the other says: "make the car green and the truck yellow" -> "make the car green", "make
    the truck yellow"; "make the cat and the dog black" -> "make the cat black", "make the dog
    black". None where `piece` does not end in an attribute of its own."""
    # "make the man a woman and the newspaper a book": each thing becomes another
    if _MAKE_INTO.match(_strip_polite(previous)) and _GAPPED_THING.match(piece):
        return [previous, f"{split_words(_strip_polite(previous))[0]} {piece}"]
    verb = _GAPPED_VERB.match(_strip_polite(previous))
    gapped = _GAPPED_OBJECT.match(piece)
    if not (verb and gapped and _is_attribute(gapped.group(1))):
        return None
    if verb.group(3) is None:
        return [f"{verb.group(1)} {verb.group(2)} {gapped.group(1)}", f"{verb.group(1)} {piece}"]
    if _is_attribute(verb.group(3)):
        return [previous, f"{verb.group(1)} {piece}"]
    return None


# Words that open a noun phrase, in the sets the rules read (core/literal_edit.py imports
# them). The sets are not the same and are kept apart: a rule that skips "the", "a", "an"
# does not skip "some", and _DETERMINERS has "its", "my", "your" but not "some".
_ARTICLES = frozenset({"a", "an", "the"})
_ARTICLES_OR_SOME = _ARTICLES | {"some"}
_ARTICLES_OR_OWNER = _ARTICLES_OR_SOME | {"his", "her", "their"}
_DETERMINERS = frozenset({"the", "a", "an", "his", "her", "their", "its", "my", "your"})


def _content(text: str) -> list[tuple[str, str | None, str]]:
    """Return (lemma, coarse POS, word) for the content words of an instruction fragment."""
    words = split_words(text)
    result = []
    previous, previous_pos = "", None
    tagged = _tagged_nouns_read(text) if words else ()
    for index, (word, (lemma, pos)) in enumerate(zip(words, tagged, strict=False)):
        if _counts_next(words, tagged, index):
            result.append((word, "a", word))  # "just one candle", "lots of balloons": a count
            previous, previous_pos = word, "a"
            continue
        # An editing verb used as a noun inside a noun phrase is content: "a blue dress".
        in_noun_phrase = previous in _DETERMINERS or previous_pos == "a"
        if pos == "v" and previous in _DETERMINERS:  # "to the left": a noun, not "leave"
            pos, lemma = "n", lemmatize(word, "n")
        elif (
            pos == "v"
            and lemma in _EDIT_VERBS
            and word != lemma
            and previous_pos == "r"
            and _in_wordnet(word, "a")
        ):  # "make the elephant fully grown": a participle adjective, not the verb "grow"
            pos, lemma = "a", word
        elif (
            pos == "n"
            and _is_comparative(word, lemmatize(word, "a"), "a")
            and not _in_wordnet(word, "n")
        ):  # "make the sky cloudier": the tagger's noun is a comparative adjective
            pos, lemma = "a", lemmatize(word, "a")
        elif pos is None and _is_numeral(word):
            pos = "a"
        previous, previous_pos = word, pos
        if (
            pos in ("n", "v", "a")
            and word not in _PRONOUNS
            and (
                pos == "n"
                and in_noun_phrase
                or (lemma not in _EDIT_VERBS and word not in _EDIT_VERBS)
            )
            and lemma not in _FILTER_WORDS
            and word not in _FILTER_WORDS
            and lemma not in {"be", "do", "get", "let", "rid", "have"}
            and not lemma.endswith("n't")
        ):
            result.append((lemma, pos, word))
    return result


def _counts_next(words: list[str], tagged, index: int) -> bool:
    """Whether words[index] is a quantity word counting the noun after it (through "of")."""
    if words[index] not in _QUANTITIES:
        return False
    after = index + 2 if words[index + 1 : index + 2] == ["of"] else index + 1
    return after < len(tagged) and tagged[after][1] == "n"


def _is_numeral(word: str) -> bool:
    if word.isdigit():
        return True
    value = slot_of(word) if word.isalpha() else None
    return value is not None and value.slot == "count"


def _phrase_lemmas(text: str) -> list[tuple[str, str | None]]:
    """Content lemmas of a fragment with multiword WordNet/fallback terms joined ("oil painting")."""
    content = _content(text)
    words = split_words(text)
    positions, cursor = [], 0  # where each content word stands in the fragment
    for _, _, word in content:
        cursor = words.index(word, cursor)
        positions.append(cursor)
        cursor += 1
    items = [(lemma, pos) for lemma, pos, _ in content]
    joined: list[tuple[str, str | None]] = []
    index = 0
    while index < len(items):
        # Only neighbours join: "the church should be a tower" holds no "church tower".
        if index + 1 < len(items) and positions[index + 1] == positions[index] + 1:
            pair = f"{items[index][0]} {items[index + 1][0]}"
            if pair in _FALLBACK_SLOTS or _in_wordnet(pair):
                joined.append((pair, "n"))
                index += 2
                continue
        joined.append(items[index])
        index += 1
    return joined


def _noun_phrases(phrase: str) -> list[tuple[str, tuple[str, ...]]]:
    """Return (head lemma, modifier lemmas) for each noun phrase in `phrase` ("the lemon tree"
    -> tree, (lemon,)).

    The phrase is cut at its first preposition ("the hat on his head" -> the hat) and split at
    "and", "or" and commas. A possessor is not the head ("the monk's hair" -> hair). The head
    is the last noun of each piece, or its last content word if none is a noun. A piece whose
    last word only names a slot or a kind of attribute ("the lighting", "the king's clothes",
    "the businessman's expression") names no thing.
    """
    result = []
    words = phrase.split()
    for index, word in enumerate(words):
        if word in _PREPOSITIONS and index > 0:
            phrase = " ".join(words[:index])
            break
    for piece in re.split(r"\band\b|,|\bor\b", phrase):
        tokens = piece.split()
        for index, token in enumerate(tokens[:-1]):
            if token.endswith(("'s", "s'")):
                piece = " ".join(tokens[index + 1 :])
        last = split_words(piece)[-1:]
        if not last or last[0] in _FILTER_WORDS or lemmatize(last[0], "n") in _FILTER_WORDS:
            continue
        content = _content(piece)
        nouns = [index for index, (_, pos, _) in enumerate(content) if pos == "n"]
        head = nouns[-1] if nouns else len(content) - 1
        if head >= 0:
            modifiers = tuple(lemma for lemma, pos, _ in content[:head] if pos in ("n", "a"))
            result.append((content[head][0], modifiers))
    return result


def _same_scene_slot(old_phrase: str, new_phrase: str) -> bool:
    """Whether both phrases end in a value of the same season, time of day or weather slot
    ("the rain" / "snow"): one value of the scene replaces another."""
    old, new = _content(old_phrase), _content(new_phrase)
    if not old or not new:
        return False
    old_value, new_value = slot_of(old[-1][0], old[-1][1]), slot_of(new[-1][0], new[-1][1])
    return (
        old_value is not None
        and new_value is not None
        and old_value.slot == new_value.slot
        and old_value.slot in WEATHER_LIKE_SLOTS
    )


def _is_place(phrase: str) -> bool:
    """Whether the last noun of `phrase` is, in its first WordNet sense, a place: a location,
    a building or room, land, water or a celestial body ("a cafe in vienna", "the moon")."""
    nouns = [lemma for lemma, pos, _ in _content(phrase) if pos == "n"]
    if nouns and nouns[-1] in _FRAME_PARTS:  # "move the lighthouse to the left": composition
        return False
    return (
        bool(nouns)
        and any(
            _closure(sense.name()) & _PLACE_ANCHORS for sense in _noun_senses(nouns[-1], "n", True)
        )
    ) or any(_is_named_place(word) for *_, word in _content(phrase)[-1:])  # "mars" ("mar")


def _is_named_place(phrase: str) -> bool:
    """Whether `phrase` names a place in WordNet as a named one ("new york", "tokyo": an
    instance of a city, country or region)."""
    senses = _wordnet().synsets(phrase.replace(" ", "_"), pos="n")
    return any(
        _closure(hypernym.name()) & _PLACE_ANCHORS
        for sense in senses
        for hypernym in sense.instance_hypernyms()
    )


def _place_phrases(prompt: str) -> list[str]:
    """The prompt's place phrases, each where a leading part of it names a place: "on a
    kitchen floor", "in a park at dawn" (not "in a red coat")."""
    return [
        match.group(0)
        for match in _PLACE_PHRASE.finditer(prompt)
        if any(
            _is_place(" ".join(match.group(0).split()[:end]))
            for end in range(2, len(match.group(0).split()) + 1)
        )
    ]


def _setting_tags(prompt: str, new_place: str) -> list[str]:
    """The prompt's tags that name its place alone ("studio", "cozy kitchen": up to three
    words after the subject clause, ending in a place noun, no preposition): a scene moved to
    `new_place` leaves them behind."""
    tags = []
    for clause in prompt.split(",")[1:]:
        words = split_words(clause)
        if (
            words
            and len(words) <= 3
            and not set(words) & set(_PLACE_PREPOSITIONS.split("|"))
            and _is_place(words[-1])
            and not is_present(lemmatize(words[-1], "n"), new_place)
        ):
            tags.append(" ".join(words))
    return tags


def _place_phrase(prompt: str, preposition: str) -> str | None:
    """The prompt's place phrase that a move to a place with `preposition` replaces: the last
    "in" or "at" place of the subject clause ("a cabin perched on a cliff in a kitchen": in a
    kitchen), else the first place phrase where the move says "to" or the same preposition
    ("a dog asleep on a porch" for "move the dog to a beach", not "a library perched on a
    cliff" for "place it in a station"); None otherwise."""
    places = []
    for match in _PLACE_PHRASE.finditer(prompt):
        words = match.group(0).split()
        # the shortest leading part that names a place: "in a park" of "in a park at dawn"
        for end in range(2, len(words) + 1):
            if _is_place(" ".join(words[:end])):
                # "in a forest clearing": the nouns after it name the place too
                tagged = tagged_lemmas(match.group(0))
                while end < len(words) and (
                    (tagged[end][1] == "n" and not _PARTICIPLE.fullmatch(words[end]))
                    or _clause_ending_noun(prompt, match, end)
                ):
                    end += 1
                # "in a field of lavender": what the place is of belongs to it
                if end + 1 < len(words) and words[end] == "of" and tagged[end + 1][1] in ("n", "a"):
                    end += 2
                places.append((match.start(), " ".join(words[:end])))
                break
    if not places:
        return None
    subject_end = prompt.find(",") if "," in prompt else len(prompt)
    scene = [
        phrase
        for start, phrase in places
        if start < subject_end and phrase.split()[0] in ("in", "at", "inside")
    ]
    if scene:
        return scene[-1]
    first = places[0][1]
    return first if preposition in ("to", "into", first.split()[0]) else None


def _clause_ending_noun(prompt: str, match: re.Match, index: int) -> bool:
    """Whether word `index` of a place match is its last word, ends its clause and is a noun
    in WordNet though the tagger reads it as a verb ("clearing" of "in a forest clearing,")."""
    words = match.group(0).split()
    rest = prompt[match.end() :].lstrip()
    return (
        index == len(words) - 1
        and (not rest or rest.startswith(","))
        and bool(_noun_senses(words[index], "n", True))
    )


def _bare_modifiers(phrase: str) -> str:
    """The words before the last noun of `phrase`, without its article ("leather" of "a
    leather jacket")."""
    words = split_words(phrase)
    while words and words[0] in _DETERMINERS:
        words = words[1:]
    return " ".join(words[:-1])


def _head_nouns(phrase: str) -> list[str]:
    """Return the head noun lemma of each noun phrase in `phrase` ("the red hat" -> hat)."""
    return [head for head, _ in _noun_phrases(phrase)]


def _names_a_thing(phrase: str) -> bool:
    """Whether `phrase` can be the object of replace / turn X into / make X a Y: a noun phrase
    or a pronoun, not "to backlit" (a preposition), "the wizards wear" (a clause: make them do
    something) nor "the mist thicker" (a relative edit)."""
    words = split_words(phrase)
    if not words or words[0] in _PREPOSITIONS:
        return False
    if _is_pronoun_phrase(phrase):
        return True
    content = _content(phrase)
    if not content:
        return False
    lemma, pos, word = content[-1]
    # _content reads "the rose", "the bear" as nouns, where the tagger saw verbs (rise, bear).
    return pos != "v" and not _is_comparative(word, lemma, pos)


def _is_attribute(phrase: str, becomes: bool = False) -> bool:
    """Whether a replacement's new side names an attribute of the object, not a new object.

    "red", "to orange", "to wavy red", "to worried": adjectives, participles and bare
    singular nouns with an object-slot sense; "to be tiny": a predicate; "into a brass one":
    "one" stands for the object itself. Where the object `becomes` the new side ("switch the
    train to paper", "change the globe to ice"), any bare singular noun is a material: a
    count noun would need an article ("change the dog to a fox"). "oranges", "an orange":
    a new object.
    """
    words = split_words(phrase)
    if words[-1:] in (["one"], ["ones"]):
        return len(words) > 1
    if re.search(r"\b(?:a|an|the|some)\b", phrase):
        return False
    if words[:1] == ["be"]:
        return len(words) > 1
    content = _content(phrase)
    if not content:
        return False
    for index, (lemma, pos, word) in enumerate(content):
        if pos == "a" or (pos == "v" and word != lemma and word.endswith(("ed", "en"))):
            continue
        if becomes and pos == "n" and word == lemma and index == len(content) - 1:
            continue
        value = slot_of(lemma)
        if value is None or value.slot not in OBJECT_SLOTS or (pos == "n" and word != lemma):
            return False
    return True


def _her_then_no_noun(text: str) -> bool:
    """Whether "her" in "make her covered in dust" is the person, not whose thing ("make her
    dress red"): the word after it is no noun."""
    words = split_words(text)
    return words[1:2] == ["her"] and len(words) > 2 and tagged_lemmas(text)[2][1] != "n"


def _is_relative(phrase: str) -> bool:
    """Whether `phrase` asks for more or less of something ("rougher", "more clouds")."""
    if any(word in {"more", "less", "fewer"} for word in split_words(phrase)):
        return True
    return any(_is_comparative(word, lemma, pos) for lemma, pos, word in _content(phrase))


def _leading_verb(text: str) -> str | None:
    """Return the lemma of the verb an imperative part starts with, when that verb says how to
    edit ("light it with harsh sun", "relocate it in a field", "cover the ground in snow"):
    a word WordNet knows as a verb, followed by a pronoun or a determiner."""
    words = split_words(text)
    if len(words) < 2 or not (words[1] in _PRONOUNS or words[1] in _ARTICLES):
        return None
    lemma = lemmatize(words[0], "v")
    return lemma if _in_wordnet(lemma, "v") else None


def _names_person_pronoun(prompt: str, text: str) -> bool:
    """Whether the edit's object is a person pronoun: "make him older", "make her smile"
    (not "change her hair" on a prompt with hair, where "her" only says whose hair)."""
    tagged = tagged_lemmas(text) if split_words(text) else ()
    words = split_words(text)
    for index, word in enumerate(words):
        if word in {"him", "them", "he", "she", "they"}:
            return True
        if word == "her":
            following = tagged[index + 1] if index + 1 < len(words) else None
            possessive = (
                following is not None
                and following[1] == "n"
                and is_present(following[0], prompt, "n")
            )
            if not possessive:
                return True
    return False


def _is_pronoun_phrase(phrase: str) -> bool:
    words = split_words(phrase)
    return bool(words) and all(word in _PRONOUNS or word in _ARTICLES for word in words)


def _is_comparative(word: str, lemma: str, pos: str | None) -> bool:
    return pos in ("a", "r") and word != lemma and word.endswith(("er", "ier"))


@lru_cache(maxsize=4096)
def _prompt_slot_words(prompt: str) -> tuple[tuple[str, SlotValue, str | None, bool], ...]:
    """Return (lemma or two-word phrase, slot value, POS, states the slot) for every slot word
    of the prompt; "states the slot" where a word naming the slot follows ("misty weather").

    Words are read in passing (`slot_of(..., strict=True)`), with their part of speech; a
    gerund the tagger takes for a verb where it heads a noun phrase ("a charcoal drawing of")
    is read as a noun. Words that only name a slot ("in windy weather", "tense atmosphere")
    are not its values.
    """
    words = split_words(prompt)
    tagged = _tagged_nouns_read(prompt)
    lemmas = [lemma for lemma, _ in tagged]
    found: list[tuple[str, SlotValue, str | None, bool]] = []
    used: set[int] = set()
    for size in range(_MAX_PHRASE, 0, -1):
        for start in range(len(words) - size + 1):
            span = range(start, start + size)
            if used & set(span):
                continue
            if size == 1 and (words[start] in _FILTER_WORDS or lemmas[start] in _FILTER_WORDS):
                continue
            candidates = dict.fromkeys(
                (" ".join(lemmas[start : start + size]), " ".join(words[start : start + size]))
            )
            pos = tagged[start][1] if size == 1 else "n"
            for candidate in candidates:
                if size > 1 and not (candidate in _FALLBACK_SLOTS or _in_wordnet(candidate)):
                    continue
                value = slot_of(candidate, pos, strict=True)
                if value is not None:
                    after = words[start + size] if start + size < len(words) else ""
                    found.append((candidate, value, pos, after in _FILTER_WORDS))
                    used.update(span)
                    break
    return tuple(found)


@lru_cache(maxsize=4096)
def _tagged_nouns_read(text: str) -> tuple[tuple[str, str | None], ...]:
    """Return `tagged_lemmas(text)` with each gerund that heads a noun phrase read as the
    noun: "a charcoal drawing of a tower", "ink drawing, pen and ink", "make it an ink
    drawing"; not "a woman drawing a map". The tagger takes those for verbs."""
    spans = word_spans(text)
    words = [word for _, _, word in spans]
    tagged = list(tagged_lemmas(text)) if words else []
    # Where a clause ends after a word: a comma, a full stop or the end of the text.
    ends = {
        index
        for index, (_, end, _) in enumerate(spans)
        if index + 1 == len(spans) or re.search(r"[,;.:]", text[end : spans[index + 1][0]])
    }
    determiners = ("a", "an", "the", "his", "her", "their", "its", "my", "your", "our")
    for index, (word, (_, pos)) in enumerate(zip(words, tagged, strict=False)):
        if pos != "v" or not word.endswith("ing"):
            continue
        before = words[index - 1] if index else ""
        modifier_starts = index > 0 and (
            index == 1 or index - 2 in ends or words[index - 2] in determiners
        )
        opens_noun_phrase = before in determiners or (
            tagged[index - 1][1] in ("n", "a") and modifier_starts
        )
        after = words[index + 1] if index + 1 < len(words) else ""
        if opens_noun_phrase and (
            index in ends or after in ("of", "in", "on", "with", "and", "by")
        ):
            tagged[index] = (lemmatize(word, "n"), "n")
    return tuple(tagged)


def _object_modifiers(prompt: str, objects: list[str]) -> list[tuple[str, str | None]]:
    """Return (lemma, POS) of the modifiers before each of `objects` in the prompt: the
    adjectives, nouns and numerals just before the noun, up to three words ("a red car")."""
    tagged = tagged_lemmas(prompt)
    spans = word_spans(prompt)
    words = [word for _, _, word in spans]
    modifiers = []
    for index, (lemma, _) in enumerate(tagged):
        # "a small campfire" for "make the fire bigger": a compound ending in the object
        if lemma not in objects and not any(
            len(lemma) > len(thing) + 2 and lemma.endswith(thing) for thing in objects
        ):
            continue
        for back in range(index - 1, max(index - 4, -1), -1):
            modifier, pos = tagged[back]
            if (
                (pos not in ("a", "n") and not _is_numeral(words[back]))
                or words[back] in _PRONOUNS
                or "," in prompt[spans[back][1] : spans[back + 1][0]]  # "four temples, people"
            ):
                break
            modifiers.append((modifier, pos))
    return modifiers


# The material named after a thing: "a beetle made of brass", "a castle of sand".
MADE_OF_AFTER = re.compile(
    r"\s+(?:(?:made|carved)\s+(?:out\s+)?of|of)\s+(?!(?:a|an|the|some|his|her|their)\b)(?P<old>[\w-]+)"
)


def _materials_after(prompt: str, objects: list[str]) -> list[str]:
    """The materials named right after one of `objects` in the prompt ("brass" of "a beetle
    made of brass"), as lemmas."""
    found = []
    for (_, end, _), (lemma, _) in zip(word_spans(prompt), tagged_lemmas(prompt), strict=True):
        if lemma in objects and (made := MADE_OF_AFTER.match(prompt, end)):
            if is_material(made["old"]):
                found.append(lemmatize(made["old"], "n"))
    return found


def _old_attribute_values(prompt: str, objects: list[str], new: SlotValue) -> list[str]:
    """Return the prompt's words of `new`'s slot that modify one of `objects` ("red" in "a red car")."""
    old = []
    for modifier, pos in _object_modifiers(prompt, objects):
        value = slot_of(modifier, pos)
        if value is not None and value.slot == new.slot and not _compatible(value, new):
            old.append(modifier)
    return old


@lru_cache(maxsize=50_000)
def _adjective_attributes(lemma: str) -> frozenset[str]:
    """Return the WordNet attributes (age.n.01, size.n.01, ...) of an adjective's first
    sense, through its head adjective where it is a satellite ("elderly" -> old -> age)."""
    return frozenset(
        attribute.name()
        for head in _first_adjective_heads(lemma)
        for attribute in head.attributes()
    )


def _first_adjective_heads(lemma: str) -> list:
    """An adjective's first WordNet sense, with its head adjectives where it is a satellite
    ("elderly" -> elderly, old): where its attributes and antonyms are listed."""
    senses = _wordnet().synsets(lemma, pos="a")
    if not senses:
        return []
    first = senses[0]
    return [first, *first.similar_tos()] if first.pos() == "s" else [first]


@lru_cache(maxsize=50_000)
def _attribute_noun(lemma: str) -> frozenset[str]:
    """Return {the first noun sense} of a lemma whose first sense is itself a WordNet attribute
    (size.n.01, age.n.01: "normal sized", "make it life size"), else {}."""
    senses = _wordnet().synsets(lemma, pos="n")
    return frozenset({senses[0].name()}) if senses and senses[0].attributes() else frozenset()


@lru_cache(maxsize=50_000)
def _antonyms(lemma: str) -> frozenset[str]:
    """Return the WordNet antonyms of an adjective's first sense, through its head adjective
    where it is a satellite ("stormy" -> calm, "tiny" -> big, large)."""
    return frozenset(
        antonym.name().replace("_", " ")
        for head in _first_adjective_heads(lemma)
        for word in head.lemmas()
        for antonym in word.antonyms()
    )


def _opposite(first: str, second: str) -> bool:
    """Whether two adjectives are WordNet antonyms in their first senses (calm / stormy)."""
    return second in _antonyms(first) or first in _antonyms(second)


# Crowded, thronged, packed; busy, bustling (satellites of active: full of activity, not an
# active volcano): what people make a place.
_CROWDED_HEADS = frozenset({"crowded.a.01", "active.a.07"})
_PEOPLE_ANCHORS = frozenset({"person.n.01", "people.n.01", "crowd.n.01"})


def _is_people(noun: str) -> bool:
    """Whether a noun's first WordNet sense is people: a person, people, a crowd."""
    return any(_closure(sense.name()) & _PEOPLE_ANCHORS for sense in _noun_senses(noun, "n", True))


def _means_crowded(adjective: str) -> bool:
    """Whether any WordNet sense of an adjective says full of people or activity."""
    return any(
        sense.name() == "crowded.a.01"
        or _CROWDED_HEADS & {head.name() for head in sense.similar_tos()}
        for sense in _wordnet().synsets(adjective, pos="a")
    )


_EMPTY_HEADS = frozenset({"empty.a.01", "unoccupied.a.01"})


def _means_empty(adjective: str) -> bool:
    """Whether an adjective's first WordNet sense says holding no one ("empty", "vacant")."""
    return any(head.name() in _EMPTY_HEADS for head in _first_adjective_heads(adjective))


@lru_cache(maxsize=50_000)
def _contraries(lemma: str) -> frozenset[str]:
    """The adjectives opposite to `lemma` in any WordNet sense, each antonym with its
    satellites: "bright" -> dark, dim; "rough" (of the sea) -> calm; "thick" -> thin, light."""
    found = set()
    for sense in _wordnet().synsets(lemma, pos="a"):
        heads = [sense, *sense.similar_tos()] if sense.pos() == "s" else [sense]
        for word in (word for head in heads for word in head.lemmas()):
            for antonym in word.antonyms():
                for near in (antonym.synset(), *antonym.synset().similar_tos()):
                    found.update(name.replace("_", " ") for name in near.lemma_names())
    return frozenset(found - {lemma})


def _contrary(first: str, second: str) -> bool:
    """Whether a relative edit toward `second` leaves no room for `first` ("make the sea
    rougher" on "a calm sea", "brighter" on "a dim library")."""
    return second in _contraries(first) or first in _contraries(second)


_MATERIAL_ANCHORS = frozenset({"material.n.01", "substance.n.01", "fabric.n.01", "solid.n.01"})
_MADE_OF = re.compile(r"\bmade (?:of|from|or consisting of)\b")


@lru_cache(maxsize=50_000)
def is_material(word: str, pos: str | None = None) -> bool:
    """Whether WordNet files a noun sense of `word`, or the noun it derives from, under
    material or substance (bronze, marble, velvet, glass), or defines its first adjective
    sense as made of something ("wooden": made or consisting of wood; "woolen"). With `pos`
    "a" only the adjective reading counts ("a turquoise train" is a colour, not the stone).
    A number is none ("three" has a WordNet sense filed under solid)."""
    if _is_numeral(word):
        return False
    if pos != "a" and any(
        _closure(sense.name()) & _MATERIAL_ANCHORS for sense in _noun_senses(word)
    ):
        return True
    senses = _wordnet().synsets(word, pos="a")
    return bool(senses) and bool(_MADE_OF.search(senses[0].definition()))


def _old_attribute_adjectives(
    prompt: str, objects: list[str], new: str, pos: str | None = "a"
) -> list[str]:
    """Return the prompt's modifiers of one of `objects` that give the same WordNet attribute
    as the adjective `new` ("young" in "a young fisherman" for "old": both ages) or are its
    antonym ("stormy" in "stormy sea" for "calm"), or that `new` names where it is an
    attribute noun ("giant" in "a giant teacup" for "normal sized")."""
    attributes = _adjective_attributes(new) if pos == "a" else _attribute_noun(new)
    return [
        modifier
        for modifier, modifier_pos in _object_modifiers(prompt, objects)
        if modifier != new
        and (
            (attributes and _adjective_attributes(modifier) & attributes)
            or (pos == "a" and _opposite(modifier, new))
            # "fully grown" on "a baby elephant": a noun that says the age
            or (_AGE in attributes and modifier_pos == "n" and _names_an_age(modifier))
            # "ginger" for "a black cat": a colour WordNet gives as an attribute only
            or (_is_colour_word(new) and _is_colour_word(modifier))
        )
    ]


_AGE = "age.n.01"
_AGE_GLOSS = re.compile(r"\b(?:young|youthful|juvenile|puberty|old|elderly|aged)\b")


def _names_an_age(noun: str) -> bool:
    """Whether a noun's first WordNet sense is glossed by an age: "baby" (a very young child),
    "teenager" (a juvenile ...), "puppy" (a young dog), "girl" (a young woman)."""
    senses = _noun_senses(noun, "n", True)
    return bool(senses) and bool(_AGE_GLOSS.search(senses[0].definition()))


def _age_modifiers(prompt: str, objects: list[str]) -> list[str]:
    """The prompt's words before one of `objects` that say its age ("middle-aged" of "a
    middle-aged woman", "baby" of "a baby elephant")."""
    return [
        modifier
        for modifier, pos in _object_modifiers(prompt, objects)
        if (pos == "a" and _AGE in _adjective_attributes(modifier))
        or (pos == "n" and _names_an_age(modifier))
    ]


# Worn over the body, so one takes another's place ("put him in a tuxedo" on "a man in a
# hoodie"); hats, shoes, scarves and jewellery are worn beside the rest.
_OUTFIT_ANCHOR = "clothing.n.01"
_WORN_BESIDE = frozenset(
    {
        "headdress.n.01",
        "footwear.n.01",
        "footwear.n.02",
        "neckwear.n.01",
        "handwear.n.01",
        "scarf.n.01",
        "belt.n.02",
        "hosiery.n.01",
        "glove.n.02",
    }
)
_OUTFIT_LINK = re.compile(
    r"\b(?:in|into|wearing|dressed in|to|for)\s+(?:a|an|the|some|his|her|their)?\s*"
)


def _is_outfit(lemma: str) -> bool:
    """Whether a noun's first WordNet sense is clothing worn over the body (a tuxedo, a summer
    dress, overalls, a hoodie), not a hat, shoes or a scarf."""
    if _words_key(lemma) in _lexicon().outfits:
        return True
    senses = _noun_senses(lemma, "n", True)
    if not senses:
        return False
    closure = _closure(senses[0].name())
    return _OUTFIT_ANCHOR in closure and not closure & _WORN_BESIDE


def _prompt_outfit(prompt: str) -> tuple[str, list[str]] | None:
    """Return (words as written, their lemmas) of the first outfit the prompt puts someone in
    ("a summer dress" of "a girl in a summer dress holding a puppy"), else None."""
    spans = word_spans(prompt)
    words = [word for _, _, word in spans]
    tagged = tagged_lemmas(prompt) if words else ()
    for index, word in enumerate(words):
        if word not in ("in", "wearing"):
            continue
        start = index + 1
        for end in range(start, min(start + 4, len(words))):
            lemma, pos = tagged[end]
            if pos == "n" and _is_outfit(lemma):
                first = start + (words[start] in _ARTICLES_OR_OWNER)
                phrase = prompt[spans[start][0] : spans[end][1]]
                return phrase, [
                    lemma for lemma, pos in tagged[first : end + 1] if pos in ("n", "a")
                ]
            if pos not in ("n", "a") and words[end] not in (
                "a",
                "an",
                "the",
                "his",
                "her",
                "their",
            ):
                break
    return None


def _new_outfit(text: str) -> str | None:
    """The outfit a dressing instruction puts on ("a tuxedo" of "put the scarecrow in a tuxedo",
    "a raincoat" of "change her dress to a raincoat"), else None."""
    for match in _OUTFIT_LINK.finditer(text):
        phrase = text[match.end() :].strip()
        content = _content(text[match.start() :])  # "in a kimono": alone, "kimono" tags oddly
        if content and content[-1][1] == "n" and _is_outfit(content[-1][0]):
            return text[match.start() :].split(None, 1)[1] if phrase else None
    return None


# Hypernyms too general to say two things are of a kind ("a bicycle instead" does not
# replace the wall an artifact shares with it).
_TOO_GENERAL = frozenset(
    {
        "entity.n.01",
        "physical_entity.n.01",
        "object.n.01",
        "whole.n.02",
        "artifact.n.01",
        "organism.n.01",
        "living_thing.n.01",
        "matter.n.03",
        "abstraction.n.06",
    }
)


def _same_kind_noun(prompt: str, new_noun: str) -> str | None:
    """The prompt's noun that `new_noun` most plausibly stands in for, by their lowest common
    WordNet hypernym ("motorbike" for "a bicycle instead": both wheeled vehicles; "coffee" for
    "tea instead"); None unless one noun is clearly nearest and of the same kind."""
    new_senses = _noun_senses(new_noun, "n", True)
    if not new_senses:
        return None
    depths = {}
    for lemma, pos in tagged_lemmas(prompt):
        if pos != "n" or lemma == new_noun or lemma in depths:
            continue
        senses = _noun_senses(lemma, "n", True)
        common = senses and new_senses[0].lowest_common_hypernyms(senses[0])
        if common and (
            common[0].name() == "person.n.01"
            or (common[0].min_depth() >= 5 and common[0].name() not in _TOO_GENERAL)
        ):
            depths[lemma] = common[0].min_depth()
    ranked = sorted(depths.items(), key=lambda item: -item[1])
    if not ranked or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
        return None
    return ranked[0][0]


def gerund(verb: str) -> str:
    """The -ing form of a verb lemma ("wear" -> "wearing", "ride" -> "riding", "sit" ->
    "sitting"); an -ing form stays as it is ("grinning", not "grinninging")."""
    if verb.endswith("ing") and lemmatize(verb, "v") != verb:
        return verb
    if re.fullmatch(r"[^aeiou]*[aeiou][^aeiouwxy]", verb):  # one syllable, one short vowel
        return verb + verb[-1] + "ing"
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    return verb + "ing"


def _prompt_hairdo(prompt: str) -> str | None:
    """Return the prompt's hairdo with its adjectives ("long braid" in "a girl with a long
    braid"): a noun whose first WordNet sense is a hairdo (braid, ponytail, dreadlocks)."""
    tagged = tagged_lemmas(prompt)
    words = split_words(prompt)
    for index, (lemma, pos) in enumerate(tagged):
        if pos == "n" and _first_sense_is_a(lemma, "hairdo.n.01"):
            start = index
            while start and tagged[start - 1][1] == "a":
                start -= 1
            if start and words[start - 1] in ("a", "an"):  # "a braid" -> "short hair"
                start -= 1
            return " ".join(words[start : index + 1])
    return None


def _prompt_hair(prompt: str) -> str | None:
    """Return the prompt's hair with the words before it that describe it ("long brown hair",
    "short curly hair"); None where the prompt names no described hair."""
    return _prompt_described(prompt, "hair")


def _expression_verb(text: str) -> str | None:
    """The verb of a facial expression said as one ("laugh", "smile", "frown"; see
    core/reader_words.json), else None."""
    word = text.strip()
    forms = next(forms for name, _, forms in _lexicon().one_at_a_time if name == "expression")
    wordnet = _wordnet()
    if " " in word or word not in forms or wordnet.synsets(word, "a"):  # "calm" is a state
        return None
    return word if wordnet.synsets(word, "v") else None


def _expression_form(prompt: str, verb: str) -> str:
    """How the new expression reads in the prompt: a noun where the prompt's expression is one
    ("a frown" -> "a grin"), else the -ing form ("a serious face" -> "a laughing face")."""
    keys = next(keys for name, keys, _ in _lexicon().one_at_a_time if name == "expression")
    said = f" {_words_key(prompt)} "
    wordnet = _wordnet()
    for key in keys:
        if f" a {key} " in said and wordnet.synsets(key, "n") and not wordnet.synsets(key, "a"):
            return verb
    return gerund(verb)


def _prompt_palette(prompt: str) -> str | None:
    """The prompt's clause that says its colours ("deep blues and greens", "muted colors"):
    a palette word or two colours, and no other thing or medium tag; else None."""
    for clause in prompt.split(","):
        clause = clause.strip()
        words = split_words(clause)
        if not words or len(words) > 6 or _phrases_in(clause, _lexicon().medium_tag_keys):
            continue
        content = _content(clause)
        colours = [
            lemma
            for lemma, pos, _ in content
            if (value := _shade(lemma) or slot_of(lemma, pos)) and value.slot == "colour"
        ]
        others = [lemma for lemma, pos, _ in content if pos == "n" and lemma not in colours]
        if not others and (set(words) & _PALETTE_WORDS or len(colours) > 1):
            return clause
    return None


def _means_no_hair(word: str) -> bool:
    """Whether an adjective's WordNet gloss says there is no hair ("bald": lacking hair on
    all or most of the scalp; "hairless")."""
    return any(
        re.search(r"\b(?:lacking|no) hair\b", sense.definition())
        for sense in _wordnet().synsets(word, "a")
    )


def _is_hair_colour(word: str) -> bool:
    """Whether an adjective names a colour of hair: a colour ("black", "blonde"), a shade
    ("dark": "(used of color) having a dark hue") or a WordNet adjective glossed as hair of a
    colour ("auburn", "redheaded", "brunette"); not "long" or "curly"."""
    if _shade(word) is not None:  # "light brown"
        return True
    if " " in word:
        return False
    value = slot_of(word, "a")
    if value is not None and value.slot == "colour":
        return True
    for sense in _wordnet().synsets(lemmatize(word, "a"), "a"):
        gloss = sense.definition()
        if "color" in gloss or "colour" in gloss or ("hair" in gloss and "pigment" in gloss):
            return True
        if re.search(r"\b(?:red|brown|blond|grey|gray|white|black)\w* hair\b", gloss):
            return True
    return False


# A word that may be a participle describing a noun ("shining armor", "dented armor").
_PARTICIPLE = re.compile(r"[a-z]+(?:ing|ed)")


def _prompt_described(prompt: str, head: str) -> str | None:
    """Return the prompt's first `head` noun with the words before it that describe it
    ("short black beard"); None where the prompt names no described `head`."""
    tagged = tagged_lemmas(prompt)
    words = split_words(prompt)
    for index, (lemma, pos) in enumerate(tagged):
        if lemma == head and pos == "n":
            start = index
            while start and (
                tagged[start - 1][1] == "a" or slot_of(tagged[start - 1][0]) is not None
            ):
                start -= 1
            # a participle right after an article or preposition: "in shining armor"
            if (
                start == index
                and start > 1
                and _PARTICIPLE.fullmatch(words[start - 1])
                and words[start - 2] in _DETERMINERS | _PREPOSITIONS
            ):
                start -= 1
            if start < index:
                return " ".join(words[start : index + 1])
    return None


def _shade(phrase: str) -> SlotValue | None:
    """The colour slot of a shade WordNet lists without placing it under colours ("bright
    blue": a colour word after its modifier), else None."""
    words = phrase.split()
    if len(words) < 2:
        return None
    value = slot_of(words[-1], "a")
    return value if value is not None and value.slot == "colour" else None


# Wishes said as a statement, read as the imperative they mean ("she should have a
# ponytail" -> "give her a ponytail"); {who} is the object form of the subject.
_OBJECT_FORM = {"it": "it", "he": "him", "she": "her", "they": "them", "this": "it"}
_WISH = (
    r"(?:(?P<who>it|this|he|she|they|the\s+[\w'-]+(?:\s+[\w'-]+)?)\s+"
    r"(?:should|must|needs? to|has to|have to|could|can|will)"
    r"|(?:can|could|would|will|should)\s+(?P<asked>it|this|he|she|they|the\s+[\w'-]+))\s+"
)
_STATEMENTS = (
    (re.compile(rf"^{_WISH}(?:be\s+)?wear(?:ing)?\s+(?P<rest>.+)$"), "make {who} wear {rest}"),
    (re.compile(rf"^{_WISH}have\s+(?P<rest>.+)$"), "give {who} {rest}"),
    (re.compile(rf"^{_WISH}be\s+(?P<rest>.+)$"), "make {who} {rest}"),
    (
        re.compile(r"^(?:let\s+)?(?P<who>it|him|her|them)\s+(?:to\s+)?be\s+(?P<rest>.+)$"),
        "make {who} {rest}",
    ),
)
_WEAR = re.compile(r"^(?:make|have|let)\s+(?P<who>him|her|them)\s+wear\s+(?P<rest>.+)$")
# "give the wizard a long white beard": a described thing given to the prompt's someone.
_GIVE_DESCRIBED = re.compile(
    r"^give\s+(?:him|her|them|it|the\s+[\w'-]+)\s+(?P<thing>(?:(?:a|an|some)\s+)?[\w'-]+(?:\s+[\w'-]+){1,3})$"
)
_MAKE_IT_SO = re.compile(
    r"^(?:make|turn|paint|color|colour)\s+(?P<who>it|them)\s+(?P<value>[\w -]+)$"
)
_PLACE_PREPOSITION_WORD = re.compile(_PLACE_PREPOSITIONS)
_MAKE_IT_A_KIND = re.compile(
    r"^(?:make|turn)\s+it\s+(?:into\s+)?an?\s+(?P<thing>[\w-]+(?:\s+[\w-]+){1,2})$"
)
# What a prompt may say it is before its thing ("portrait of a woman")
_PICTURE_WORDS = frozenset(
    "portrait picture image photo shot close-up view scene painting drawing illustration".split()
)
_PUT_ON_SOMEONE = re.compile(
    r"^(?:put|place|stick|pop|slap)\s+(?P<thing>.+?)\s+on\s+(?P<who>him|her|them|the\s+[\w'-]+)$"
)
_FOR_SOMEONE = re.compile(
    r"^(?P<thing>.+?)\s+(?:for|on)\s+(?P<who>him|her|them|the\s+[\w'-]+(?:\s+[\w'-]+){0,2})$"
)


def _name_modifiers(prompt: str, head: str) -> list[str]:
    """The word before `head` in the prompt that WordNet names one thing with ("red" of "a
    red fox", "golden" of "a golden retriever", "coffee" of "a coffee mug"; not "young" of "a
    young man": an age or a size only describes him)."""
    words = split_words(prompt)
    return [
        before
        for before, word in zip(words, words[1:], strict=False)
        if lemmatize(word, "n") == head
        and before not in _ARTICLES_OR_OWNER | _PREPOSITIONS
        and _in_wordnet(f"{before} {head}", "n")
        and not _adjective_attributes(before) - {"hue.n.01"}  # "golden", not "young"
    ]


def _first_sense(lemma: str) -> str | None:
    """The name of `lemma`'s first WordNet noun sense that is not a named one (_first_sense_is_a)."""
    senses = [s for s in _wordnet().synsets(lemma, pos="n") if not s.instance_hypernyms()]
    return senses[0].name() if senses else None


def _first_thing(prompt: str, plural: bool) -> str | None:
    """The prompt's first thing (as written) that "it" ("them": a plural) can mean: a noun
    before the prompt's first place, not the picture ("portrait of") and not a person ("make
    it gold" on a portrait of a woman means the picture)."""
    people = _person_nouns(prompt)
    for word in split_words(prompt):
        lemma = lemmatize(word, "n")
        if word in people or lemma in people:
            return None
        if (
            len(word) > 2
            and word not in _ARTICLES_OR_OWNER | _PICTURE_WORDS
            and _in_wordnet(lemma, "n")
            and not _in_wordnet(word, "a")
            and slot_of(lemma, "n") is None
            and (word != lemma) == plural
        ):
            return word
        if _PLACE_PREPOSITION_WORD.fullmatch(word):
            return None  # the thing is named before its place
    return None


def _kind_in_prompt(prompt: str, noun: str) -> str | None:
    """The prompt's noun (as written) whose first WordNet sense is a kind of `noun`'s first
    ("convertible" for "car"), or None."""
    if (sense := _first_sense(noun)) is None:
        return None
    for word in split_words(prompt):  # "convertible" is tagged as an adjective
        lemma = lemmatize(word, "n")
        if _first_sense(lemma) != sense and _first_sense_is_a(lemma, sense):
            return word
    return None


_COLOUR_ATTRIBUTES = frozenset({"color.n.01", "hue.n.01"})


def _is_colour_word(word: str) -> bool:
    """Whether `word` names or shades a colour ("pale", "mint", "teal"); "mint" is a herb to
    WordNet first, so a colour's shade nouns are read from its colour senses."""
    if (value := slot_of(word, "a")) is not None and value.slot == "colour":
        return True
    if _adjective_attributes(word) & _COLOUR_ATTRIBUTES:  # "ginger", "auburn"
        return True
    return any(
        "color.n.01" in _closure(sense.name()) for sense in _wordnet().synsets(word, pos="n")
    )


# "make the chess pieces out of glass": the material, said with "out of" or "from".
_MADE_OUT_OF = re.compile(
    r"^make\s+(?P<thing>.+?)\s+(?:made\s+)?(?:out of|from|of)\s+(?P<material>[\w -]+)$"
)


def _given_thing(text: str) -> str | None:
    """The described thing an instruction gives: "give the wizard a long white beard" -> "a
    long white beard"; an instruction that is only adjectives or participles and a noun
    ("rusty armor", "dented armor") is itself one. None otherwise."""
    if match := _GIVE_DESCRIBED.match(text):
        return match["thing"]
    words = split_words(text)
    if not 2 <= len(words) <= 4 or words[0] in _EDIT_VERBS:
        return None
    tagged = tagged_lemmas(text)
    describing = all(
        pos == "a" or _PARTICIPLE.fullmatch(word)  # "dented", "glowing"
        for word, (_, pos) in zip(words[:-1], tagged[:-1], strict=True)
    )
    return text if describing and tagged[-1][1] == "n" else None


def _as_imperative(text: str, prompt: str) -> str:
    """Return a wish said as a statement as its imperative (see _STATEMENTS), else `text`.
    "make her wear a raincoat" on a prompt that dresses her is "dress her in a raincoat": the
    new outfit takes the old one's place (a hat is worn with it). "make the vase out of
    glass" is "make the vase glass"; "a red scarf for the dog" is "give the dog a red scarf"."""
    # "curly red hair for the dancer", "short pink hair on the girl": what the prompt's
    # someone is given; "pale mint for the car": the colour it is made.
    if (
        (match := _FOR_SOMEONE.match(text))
        and split_words(text)[0] not in _EDIT_VERBS
        # "stick a wizard hat on the scarecrow" says where, with a verb of its own
        and not set(split_words(match["thing"])[1:]) & _ARTICLES_OR_SOME
    ):
        who, head = match["who"], lemmatize(split_words(match["who"])[-1], "n")
        if who not in _PRONOUNS and not _holds_word(prompt, head):
            # "pale mint for the car" on "a red convertible": the car the prompt names
            meant = _kind_in_prompt(prompt, head)
            who = f"the {meant}" if meant else None
        if who and all(_is_colour_word(word) for word in split_words(match["thing"])):
            return f"make {who} {match['thing']}"
        if who:
            return f"give {who} {match['thing']}"
    # "put a helmet on him": what someone is given to wear or hold
    if (match := _PUT_ON_SOMEONE.match(text)) and (
        match["who"] in _PRONOUNS
        or _person_nouns(prompt)[:1] == [lemmatize(split_words(match["who"])[-1], "n")]
    ):
        return f"give {match['who']} {match['thing']}"
    for pattern, imperative in _STATEMENTS:
        if match := pattern.match(text):
            subject = match["who"] or match.groupdict().get("asked")
            who = _OBJECT_FORM.get(subject, subject)
            text = imperative.format(who=who, rest=match["rest"])
            break
    # "make the vase out of glass", "could the table be made of glass?"
    if (match := _MADE_OUT_OF.match(text)) and is_material(split_words(match["material"])[-1]):
        return f"make {match['thing']} {match['material']}"
    if (
        (match := _WEAR.match(text))
        and _prompt_outfit(prompt) is not None
        and _new_outfit(f"in {match['rest']}") is not None
    ):
        return f"dress {match['who']} in {match['rest']}"
    # "make it green" on "a red car", "make them gold" on "five red apples": the prompt's
    # first thing (for "them" its first things) takes the colour or material
    if (match := _MAKE_IT_SO.match(text)) and all(
        (is_material(word) or _is_colour_word(word))
        and word not in _ARTICLES_OR_SOME
        and getattr(slot_of(word), "slot", None) != "medium"  # "make it a watercolor"
        for word in split_words(match["value"])
    ):
        if thing := _first_thing(prompt, plural=match["who"] == "them"):
            return f"make the {thing} {match['value']}"
    # "make it a vintage car" on "a black sports car": the prompt's car is made vintage
    if (
        (match := _MAKE_IT_A_KIND.match(text))
        and _holds_word(prompt, lemmatize(split_words(match["thing"])[-1], "n"))
        and medium_kind(match["thing"]) is None  # "make it an oil painting": a medium
        and not _in_wordnet(match["thing"], "n")  # "make it an arctic wolf": another kind
    ):
        modifiers = split_words(match["thing"])[:-1]
        if (
            modifiers
            and not any(_holds_word(prompt, word) for word in modifiers)
            # a participle WordNet lacks ("hand-knitted") makes a new kind of thing
            and all(
                _in_wordnet(word, "a") or not word.endswith(("ed", "ing")) for word in modifiers
            )
        ):
            return f"make the {split_words(match['thing'])[-1]} {' '.join(modifiers)}"
    # "marble table pls" on "a wooden table": the prompt's thing in a new material or colour
    # where it has an old one ("rusty armor" on "shining armor" replaces the described thing)
    words = split_words(text)
    if (
        2 <= len(words) <= 4
        and words[0] not in _EDIT_VERBS | {"no", "not", "without", "more", "less", "fewer"}
        and _holds_word(prompt, head := lemmatize(words[-1], "n"))
        and all(
            (is_material(word) or _is_colour_word(word)) and not _holds_word(prompt, word)
            for word in words[:-1]
        )
        and any(
            is_material(old, pos) or _is_colour_word(old)
            for old, pos in _object_modifiers(prompt, [head])
        )
    ):
        return f"make the {words[-1]} {' '.join(words[:-1])}"
    return text


@dataclass
class _Part:
    """One instruction part as _read_part's phases decide it, in the words of EditReading
    where a field has its name (`old_phrase` is None where nothing names the old thing)."""

    prompt: str
    text: str  # the part as the rules read it (see _imperative_part); no phase changes it
    kind: str = "other"
    old_phrase: str | None = None
    new_phrase: str = ""
    # The prompt's nouns whose attribute the instruction sets ("car" in "make the car blue").
    objects: list[str] = field(default_factory=list)
    link: str = ""  # the words between the old and the new side of a replacement
    becomes: bool = False  # the old thing turns into the new side (see _is_attribute)
    moves: bool = False  # the scene moves to a new place (_MOVE_TO)
    positioned: bool = False  # a new position in the frame takes the old one's place
    framed: bool = False  # a new background takes the old one's place
    repainted: bool = False  # a new palette takes the old one's place
    # What the old side loses where the rule that found it says so (else the old phrase's
    # words, see _old_phrase_losses).
    named_lost: list[str] | None = None
    # The new phrase's content lemmas and their slot values, read where the verb, person and
    # hair rules leave the new phrase (later rules reword it, not what it names).
    new_items: list[tuple[str, str | None]] = field(default_factory=list)
    new_slots: list[tuple[str, SlotValue]] = field(default_factory=list)
    lose: list[str] = field(default_factory=list)
    gain: list[str] = field(default_factory=list)
    slots: list[str] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    pronoun: bool = False


def _read_part(prompt: str, text: str) -> EditReading:
    """Read one (non-compound) instruction part: a vague one as it is, else phase by phase,
    each phase deciding one thing (its docstring says which) on the part's working state."""
    original = text
    if is_vague(original):
        return EditReading(instruction=original, kind="other", gain=(), lose=(), vague=True)
    part = _read_verb(prompt, _imperative_part(prompt, text))
    _read_person(part)
    _read_hairdo(part)
    _read_new_values(part)
    _read_what_gives_way(part)
    _old_phrase_losses(part)
    _settle_kind(part)
    _read_gain(part)
    _slot_losses(part)
    _tag_losses(part)
    _attribute_losses(part)
    _derived_adjective_losses(part)
    _reader_words_losses(part)
    _with_phrase_drops(part)
    return _edit_reading(original, part)


def _imperative_part(prompt: str, text: str) -> str:
    """Return the part as the rules read it: normalized, without its polite lead, a wish said
    as a statement turned imperative (_as_imperative), "make the king look angry" read as
    "make the king angry"."""
    text = _as_imperative(_strip_polite(_normalize(text)), prompt)
    # "make the king look angry" sets what "make the king angry" sets.
    if (match := _LOOK.match(text)) and _wordnet().synsets(match["how"], "a"):
        text = f"{match['lead']} {match['how']}"
    return text


def _read_verb(prompt: str, text: str) -> _Part:
    """Decide what the verb asks: the kind ("remove", "negation", "relative", "set",
    "replace", "instead", "add", else "other"), the old and new phrase, and whether the scene
    moves (_MOVE_TO, a named place)."""
    # the restatement is read on the part as said, before the lighting rewrite below
    relative, comma, restatement = text.partition(", ")
    # "make the lighting dramatic with hard shadows" -> "dramatic lighting with hard shadows"
    if match := _SET_LIGHTING.match(text):
        # "soft and diffused" -> "soft diffused lighting"
        new_light = re.sub(r"^(\w+) and (\w+)$", r"\1 \2", match["new"])
        first, _, rest = new_light.partition(" ")
        if rest and " " not in rest and _is_attribute(rest):
            first, rest = f"{first} {rest}", ""
        said = "light" if re.match(r"^\w+\s+the\s+light\b(?!ing)", text) else "lighting"
        text = f"make it {first} {said} {rest}".strip()
    part = _Part(prompt=prompt, text=text, new_phrase=text)

    if match := _REMOVE.match(text) or _TAKE_OFF.match(text):
        part.kind, part.old_phrase, part.new_phrase = "remove", match["old"], ""
    elif (match := _CLEAR_WEATHER.match(text)) and _is_weather(match["old"].split()[-1]):
        part.kind, part.old_phrase, part.new_phrase = "remove", match["old"], ""
    elif _IN_COLOR.match(text) and (old := _MONOCHROME.search(prompt.lower())):
        part.kind, part.old_phrase, part.new_phrase = "replace", old.group(0), "color"
    elif match := _NEGATION.search(text):
        part.kind, part.old_phrase = "negation", match["old"]
        part.new_phrase = text[: match.start()]
    elif comma and _content(restatement) and _is_relative(relative):
        # "stronger wind, a fierce gale", "more waves, rough sea": the restatement says how
        # the new prompt shows the change, so its words are the ones to gain.
        part.kind, part.new_phrase = "relative", restatement
    elif (match := _MAKE_IT_PLACE.match(text)) and _is_named_place(match["place"]):
        # "make it new york" on "a street in london": the scene moves to the named place.
        part.kind, part.new_phrase, part.moves = "set", f"in {match['place']}", True
        part.old_phrase = _place_phrase(prompt, "in")
    elif (match := _MOVE_TO.match(text)) and _is_place(match["new"]):
        # "put the wolf in a snowy forest instead": the new place takes the old one's place
        # whatever the prepositions.
        new_place, instead = re.subn(r"\s+instead$", "", match["new"])
        part.kind, part.new_phrase, part.moves = "set", new_place, True
        part.old_phrase = _place_phrase(prompt, "to" if instead else new_place.split()[0])
        if part.old_phrase and _is_named_place(split_words(new_place)[-1]):
            # "set it on mars" on "a florist in a small shop": a building stands in a city or
            # on a planet, so the shop stays ("on the moon" gives way)
            heads = _head_nouns(part.old_phrase)
            if heads and _first_sense_is_a(heads[-1], "structure.n.01"):
                part.old_phrase = None
    else:
        _read_replacement(part)
    return part


def _read_replacement(part: _Part) -> None:
    """Decide a replacement said with a pattern of _REPLACEMENTS ("swap the bike for a
    horse"), else one said with "make" (_read_make)."""
    text = part.text
    for pattern in _REPLACEMENTS:
        match = pattern.match(text)
        if match and _names_a_thing(match["old"]):
            part.old_phrase, part.new_phrase = match["old"], match["new"]
            part.link = text[match.end("old") : match.start("new")].strip()
            part.becomes = bool(_BECOMES.search(part.link))
            part.kind = (
                "instead"
                if pattern.pattern.find("instead") >= 0 and "instead" in text
                else "replace"
            )
            return
    _read_make(part)


def _verb_after_her(prompt: str, phrase: str) -> bool:
    """Whether "her X" is "her" and a verb the prompt does not hold ("make her hold an
    umbrella"), not her thing ("make her dress a gown")."""
    words = split_words(phrase)
    return (
        len(words) == 2
        and words[0] == "her"
        and _in_wordnet(words[1], "v")
        and not _holds_word(prompt, lemmatize(words[1], "n"))
    )


def _read_make(part: _Part) -> None:
    """Decide a "make" edit: a named thing made another ("make the dog a fox"), made to do
    something ("make the players wear yellow jerseys"), or given an attribute
    (_read_set_attribute)."""
    prompt, text = part.prompt, part.text
    match = _MAKE_INTO.match(text)
    if (
        match
        and not _is_pronoun_phrase(match["old"])
        and _names_a_thing(match["old"])
        and not _verb_after_her(prompt, match["old"])
    ):
        part.old_phrase, part.new_phrase, part.kind = match["old"], match["new"], "replace"
    elif (match := _MAKE_DO.match(text)) and (
        len(tagged := _tagged_nouns_read(text)) > 3 and tagged[3][1] == "v"
    ):
        # "make the players wear yellow jerseys": the things doing it are there (added
        # where the prompt lacks them) with what they do; nothing gives way.
        verb = lemmatize(match["verb"], "v")
        doing = f"{gerund(verb)} {match['rest']}"
        thing = split_words(match["object"])[-1]
        present = _holds_word(prompt, lemmatize(thing, "n"))
        part.new_phrase = doing if present else f"{thing} {doing}"
        part.kind = "add"
    elif (match := _SET_ATTRIBUTE.match(text)) and not _her_then_no_noun(text):
        _read_set_attribute(part, match)


def _read_set_attribute(part: _Part, match: re.Match) -> None:
    """Decide "make the frog bright blue" (_SET_ATTRIBUTE): which words name the object, and
    whether the rest is its new attribute ("set"), or another thing that takes its place."""
    prompt, text = part.prompt, part.text
    # "make the frog bright blue": the object is one word where the rest reads as
    # an attribute ("make the potion bottles green" needs two).
    # So is it where only the one-word object is in the prompt ("make the tank
    # matte black" on "a cherry red tank").
    short = _SET_ATTRIBUTE_ONE_WORD.match(text)
    if short and (
        _is_attribute(short["new"], becomes=True)
        or _is_relative(short["new"])
        or (
            _holds_word(prompt, split_words(short["object"])[-1])
            and not _holds_word(prompt, split_words(match["object"])[-1])
        )
    ):
        match = short
    new_content = _content(match["new"])
    if expression := _expression_verb(match["new"]):  # "make the knight laugh"
        part.objects = _head_nouns(match["object"])
        part.new_phrase, part.kind = _expression_form(prompt, expression), "set"
    elif (
        _is_attribute(match["new"], becomes=True)
        or _is_attribute(split_words(match["new"])[-1], becomes=True)
        or _is_relative(match["new"])
        or not new_content
        or new_content[-1][1] != "n"
        # "make that five detectives": a count of the thing, not a new thing
        or split_words(match["object"])[0] in ("that", "this")
        or any(_is_numeral(word) for word in split_words(match["object"]))
    ):  # "matte black", "bright blue": what the last word says; "fully grown"
        heads = _head_nouns(match["object"])
        # "the couple" is a pair of people, not a count, when nothing else is named
        part.objects = [noun for noun in heads if not _is_numeral(noun)] or heads
        part.new_phrase, part.kind = match["new"], "set"
        if split_words(match["object"])[-1] in ("light", "lighting"):
            part.new_phrase = f"{part.new_phrase} lighting"  # "make the lighting harsh"
        elif (said := split_words(match["object"])[-1]) in _MOOD_WORDS:
            part.new_phrase = f"{part.new_phrase} {said}"  # "make the mood creepy"
    else:  # "make the tulips sunflowers": other things take their place
        part.old_phrase, part.new_phrase, part.kind = match["object"], match["new"], "replace"


def _read_person(part: _Part) -> None:
    """Decide "make him young", "make him smile" where no rule read the verb: the new
    attribute or expression is the prompt's first person's (a hair colour goes to the hair)."""
    prompt, text = part.prompt, part.text
    if part.kind != "other":
        return
    # "make him young" on "an elderly man": the attribute is the prompt's first person's.
    if (
        (match := _SET_PERSON.match(text))
        and (content := _content(match["new"]))
        and all(pos == "a" for _, pos, _ in content)
        and (people := _person_nouns(prompt))
    ):
        part.objects, part.new_phrase, part.kind = people[:1], match["new"], "set"
        # "make her blonde" on "a woman with long dark hair": the hair takes the new colour.
        if (hair := _prompt_hair(prompt)) and _is_hair_colour(part.new_phrase):
            kept = [word for word in hair.split()[:-1] if not _is_hair_colour(word)]
            part.old_phrase = hair
            part.new_phrase = " ".join([*kept, part.new_phrase, "hair"])
            part.kind, part.objects = "replace", []
    elif (
        (match := _SET_PERSON.match(text))
        and (expression := _expression_verb(match["new"]))
        and (people := _person_nouns(prompt))
    ):  # "make him smile"
        part.objects, part.kind = people[:1], "set"
        part.new_phrase = _expression_form(prompt, expression)
    elif (match := _MAKE_PRONOUN.match(text)) and (kind_of := _kind_named(prompt, match["new"])):
        # "make them puppies" on "three dogs": a kind of the prompt's thing takes its place.
        part.old_phrase, part.new_phrase, part.kind = kind_of, match["new"], "replace"


_MAKE_PRONOUN = re.compile(r"^(?:make|turn)\s+(?:him|her|them|it)\s+(?:into\s+)?(?P<new>.+)$")


def _kind_named(prompt: str, phrase: str) -> str | None:
    """The prompt's noun (as written) of which `phrase` names a kind by its first WordNet
    senses ("puppies" of "dogs", "an owl" of "a bird"), or None; never for a slot value (a
    medium, a season: the slot rules decide what gives way to those)."""
    heads = _head_nouns(phrase)
    new_sense = _first_sense(heads[-1]) if heads else None
    if new_sense is None or slot_of(heads[-1], "n") is not None:
        return None
    for (lemma, pos), word in zip(tagged_lemmas(prompt), split_words(prompt), strict=False):
        sense = _first_sense(lemma) if pos == "n" else None
        if sense and sense != new_sense and _first_sense_is_a(heads[-1], sense):
            return word
    return None


def _read_hairdo(part: _Part) -> None:
    """Decide whether new hair takes the place of the prompt's hairdo."""
    # "make her hair short and silver" on "a girl with a braid": the new hair takes the
    # place of the prompt's hairdo.
    if (
        part.kind == "set"
        and part.objects == ["hair"]
        and not is_present("hair", part.prompt, "n")
        and (hairdo := _prompt_hairdo(part.prompt))
    ):
        # "short and silver" -> "short silver"
        new_hair = re.sub(r"\s+and\s+", " ", part.new_phrase)
        part.old_phrase, part.new_phrase = hairdo, f"{new_hair} hair"
        part.kind, part.objects = "replace", []


def _read_new_values(part: _Part) -> None:
    """Decide what the new phrase names: its content lemmas and the slot values among them
    (season, weather, medium, colour, ...)."""
    prompt, new_phrase = part.prompt, part.new_phrase
    part.new_items = _phrase_lemmas(new_phrase) if new_phrase else []
    # A word the prompt already holds keeps the prompt's reading: "the mushroom made of stone"
    # names the prompt's mushroom, not a mushroom cloud for the weather.
    new_slots = [
        (
            lemma,
            slot_of(lemma, pos, strict=_holds_word(prompt, lemma))
            or _named_medium(lemma)
            or _shade(lemma),
        )
        for lemma, pos in part.new_items
    ]
    part.new_slots = [(lemma, value) for lemma, value in new_slots if value is not None]
    if not any(value.slot == "medium" for _, value in part.new_slots):
        # A medium named by words that WordNet reads apart: "stained glass" (stain + glass).
        named = _phrases_in(new_phrase, _lexicon().medium_name_keys)
        if named and (value := _named_medium(named[0])) is not None:
            part.new_slots.append((named[0], value))


def _read_what_gives_way(part: _Part) -> None:
    """Decide what gives way to the new side, rule by rule in this order: a replacement that
    only sets attributes keeps its thing; the prompt's thing the instruction leaves unnamed;
    the old position, background, palette, described thing, outfit."""
    _replace_as_attribute(part)
    _find_old_thing(part)
    _read_position(part)
    _read_background(part)
    _read_palette(part)
    _read_given_thing(part)
    _read_outfit(part)


def _replace_as_attribute(part: _Part) -> None:
    """Decide whether a replacement only gives the old thing new attributes ("set"): the
    thing stays."""
    # "change the car to red", "change the tram to be tiny", "change the monk's hair to wavy
    # red": an attribute, not a replacement; the object (the hair) stays.
    if (
        part.kind == "replace"
        and part.old_phrase is not None
        and not _is_pronoun_phrase(part.old_phrase)
        and _is_attribute(
            f"be {part.new_phrase}" if part.link.endswith("be") else part.new_phrase, part.becomes
        )
        and not _same_scene_slot(part.old_phrase, part.new_phrase)  # "turn the rain into snow"
    ):
        part.objects, part.old_phrase, part.kind = _head_nouns(part.old_phrase), None, "set"

    # "change his jacket to a leather jacket" on "a denim jacket": the jacket stays and takes
    # the new words as attributes (one material, one colour at a time).
    if (
        part.kind == "replace"
        and part.old_phrase
        and (old_heads := _head_nouns(part.old_phrase))
        and not _bare_modifiers(part.old_phrase)  # "the lemon tree" names its kind: it goes
        and _head_nouns(part.new_phrase)[-1:] == old_heads[-1:]
        and (said := _bare_modifiers(part.new_phrase))
    ):
        part.objects, part.old_phrase, part.new_phrase = old_heads[-1:], None, said
        part.kind = "set"


def _find_old_thing(part: _Part) -> None:
    """Decide the prompt's thing that gives way where the instruction names none: the thing of
    the same kind ("a bicycle instead"), the first person ("make her a grandmother"), what
    "it" is ("make it a castle")."""
    prompt, text = part.prompt, part.text
    # "a bicycle instead", "use tea instead": the prompt's thing of the same kind gives way.
    if part.kind in ("other", "add") and part.old_phrase is None and re.search(r"\binstead$", text):
        part.new_phrase = re.sub(
            r"^(?:use|have|make it|go with|try|put|add)\s+|\s*\binstead$", "", text
        )
        nouns = [lemma for lemma, pos, _ in _content(part.new_phrase) if pos == "n"]
        if nouns and (old := _same_kind_noun(prompt, nouns[-1])):
            part.old_phrase, part.kind = old, "instead"
        else:
            part.new_phrase = text
    # "make her a grandmother" on "a girl flying a kite": the prompt's first person becomes
    # the new one.
    elif (
        part.kind == "other"
        and part.old_phrase is None
        and (match := _MAKE_PERSON_A.match(text))
        and _first_sense_is_a(lemmatize(split_words(match["new"])[-1], "n"), "person.n.01")
        and (people := _person_nouns(prompt))
    ):
        part.old_phrase, part.new_phrase, part.kind = people[0], match["new"], "replace"
    # "make it a castle" on "a house on a hill": "it" is the prompt's thing of the same kind;
    # "make it an arctic fox" on "a red fox": the prompt's described thing of the same name.
    elif (
        part.kind == "other"
        and part.old_phrase is None
        and (match := _MAKE_IT_A.match(text))
        and (nouns := [lemma for lemma, pos, _ in _content(match["new"]) if pos == "n"])
        and slot_of(nouns[-1]) is None
        and _named_medium(nouns[-1]) is None
        and (
            old := _prompt_described(prompt, lemmatize(split_words(match["new"])[-1], "n"))
            or _same_kind_noun(prompt, nouns[-1])
        )
    ):
        part.old_phrase, part.new_phrase, part.kind = old, match["new"], "replace"


def _read_position(part: _Part) -> None:
    """Decide a move in the frame: the new position takes the prompt's old one's place."""
    prompt, text = part.prompt, part.text
    # "move the tree to the left side", "center the lighthouse": the new position takes the
    # old one's place ("in the center" -> "on the left side").
    if (
        part.old_phrase is None
        and split_words(text)[:1] in ([verb] for verb in _POSITION_VERBS)
        and (new_match := _NEW_POSITION.search(text))
        and (old_match := _PROMPT_POSITION.search(prompt))
    ):
        new_where, old_where = new_match["where"], old_match["where"]
        if new_where != old_where and not {new_where, old_where} <= _CENTERED:
            side = " side" if re.search(rf"\b{new_where}\s+side\b", text) else ""
            preposition = "in" if new_where in _CENTERED else "on"
            part.old_phrase, part.kind = old_match.group(0), "set"
            part.new_phrase = f"{preposition} the {new_where}{side}"
            part.named_lost, part.moves, part.positioned = [old_where], False, True


def _read_background(part: _Part) -> None:
    """Decide a new background: it takes the place of the prompt's background or backdrop,
    else it is added."""
    prompt = part.prompt
    # "change the background to snowy mountains": the new background takes the old one's
    # place ("desert dunes in the background", "a dark background").
    if part.old_phrase is None and (match := _SET_BACKGROUND.match(part.text)):
        if old := _PROMPT_BACKGROUND.search(prompt):
            lead = old["lead"] or ""
            part.old_phrase = old.group(0).strip()
            part.new_phrase = (
                f"{lead}{match['new']} in the background"
                if old["in_the"]
                else f"{match['new']} background"
            )
            part.kind, part.framed = "set", True
            part.named_lost = [
                lemma
                for lemma, pos, _ in _content(old["what"])
                if pos in ("a", "n") and not is_present(lemma, part.new_phrase)
            ]
        elif old := _PROMPT_BACKDROP.search(prompt):  # "in front of a brick wall"
            new_content = _content(match["new"])
            part.old_phrase, part.new_phrase = (
                old.group(0),
                (
                    f"with {match['new']} in the background"
                    if new_content and new_content[-1][1] == "n"
                    else f"with a {match['new']} background"  # "make the background blue"
                ),
            )
            part.kind, part.framed = "set", True
            part.named_lost = [
                lemma for lemma, pos, _ in _content(old.group(0)) if pos in ("a", "n")
            ]
        else:
            part.kind, part.new_phrase = "add", f"{match['new']} in the background"


def _read_palette(part: _Part) -> None:
    """Decide a new palette: it takes the place of the prompt's."""
    # "make the colors warm reds and golds" on "deep blues and greens": the new palette takes
    # the place of the prompt's.
    if (match := _SET_PALETTE.match(part.text)) and (old := _prompt_palette(part.prompt)):
        part.old_phrase, part.new_phrase = old, match["new"]
        part.kind, part.repainted = "set", True
        part.named_lost = [
            lemma
            for lemma, pos, _ in _content(old)
            if pos in ("a", "n", "v") and not is_present(lemma, part.new_phrase)
        ]


def _read_given_thing(part: _Part) -> None:
    """Decide a given thing ("give the wizard a long white beard"): it takes the place of the
    prompt's described thing of the same name."""
    # "give the wizard a long white beard" on "a wizard with a short black beard": the new
    # thing takes the place of the prompt's described thing of the same name (hair has its
    # own rule, as a hairstyle).
    if (
        part.kind == "other"
        and part.old_phrase is None
        and (thing := _given_thing(part.text))
        and (head := lemmatize(split_words(thing)[-1], "n")) != "hair"
        and (old := _prompt_described(part.prompt, head))
    ):
        part.old_phrase, part.new_phrase, part.kind = old, thing, "replace"
        # its describing words as written: a participle ("shining") has no adjective lemma
        part.named_lost = [
            word
            for word in split_words(old)[:-1]
            if word not in _DETERMINERS and not is_present(word, thing)
        ]


def _read_outfit(part: _Part) -> None:
    """Decide a new outfit: it takes the place of the one the prompt's person wears."""
    prompt, text, old_phrase = part.prompt, part.text, part.old_phrase
    # "put the scarecrow in a tuxedo", "change her dress to a raincoat": the new outfit takes
    # the old one's place.
    if (
        part.kind in ("other", "add", "replace", "set")
        and (
            old_phrase is None
            or _is_pronoun_phrase(old_phrase)
            or _is_outfit(_head_nouns(old_phrase)[-1] if _head_nouns(old_phrase) else "")
        )
        and (outfit := _new_outfit(text))
        and (worn := _prompt_outfit(prompt))
        and not _holds_word(prompt, split_words(outfit)[-1])
        # "add a man in a coat" dresses a new person, not the prompt's
        and not any(not is_present(person, prompt, "n") for person in _person_nouns(text))
    ):
        part.old_phrase, part.new_phrase, part.kind, part.objects = worn[0], outfit, "replace", []
        part.named_lost = [lemma for lemma in worn[1] if not is_present(lemma, part.new_phrase)]


def _old_phrase_losses(part: _Part) -> None:
    """Decide what the old side loses: what its rule named, else the old phrase's words the
    new phrase lacks; a removed thing takes the adjectives only it had."""
    prompt, old_phrase, new_phrase = part.prompt, part.old_phrase, part.new_phrase
    lose: list[str] = []
    if part.named_lost:
        lose = list(part.named_lost)
    elif old_phrase is not None and not _is_pronoun_phrase(old_phrase):
        for head, modifiers in _noun_phrases(old_phrase):
            if not is_present(head, new_phrase):
                lose.append(head)
            else:  # "swap the lemon tree for an orange tree": the tree stays, the lemon goes
                lose += [modifier for modifier in modifiers if not is_present(modifier, new_phrase)]
    elif part.kind == "replace" and old_phrase and (kind_of := _kind_named(prompt, new_phrase)):
        lose.append(lemmatize(kind_of, "n"))  # "turn it into an owl" on "a bird"
    if part.kind in ("replace", "instead"):
        # "a red fox" is one thing to WordNet: a wolf in its place is not red
        lose += [
            modifier
            for head in list(lose)
            for modifier in _name_modifiers(prompt, head)
            if not is_present(modifier, new_phrase)
        ]
    if part.kind in ("remove", "negation") and lose:
        # The adjectives that only described the removed thing go with it: "thick fog".
        counts = Counter(lemma for lemma, _ in tagged_lemmas(prompt))
        lose += [
            modifier
            for modifier, pos in _object_modifiers(prompt, list(lose))
            if pos == "a" and counts[modifier] == 1 and modifier not in lose
        ]
        # Without its people a place is no longer crowded or busy: "get rid of the people" on
        # "a crowded beach".
        if any(_is_people(lemma) for lemma in lose):
            lose += [
                word
                for word in dict.fromkeys(split_words(prompt))
                if word not in lose and _means_crowded(word)
            ]
    part.lose = lose


def _settle_kind(part: _Part) -> None:
    """Decide whether the edit's object is a person pronoun, and the kind left open: an "add"
    verb adds, a relative new phrase is "relative"."""
    text = part.text
    part.pronoun = _names_person_pronoun(part.prompt, text)
    if part.kind == "other":
        first = split_words(text)[:1]
        if first and first[0] in {"add", "put", "place", "include", "insert", "give", "bring"}:
            part.kind = "add"
    if part.kind in ("other", "set") and part.new_phrase and _is_relative(part.new_phrase):
        part.kind = "relative"


def _read_gain(part: _Part) -> None:
    """Decide the gain: the new phrase's content words the prompt lacks."""
    prompt, text = part.prompt, part.text
    gain = []
    for lemma, pos in part.new_items:
        if lemma in part.lose or lemma in gain:
            continue
        if not is_present(lemma, prompt, pos):
            gain.append(lemma)
    if (
        part.kind == "replace"
        and _IN_COLOR.match(text)
        and _MONOCHROME.fullmatch(part.old_phrase or "")
    ):
        # "in color": here "color" is the content, not a slot's name; the monochrome goes whole
        gain, part.lose = ["color"], [part.old_phrase]
    # A verb that says how to edit is the means, not the content, where the part also names
    # what to show ("light it with harsh midday sun"); alone it is the edit ("blur the sky").
    if part.new_phrase == text and (verb := _leading_verb(text)):
        first = split_words(text)[0]
        means = {verb, first, lemmatize(first, "n")}
        if any(lemma not in means for lemma in gain):
            gain = [lemma for lemma in gain if lemma not in means]
    part.gain = gain


def _slot_losses(part: _Part) -> None:
    """Decide the slots the edit sets and the old values they lose: the prompt's value of
    each scene slot the new one does not go with, the objects' old attribute values."""
    prompt, text, lose = part.prompt, part.text, part.lose
    # Lose the old value of each slot the instruction sets.
    slots: list[str] = []
    if part.kind not in ("remove", "negation", "relative"):
        instruction_forms = _text_words(text).forms
        prompt_slots = _prompt_slot_words(prompt)
        if not part.objects and any(value.slot in OBJECT_SLOTS for _, value in part.new_slots):
            # "make it three cats", "make the car blue": the named things the prompt holds.
            part.objects = [
                lemma
                for lemma, pos, _ in _content(text)
                if pos == "n" and is_present(lemma, prompt, "n")
            ]
        for lemma, value in part.new_slots:
            if value.slot in SCENE_SLOTS or part.objects:
                slots.append(value.slot)
            if value.slot in SCENE_SLOTS:
                for old_lemma, old_value, _, states_slot in prompt_slots:
                    if (
                        old_value.slot == value.slot
                        and old_lemma != lemma
                        and old_lemma not in instruction_forms
                        and (
                            (
                                not is_present(old_lemma, lemma)
                                and not _compatible(old_value, value, layered=not states_slot)
                            )
                            # "a 1920s photograph" takes the place of "photo"
                            or (value.slot == "medium" and old_value.senses & value.senses)
                        )
                    ):
                        lose.append(old_lemma)
            elif part.objects:
                lose += [
                    old
                    for old in _old_attribute_values(prompt, part.objects, value)
                    if old != lemma
                ]
        if part.kind == "other" and slots:
            part.kind = "set"
    if part.moves:
        slots.append("location")
        left_behind = _setting_tags(prompt, part.new_phrase)
        part.lose += left_behind
        part.drop += left_behind
    if part.positioned:
        slots.append("position")
    if part.framed:
        slots.append("background")
    if part.repainted:
        slots.append("palette")
    part.slots = slots


def _tag_losses(part: _Part) -> None:
    """Decide the prompt's tag words of the kind of the new one (_same_kind_tag_words) where
    the instruction names no old thing and sets no medium."""
    if (
        part.kind in ("other", "set", "relative")
        and part.old_phrase is None
        and part.new_phrase
        and part.gain
        and "medium" not in part.slots  # a medium's tags go by family above ("concept art" stays)
    ):
        part.lose += _same_kind_tag_words(part.prompt, part.new_phrase, part.text)


def _attribute_losses(part: _Part) -> None:
    """Decide the old values of the attributes the edit sets: the objects' old adjective of
    the same attribute, its contrary, their material; the picture's adjective of the same
    attribute or its antonym; the old age where the new noun says one."""
    prompt, kind, objects, lose, gain = part.prompt, part.kind, part.objects, part.lose, part.gain
    if kind in ("set", "relative") and objects:
        # "make the fisherman old" on "a young fisherman": the old value of the same attribute.
        for lemma, pos in part.new_items:
            lose += _old_attribute_adjectives(prompt, objects, lemma, pos)
            # "make the sea rougher" on "a calm sea", "make the sky clear" on "a cloudy sky"
            if pos == "a":
                # The tagger reads "light" of "light fog" as a noun: a modifier's adjective
                # senses count.
                lose += [
                    old
                    for old, old_pos in _object_modifiers(prompt, objects)
                    if (old_pos == "a" or _wordnet().synsets(old, pos="a"))
                    and _contrary(old, lemma)
                ]
        # "make the table marble" on "a wooden table": one material at a time.
        if any(lemma in gain and is_material(lemma) for lemma, _ in part.new_items):
            lose += [
                modifier
                for modifier, pos in _object_modifiers(prompt, objects)
                if modifier not in gain and is_material(modifier, pos)
            ]
            lose += [old for old in _materials_after(prompt, objects) if old not in gain]
    elif kind == "relative" or (kind == "set" and any(s in SCENE_SLOTS for s in part.slots)):
        # "a bit darker" on "a dim tavern": the picture's adjective of the same attribute;
        # "make it stormy" on "a calm summer day": its antonym.
        for lemma, pos in part.new_items:
            if pos != "a" or lemma not in gain:
                continue
            attributes = _adjective_attributes(lemma) if kind == "relative" else frozenset()
            lose += [
                old
                for old, old_pos in tagged_lemmas(prompt)
                if old_pos == "a"
                and old != lemma
                and (
                    (attributes and _adjective_attributes(old) & attributes)
                    or _opposite(old, lemma)
                    or (kind == "relative" and _contrary(old, lemma))
                )
            ]
    if kind == "replace" and part.old_phrase and (heads := _head_nouns(part.new_phrase)):
        # "make the woman a teenager" on "a middle-aged woman": the new noun says the age.
        said_ages = [
            lemma
            for lemma, pos in part.new_items
            if pos == "a" and _AGE in _adjective_attributes(lemma)
        ] + [  # "an old man": the compound says its age too
            word
            for lemma, _ in part.new_items
            if " " in lemma
            for word in lemma.split()
            if _AGE in _adjective_attributes(word)
        ]
        if _names_an_age(heads[-1]) or said_ages:
            lose += _age_modifiers(prompt, _head_nouns(part.old_phrase))


def _derived_adjective_losses(part: _Part) -> None:
    """Decide a relative edit of a thing the prompt names only by an adjective derived from
    it: "more stars" on "a starry sky" gains the stars and loses "starry" (their new number
    is said with them), "bigger flames" on "a flaming wok" loses "flaming"."""
    if part.kind != "relative":
        return
    words = [lemma for lemma, pos in tagged_lemmas(part.prompt) if pos]
    for lemma, pos in part.new_items:
        if pos != "n" or lemma in words:
            continue
        derived = [old for old in words if old != lemma and old in _family(lemma)]
        if derived:
            part.lose += derived[:1]
            if lemma not in part.gain:
                part.gain.append(lemma)


def _reader_words_losses(part: _Part) -> None:
    """Decide the losses the reader's words (core/reader_words.json) name, and which of them
    go with their clause (drop); a thing added to an empty place leaves it empty no more."""
    prompt, lose, drop = part.prompt, part.lose, part.drop
    if part.kind in ("other", "set", "relative", "replace", "instead", "add"):
        replaced, dropped = _lexicon_losses(
            prompt,
            part.new_phrase,
            tuple(part.gain),
            tuple(part.slots),
            tuple(part.objects),
            part.pronoun,
        )
        drop += [w for w in dropped if w not in part.gain and not is_present(w, part.new_phrase)]
        lose += replaced + drop
        # "make him bald": no hair is left to describe ("bald hair" keeps the old one).
        if any(_means_no_hair(lemma) for lemma in part.gain) and _holds_word(prompt, "hair"):
            drop.append("hair")
            lose.append("hair")
        if part.kind == "other" and not part.gain and replaced:
            # "shoot it from above": the named camera angle is the new value, though none of
            # its words is a content word
            named = [
                value
                for _, keys, _ in _lexicon().one_at_a_time
                for value in _phrases_in(part.new_phrase, keys)
                if not _holds_word(prompt, value)
            ]
            if named:
                part.gain, part.new_phrase = [named[0]], named[0]
    if part.kind in ("other", "set") and part.gain and all(map(_means_empty, part.gain)):
        # "make it empty" on "a coffee shop, people chatting": the people go, with their
        # clause, and so does the crowd's word ("busy")
        gone = [
            word
            for word, pos in dict(tagged_lemmas(prompt)).items()
            if (pos == "n" and _is_people(word)) or (pos == "a" and _means_crowded(word))
        ]
        lose += gone
        drop += gone
    if part.kind == "add" and not part.text.startswith("give "):
        # "add a man sitting there" on "an empty park bench": it is empty no more, and the
        # word goes alone (a helmet given to a boy leaves his parking lot empty).
        emptied = [old for old, pos in tagged_lemmas(prompt) if pos == "a" and _means_empty(old)]
        lose += emptied
        drop += emptied


def _with_phrase_drops(part: _Part) -> None:
    """Decide which losses go with their "with" phrase where an adjective is the new value."""
    prompt, lose, drop = part.prompt, part.lose, part.drop
    if (
        part.kind in ("set", "relative")
        and part.objects
        and all(pos == "a" for _, pos in part.new_items)
    ):
        # "make him bald" on "a man with curly hair": an adjective does not take the place of
        # a thing the person is with; it goes before the person, the "with" phrase goes.
        drop += [
            lemma
            for lemma in lose
            if lemma not in drop
            and (" " in lemma or (lemma, "n") in tagged_lemmas(prompt))
            and re.search(rf"\bwith\s+(?:an?\s+|some\s+)?{re.escape(lemma)}\b", prompt.lower())
        ]


def _edit_reading(original: str, part: _Part) -> EditReading:
    """Build the part's EditReading: the lose words without repeats or gained words."""
    lose = [lemma for lemma in dict.fromkeys(part.lose) if lemma not in part.gain]
    return EditReading(
        instruction=original,
        kind=part.kind,
        gain=tuple(part.gain),
        lose=tuple(lose),
        slots=tuple(dict.fromkeys(part.slots)),
        pronoun=part.pronoun,
        vague=is_vague(original),
        old_phrase=part.old_phrase or "",
        new_phrase=part.new_phrase,
        drop=tuple(dict.fromkeys(part.drop)),
        objects=tuple(dict.fromkeys(part.objects)) if part.kind in ("set", "relative") else (),
    )


# ---------------------------------------------------------------------------------------------
# Prompt words WordNet cannot place (core/reader_words.json): medium tags, words bound to a
# season or weather, moods and facial expressions


def _words_key(phrase: str) -> str:
    """A phrase as the reader compares it: its words, lower case ("children's" -> children)."""
    return " ".join(split_words(phrase))


def _longest_first(phrases) -> tuple[str, ...]:
    return tuple(sorted({_words_key(p) for p in phrases}, key=lambda key: (-len(key), key)))


@dataclass(frozen=True)
class _Lexicon:
    """core/reader_words.json as the reader looks it up: phrases as word keys, each list
    longest first (see `_phrases_in`)."""

    medium_names: dict[str, str]  # name -> medium kind
    medium_name_keys: tuple[str, ...]
    medium_name_words: frozenset[str]  # the single words of the names ("ink", "oil")
    medium_tags: dict[str, str]  # tag -> medium kind
    medium_tag_keys: tuple[str, ...]
    medium_parents: dict[str, str | None]
    medium_unfit: dict[str, tuple[str, ...]]  # kind -> tags a new medium of it leaves no room for
    bound: dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]]  # slot -> (values, words)
    one_at_a_time: tuple[tuple[str, tuple[str, ...], frozenset[str]], ...]  # name, keys, forms
    outfits: frozenset[str]  # clothing WordNet 3.0 lacks ("hoodie")


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    import json
    from pathlib import Path

    data = json.loads(Path(__file__).with_name("reader_words.json").read_text("utf-8"))
    media = data["media"]
    names = {_words_key(name): kind for kind, entry in media.items() for name in entry["names"]}
    tags = {_words_key(tag): kind for kind, entry in media.items() for tag in entry["tags"]}
    groups = []
    for name, values in data["one_at_a_time"].items():
        keys = _longest_first(values)
        forms = set(keys) | {lemmatize(key, pos) for key in keys for pos in ("n", "v", "a")}
        groups.append((name, keys, frozenset(forms)))
    return _Lexicon(
        medium_names=names,
        medium_name_keys=_longest_first(names),
        medium_name_words=frozenset(word for name in names for word in name.split()),
        medium_tags=tags,
        medium_tag_keys=_longest_first(tags),
        medium_parents={kind: entry.get("parent") for kind, entry in media.items()},
        medium_unfit={
            kind: _longest_first(entry.get("unfit", ())) for kind, entry in media.items()
        },
        bound={
            slot: tuple(
                (tuple(values.split()), _longest_first(words)) for values, words in by.items()
            )
            for slot, by in data["bound"].items()
        },
        one_at_a_time=tuple(groups),
        outfits=frozenset(_words_key(word) for word in data["outfits"]),
    )


# A basket, a vase, a bouquet: what they hold was cut or picked, whatever the season.
_HOLDER_ANCHORS = frozenset({"container.n.01", "arrangement.n.02"})


def _cut(prompt: str, word: str) -> bool:
    """Whether every `word` of `prompt` is held by a container or an arrangement ("a basket
    of flowers" stays in winter; "a meadow of flowers" does not)."""
    holders = re.findall(rf"\b([a-z]+) of (?:[a-z]+ )?{re.escape(word)}\b", _words_key(prompt))
    found = len(re.findall(rf"\b{re.escape(word)}\b", _words_key(prompt)))
    return (
        bool(holders)
        and len(holders) == found
        and all(
            any(_closure(sense.name()) & _HOLDER_ANCHORS for sense in _noun_senses(noun, "n", True))
            for noun in holders
        )
    )


def _phrases_in(text: str, keys: tuple[str, ...]) -> list[str]:
    """Return the phrases of `keys` (word keys, longest first) that `text` holds as whole
    words, none inside another one found."""
    haystack = f" {_words_key(text)} "
    found: list[str] = []
    for phrase in keys:
        if phrase and f" {phrase} " in haystack and not any(phrase in f for f in found):
            found.append(phrase)
    return found


def _medium_kind(new_phrase: str, value: SlotValue | None) -> str | None:
    """The medium kind an instruction's new phrase names ("oil painting", "pixel art"), or
    the one its WordNet reading falls under (photo, painting, drawing); None if neither."""
    lexicon = _lexicon()
    for phrase in _phrases_in(new_phrase, lexicon.medium_name_keys):
        return lexicon.medium_names[phrase]
    if value is not None and value.family == "photo":
        return "photo"
    for sense in value.senses if value is not None else ():
        closure = _closure(sense)
        if "painting.n.01" in closure:
            return "painting"
        if closure & {"drawing.n.01", "drawing.n.02"}:
            return "drawing"
    return None


def _media_compatible(tag_kind: str, new_kind: str | None) -> bool:
    """A tag of one medium kind may stay with a new medium of the same kind, of its parent
    kind ("make it a painting" keeps "soft washes"), or of one of its children."""
    if new_kind is None:
        return False
    parents = _lexicon().medium_parents
    return (
        tag_kind == new_kind
        or parents.get(new_kind) == tag_kind
        or parents.get(tag_kind) == new_kind
    )


def _named_medium(lemma: str) -> SlotValue | None:
    """The medium an instruction names by a word WordNet lacks or files elsewhere
    ("claymation", "stained glass", "comic book"): a medium slot value with no senses."""
    kind = _lexicon().medium_names.get(_words_key(lemma))
    if kind is None:
        return None
    return SlotValue("medium", "photo" if kind == "photo" else "art", frozenset())


def medium_kind(phrase: str) -> str | None:
    """The medium kind (core/reader_words.json) that `phrase` names ("photography" ->
    "photo"), or None."""
    return _lexicon().medium_names.get(_words_key(phrase))


def medium_name_words() -> frozenset[str]:
    """The single words that name a medium kind ("ink", "oil", "pencil"): the modifiers of
    an old medium that go with it ("an ink drawing" -> "a 35mm photo")."""
    return _lexicon().medium_name_words


def _person_nouns(text: str) -> list[str]:
    """The nouns of `text` whose first WordNet sense is a person, in order."""
    return [
        lemma
        for lemma, pos in (tagged_lemmas(text) if split_words(text) else ())
        if pos == "n" and _first_sense_is_a(lemma, "person.n.01")
    ]


def is_living_thing(lemma: str) -> bool:
    """Whether the first WordNet noun sense of `lemma` is an organism (a person, an animal)."""
    return _first_sense_is_a(lemma, "organism.n.01")


def _names_a_person(clause: str) -> bool:
    return bool(_person_nouns(clause))


def _clauses_holding(prompt: str, objects: tuple[str, ...], pronoun: bool) -> list[str]:
    """The comma clauses an object's attributes stand in: those naming one of `objects` (for
    a person pronoun those naming a person) and the one- or two-word clauses (", smiling,")."""
    clauses = [clause for clause in prompt.split(",") if clause.strip()]
    if objects:
        named = [c for c in clauses if any(is_present(obj, c, "n") for obj in objects)]
    else:
        named = [c for c in clauses if pronoun and _names_a_person(c)]
    return named + [c for c in clauses if len(split_words(c)) <= 2]


def _lexicon_losses(
    prompt: str,
    new_phrase: str,
    gain: tuple[str, ...],
    slots: tuple[str, ...],
    objects: tuple[str, ...],
    pronoun: bool,
) -> tuple[list[str], list[str]]:
    """Return the prompt's words (word keys) that an instruction setting a medium, a season,
    a weather, a mood, an expression, a camera angle, a shot size, a lens or a composition
    leaves no room for (core/reader_words.json), as
    (replaced, dropped): the new value takes the place of the replaced ones (the old mood,
    the old facial expression of the edited person, a medium that leads the prompt: "3d
    render of"); the dropped ones go with their clause (the old medium's tags, "cel
    shading" for "make it an oil painting"; words bound to another season or weather, "snow
    on the roofs" for "make it spring")."""
    lexicon = _lexicon()
    replaced: list[str] = []
    dropped: list[str] = []
    new_words = set(split_words(new_phrase)) | set(gain)
    if "medium" in slots:
        value = next(
            (
                v
                for lemma in gain
                if (v := slot_of(lemma) or _named_medium(lemma)) is not None and v.slot == "medium"
            ),
            None,
        )
        new_kind = _medium_kind(new_phrase, value)
        tags = lexicon.medium_tags
        first, *rest = prompt.split(",")
        # Tags follow the subject clause ("a blender on a counter" holds no 3d software),
        # except a medium that leads it: "3d render of a mushroom house".
        leads = [
            tag
            for tag in _phrases_in(first, lexicon.medium_tag_keys)
            if f" {tag} of " in f" {_words_key(first)} "
        ]
        after_subject = _phrases_in(",".join(rest), lexicon.medium_tag_keys)
        for found, tag_list in ((replaced, leads), (dropped, after_subject)):
            found += [
                tag
                for tag in tag_list
                if not _media_compatible(tags[tag], new_kind) and not set(tag.split()) <= new_words
            ]
        dropped += _phrases_in(",".join(rest), lexicon.medium_unfit.get(new_kind, ()))
    for slot in ("season", "weather", "time_of_day"):  # "harsh sunlight" only by day
        if slot not in slots:
            continue
        new_values = {
            lemma for lemma in gain if (v := slot_of(lemma)) is not None and v.slot == slot
        }
        for values, bound in lexicon.bound[slot]:
            fits = any(
                value == new or new in synonyms(value, "n")
                for value in values
                for new in new_values
            )
            if new_values and not fits:
                dropped += [word for word in _phrases_in(prompt, bound) if not _cut(prompt, word)]
    for name, keys, forms in lexicon.one_at_a_time:
        named = _phrases_in(new_phrase, keys)
        # "give her long silver hair": a described hair is a hairstyle of its own.
        new_hair = name == "hairstyle" and _NEW_HAIR.search(new_phrase)
        if not named and not new_hair and not any(lemma in forms for lemma in gain):
            continue
        places = [prompt]
        if name == "expression":
            places = _clauses_holding(prompt, objects, pronoun)
        elif name == "hairstyle":  # one person's hair: the first the prompt names
            places = _clauses_holding(prompt, objects, True)[:1]
        for place in places:
            old_values = [
                value
                for value in _phrases_in(place, keys)
                if value not in new_words
                and not any(_words_within(value, other) for other in named)
                and not any(value in synonyms(lemma, "a") for lemma in gain)
                and not (name == "mood" and _describes_looks(place, value))
                and not (name == "expression" and _describes_another(place, value, objects))
            ]
            if name == "mood" and any(word in _MOOD_WORDS for word in split_words(new_phrase)):
                # "a melancholic mood" for "cheerful atmosphere": the old mood word goes too
                old_values = [_with_mood_word(place, value) for value in old_values]
            if name == "hairstyle":
                # The prompt's whole hair ("long brown hair"), or its hairdo ("a braid").
                whole = _prompt_hair(place) if new_hair else None
                if whole is None and (new_hair or named) and not old_values:
                    whole = _prompt_hairdo(place)
                old_values = [whole] if whole and whole not in new_words else old_values
                key = f" {_words_key(place)} "
                old_values = sorted(old_values, key=lambda value: key.find(f" {value} "))[:1]
            replaced += old_values
    replaced = list(dict.fromkeys(replaced))
    return replaced, [tag for tag in dict.fromkeys(dropped) if tag not in replaced]


_LOOKS = frozenset({"body_part.n.01", "body_covering.n.01", "covering.n.02"})


def _words_within(first: str, second: str) -> bool:
    """Whether one word key holds the other as whole words ("symmetrical" is not within
    "asymmetrical composition")."""
    return f" {first} " in f" {second} " or f" {second} " in f" {first} "


def _word_after(text: str, value: str) -> tuple[str, str | None] | None:
    """(lemma, POS) of the word right after `value` (a word key) in its comma clause of
    `text`, or None where `value` is not there or ends its clause."""
    size = len(value.split())
    for clause in text.split(","):
        words = split_words(clause)
        for start in range(len(words) - size):
            if " ".join(words[start : start + size]) == value:
                return tagged_lemmas(clause)[start + size]
    return None


def _describes_looks(text: str, value: str) -> bool:
    """Whether `value` (word key) stands before a body part or what covers one, describing
    how it looks ("dark" of "dark hair", "dark eyes", "a dark suit"), not a mood of the
    picture ("dark, moody", "a dark forest")."""
    after = _word_after(text, value)
    senses = _noun_senses(after[0], "n", True) if after and after[1] == "n" else ()
    return bool(senses) and bool(_closure(senses[0].name()) & _LOOKS)


_FACE_WORDS = frozenset({"face", "expression", "eyes", "look", "gaze", "smile", "mouth"})


def _describes_another(text: str, value: str, objects) -> bool:
    """Whether an expression word of `text` describes a noun other than the edited one or
    its face ("calm" of "a calm lake" when the man is to smile; not "a serious face")."""
    after = _word_after(text, value)
    return bool(after) and after[1] == "n" and after[0] not in _FACE_WORDS | set(objects)


def _with_mood_word(text: str, value: str) -> str:
    """`value` with the mood word that follows it in `text` ("cheerful atmosphere")."""
    for word in _MOOD_WORDS:
        if f" {value} {word} " in f" {_words_key(text)} ":
            return f"{value} {word}"
    return value


_MAX_TAG_WORDS = 4
_NEW_HAIR = re.compile(r"\b(?!(?:the|his|her|their|its|my|your|of|with)\b)\w+ hair$")


def _same_kind_tag_words(prompt: str, new_phrase: str, instruction: str = "") -> list[str]:
    """Return the modifiers of the prompt's short tag clauses that the new phrase replaces:
    a comma clause of up to four words whose last word (its head) is the new phrase's head
    or a word derived from it ("flat lighting" for "dramatic side lighting", "soft light" for
    "hard rim light", "light fog" for "thicker fog")."""

    def head(words: list[str]) -> str:
        return lemmatize(words[-1], "n") if words else ""

    cut = re.split(r"\b(?:from|with|in|on|at|for|by)\b", new_phrase)[0]
    new_head = head(split_words(cut))
    if not new_head or new_head in _PRONOUNS:
        return []
    related = _family(new_head) | {new_head}
    # "lit by a desk lamp": the participle names the light ("window light" goes).
    related |= _family(lemmatize(split_words(cut)[-1], "v"))
    # "make the lighting dramatic", "backlit please": a light word anywhere says the light
    # changes, so the old light tag goes, its head too where the new phrase has no such word.
    # (Neon lights are things, not the light: only a singular light or lighting tag goes.)
    lighting = any(
        word.endswith("lit") or word in ("light", "lighting", "lights")
        for word in split_words(re.split(r"\b(?:from|with|by)\b", instruction or new_phrase)[0])
    )
    new_forms = _text_words(new_phrase).forms
    lost = []
    for clause in prompt.split(",")[1:]:  # the first clause is the subject, not a tag
        words = split_words(clause)
        # a camera flash is the light too ("harsh flash")
        light_tag = lighting and words[-1:] in (["light"], ["lighting"], ["flash"])
        if not 1 < len(words) <= _MAX_TAG_WORDS or not (
            light_tag or ({head(words)} | _family(head(words))) & related
        ):
            continue
        modifiers = [
            lemma
            for lemma, pos, word in _content(" ".join(words[:-1]))
            if (pos in ("a", "n") or light_tag)  # "soft diffused light": diffused too
            and lemma not in new_forms
            and word not in new_forms
        ]
        elsewhere = split_words(prompt.replace(clause, ",", 1))
        if any(word in elsewhere for word in words[:-1] if lemmatize(word, "a") in modifiers):
            # "soft" of "soft natural light" beside "a soft boiled egg": the tag as a whole
            modifiers = [" ".join(words)] if modifiers else []
        lost += modifiers
        if light_tag and (words[-1] == "flash" or not new_forms & {"light", "lighting"}):
            lost.append(head(words))
    return lost


@lru_cache(maxsize=1024)
def read_instruction(prompt: str, instruction: str) -> EditReading:
    """Return what `instruction` asks of the rewrite of `prompt`: gain, lose, kind, slots, vague.

    Refuses nothing: an empty or vague instruction reads as gaining and losing nothing
    (`vague` says which); the caller validates instructions (core.validation).
    """
    parts = split_compound(instruction)
    if len(parts) == 1:
        return _read_part(prompt, parts[0])
    readings = tuple(_read_part(prompt, part) for part in parts)
    gain = tuple(dict.fromkeys(lemma for reading in readings for lemma in reading.gain))
    lose = tuple(
        dict.fromkeys(lemma for reading in readings for lemma in reading.lose if lemma not in gain)
    )
    return EditReading(
        instruction=instruction,
        kind="compound",
        gain=gain,
        lose=lose,
        slots=tuple(dict.fromkeys(slot for reading in readings for slot in reading.slots)),
        pronoun=any(reading.pronoun for reading in readings),
        vague=is_vague(instruction),
        parts=readings,
    )


# ---------------------------------------------------------------------------------------------
# Checking a candidate rewrite


@dataclass(frozen=True)
class EditCheck:
    """How well a candidate rewrite carries out an instruction.

    `missing`: gain lemmas the candidate lacks; `leftover`: lose lemmas it still holds;
    `unchanged`: it equals the prompt (ignoring case, spaces and commas); `kept`: the share
    of the prompt's other keywords that survive, `lost`: those that did not; `added`: for a
    removal, the nouns it brings that neither the prompt nor the instruction holds ("a book on
    the counter" for "remove the cat"), and for a new season, time of day or weather, the
    values of that slot it brings that contradict the new one ("at night" for "evening");
    `ok`: nothing missing, nothing left over, nothing added, not unchanged; `complete`: ok and
    nothing lost; `score` in [0, 1] (see `check_edit`).
    """

    reading: EditReading
    missing: tuple[str, ...]
    leftover: tuple[str, ...]
    unchanged: bool
    kept: float
    ok: bool
    score: float
    lost: tuple[str, ...] = ()
    added: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when the edit is done and every other keyword of the prompt is still there: in
        a chat, a word lost now is an earlier turn's edit lost for good."""
        return self.ok and not self.lost


def _same_text(first: str, second: str) -> bool:
    def key(text: str) -> str:
        return " ".join(re.sub(r"[,;.]", " ", text.lower()).split())

    return key(first) == key(second)


def check_edit(prompt: str, instruction: str, candidate: str) -> EditCheck:
    """Return the EditCheck of `candidate` as a rewrite of `prompt` by `instruction`.

    score = 0 for an unchanged candidate; otherwise (2 * edit + kept) / 3, where edit is the
    mean of the share of gain lemmas present and the share of lose lemmas gone (each part only
    when that list is non-empty; 1.0 when both are empty). Doing the edit counts twice as much
    as keeping the rest, so a faithful copy never outranks an edit that drops one word.
    """
    reading = read_instruction(prompt, instruction)
    words = _text_words(candidate)
    missing = tuple(lemma for lemma in reading.gain if not _contains(words, lemma, None))
    # What goes is what the prompt held, in the part of speech it held it: "in spring" is a
    # season, and a crow "jumping" in the candidate is not a spring left over.
    # A slot value is looked for in its slot's senses only: "a fountain" holds no spring.
    prompt_pos = dict(reversed(_text_words(prompt).tagged_order))
    slot_senses = {}
    for word, value, pos, _ in _prompt_slot_words(prompt):
        prompt_pos[word] = pos
        slot_senses[word] = value.senses
    # A lost word derived from a gained one ("starry" for "more stars") is left over only as
    # itself: the stars that take its place are its family.
    leftover = tuple(
        lemma
        for lemma in reading.lose
        if (
            f" {lemma} " in words.word_text
            if any(lemma in _family(gained) for gained in reading.gain)
            else _contains(words, lemma, prompt_pos.get(lemma), slot_senses.get(lemma))
        )
    )
    unchanged = _same_text(prompt, candidate)
    lose = set(reading.lose)
    others = [
        (lemma, pos)
        for lemma, pos in _prompt_keywords(prompt)
        if lemma not in lose
        and not any(is_present(old, lemma) or lemma in old.split() for old in lose)
    ]
    gone = [lemma for lemma, pos in others if not _keeps(words, lemma, pos)]
    kept = 1 - len(gone) / len(others) if others else 1.0
    replaced = _replaced_in_place(prompt, candidate, reading) if gone else frozenset()
    lost = tuple(lemma for lemma in gone if lemma not in replaced)
    added: tuple[str, ...] = ()
    if all(part.kind in ("remove", "negation") for part in reading.parts or (reading,)):
        held = _text_words(f"{prompt} {instruction}")
        added = tuple(
            dict.fromkeys(
                lemma
                for lemma, pos in words.tagged_order
                if pos == "n" and not _keeps(held, lemma, "n")
            )
        )
    added += _new_scene_values(prompt, instruction, candidate, reading)
    shares = []
    if reading.gain:
        shares.append(1 - len(missing) / len(reading.gain))
    if reading.lose:
        shares.append(1 - len(leftover) / len(reading.lose))
    edit = sum(shares) / len(shares) if shares else 1.0
    score = 0.0 if unchanged else (2 * edit + kept) / 3
    return EditCheck(
        reading=reading,
        missing=missing,
        leftover=leftover,
        unchanged=unchanged,
        kept=kept,
        ok=not missing and not leftover and not unchanged and not added,
        score=score,
        lost=lost,
        added=added,
    )


def _new_scene_values(
    prompt: str, instruction: str, candidate: str, reading: EditReading
) -> tuple[str, ...]:
    """The season, time of day or weather values of `candidate` that neither the prompt nor
    the instruction holds and that contradict the value the instruction sets: "evening,
    please" answered with "at night, in the evening" brought a night nobody asked for."""
    slots = {slot for part in reading.parts or (reading,) for slot in part.slots}
    slots &= WEATHER_LIKE_SLOTS
    if not slots:
        return ()
    held = _text_words(f"{prompt} {instruction}")
    asked = [value for _, value, _, _ in _prompt_slot_words(instruction) if value.slot in slots]
    return tuple(
        word
        for word, value, pos, _ in _prompt_slot_words(candidate)
        if value.slot in slots
        and not _contains(held, word, pos)
        and not any(_compatible(value, new) or _compatible(new, value) for new in asked)
    )


def _keeps(words: _TextWords, lemma: str, pos: str | None) -> bool:
    """Whether `words` still hold the prompt's `lemma` in its part of speech: "a lone
    hitchhiking" has lost the hitchhiker, "a foggy path" still has its fog only as the
    same kind of word."""
    if " " in lemma or pos not in ("n", "v", "a"):
        return _contains(words, lemma, pos)
    family = _family(lemma)
    if any((form, tag) in words.tagged for form in family for tag in (pos,)):
        return True
    if lemma in words.forms and not any(word == lemma for word, _ in words.tagged):
        return True  # a form the tagger reads otherwise ("35mm")
    return any((synonym, pos) in words.tagged for synonym in synonyms(lemma, pos) - {lemma}) or (
        pos == "a" and _contains(words, lemma, pos)
    )


def _replaced_in_place(prompt: str, candidate: str, reading: EditReading) -> frozenset[str]:
    """Return the prompt lemmas that `candidate` gave up for the edit itself.

    Aligning the two lemma sequences, a changed span explains its old words when it held a
    word a "remove" instruction removes (the removed thing's clause goes with it), or when its new
    words bring something the instruction names, nothing else new, and about as many words
    as went: "tulips" -> "sunflowers" for "make the tulips sunflowers", but not "an
    enormous" -> "a huge pink" for "make the jellyfish pink" ("huge" came from nowhere), nor
    "rougher sea, oil painting" -> "fisheye lens". An added thing replaces nothing, and an
    old season, time of day, weather or medium gives way only to a new one of the same slot
    ("a windy hill" stays windy at sunset), and the thing whose attribute an edit sets stays
    ("make the velvet dark green").
    """
    readings = reading.parts or (reading,)
    before = _text_words(prompt).tagged_order
    held = {lemma for lemma, _ in before}
    # An added thing replaces nothing, and neither does a new attribute of a thing the prompt
    # holds ("make the sword red hot" keeps the female blacksmith), except the thing's old
    # value of it (a span holding a lose word, below).
    replaces = any(
        part.kind != "add"
        and not (part.kind in ("set", "relative") and part.objects and set(part.objects) <= held)
        for part in readings
    )
    removes = any(part.kind in ("remove", "negation") for part in readings)
    # The thing whose attribute changes stays: "make the velvet dark green" keeps the velvet.
    objects = {lemma for part in (reading, *readings) for lemma in part.objects}
    slots_set = {slot for part in (reading, *readings) for slot in part.slots}
    after = _text_words(candidate).tagged_order
    # What an added thing brings takes no one's place: "make it winter and add a snowman"
    # must not write the snowman over "a rope ladder" (an earlier turn's edit).
    replacing = [part for part in readings if part.kind != "add"] or list(readings)
    asked = {word for part in replacing for lemma in part.gain for word in lemma.split()}
    named = {lemma for part in replacing for lemma, _ in _text_words(part.instruction).tagged_order}
    asked |= named
    removed = {word for lemma in reading.lose for word in lemma.split()}

    def brings(lemma: str) -> bool:
        return lemma in asked or any(
            lemma in _family(word) or word in _family(lemma) for word in asked
        )

    # A new season, time of day, weather or medium takes the place of its old value only:
    # "at sunset" written over "calm sea" loses the sea (an earlier turn's edit).
    scene_only = all(
        part.kind == "set"
        and part.slots
        and set(part.slots) <= set(SCENE_SLOTS)
        and not part.objects
        for part in replacing
    )
    # A new place takes the place of the old place's words only ("on a kitchen floor"), not of
    # "long braids"; an instruction the reader cannot place ("slow motion blur") takes the
    # place of words inside a clause ("ramen" -> "sushi"), not of a whole clause of their own
    # ("matching pajamas": in a chat, an earlier turn's edit).
    moves_only = all("location" in part.slots and not part.objects for part in replacing)
    unread = all(part.kind == "other" and not part.slots for part in replacing)
    clause_of = _clause_indices(prompt, before) if unread else None
    place_words = (
        {
            lemma
            for phrase in _place_phrases(prompt)
            for lemma, _ in _text_words(phrase).tagged_order
        }
        if moves_only
        else set()
    )

    def gives_way(lemma: str, pos: str | None) -> bool:
        if scene_only and lemma in SCENE_NOUNS:  # "sunny day" -> "snowing"
            return True
        value = slot_of(lemma, pos)
        if value is None:
            if moves_only:
                return lemma in place_words
            return not scene_only
        # an old colour gives way to a new one only: "curly red hair" made straight stays red
        return (value.slot == "colour" and colour_asked) or value.slot in slots_set

    # (an edit whose every new word is an attribute other than colour: "straight" hair)
    gained = [word for part in replacing for lemma in part.gain for word in lemma.split()]
    colour_asked = not gained or not all(
        _adjective_attributes(word) and not _is_colour_word(word) for word in gained
    )
    explained: set[str] = set()
    matcher = SequenceMatcher(
        a=[lemma for lemma, _ in before], b=[lemma for lemma, _ in after], autojunk=False
    )
    for tag, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if tag == "equal":
            continue
        old = before[old_start:old_end]
        if removes and removed.intersection(lemma for lemma, _ in old):
            explained.update(lemma for lemma, _ in old)
            continue
        new_words = [
            lemma
            for lemma, pos in after[new_start:new_end]
            if pos in ("n", "v", "a") and lemma not in held
        ]
        old_content = [(lemma, pos) for lemma, pos in old if pos in ("n", "v", "a")]
        # "give the woman short curly hair": an added attribute of a thing the instruction
        # names replaces its old one ("long brown hair").
        names_next = (
            old_end < len(before) and before[old_end][1] == "n" and before[old_end][0] in named
        )
        whole_clauses = clause_of is not None and _covers_clauses(clause_of, old_start, old_end)
        if (
            (replaces or names_next or removed.intersection(lemma for lemma, _ in old))
            and new_words
            and all(map(brings, new_words))
            and len(old_content) <= len(new_words) + 1
        ):
            explained.update(
                lemma
                for lemma, pos in old_content
                if gives_way(lemma, pos) and not (whole_clauses and slot_of(lemma, pos) is None)
            )
    return frozenset(explained - objects)


def _clause_indices(prompt: str, tagged: Sequence[tuple[str, str | None]]) -> list[int] | None:
    """The comma clause of `prompt` each of its `tagged` words stands in; None where the
    clauses' words do not line up with the prompt's."""
    indices: list[int] = []
    for index, clause in enumerate(prompt.split(",")):
        indices += [index] * len(_text_words(clause).tagged_order)
    return indices if len(indices) == len(tagged) else None


def _covers_clauses(clause_of: list[int], start: int, end: int) -> bool:
    """Whether the words start..end are whole comma clauses (every word of each clause)."""
    if start >= end:
        return False
    first, last = clause_of[start], clause_of[end - 1]
    return (start == 0 or clause_of[start - 1] != first) and (
        end == len(clause_of) or clause_of[end] != last
    )


def _prompt_keywords(prompt: str) -> list[tuple[str, str]]:
    from core.nlp import tagged_keywords

    return tagged_keywords(prompt)


# ---------------------------------------------------------------------------------------------
# Vague instructions (moved from diffchat_ui/clarify.py so the CLI and the UI share it)

# Words that carry no concrete edit on their own. An instruction made only of these is vague.
_FILLER = frozenset(
    """a an the it its it's this that these those me us you i we my our your one ones some
    please can could would will should just maybe perhaps bit little kind sort of so very
    really much more less lot again now then also too here there thing things stuff
    something anything everything whatever else other another different new way look
    image picture pic scene version try let let's lets do make change edit modify
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


def _filler_words(text: str) -> list[str]:
    return re.findall(r"[a-z][a-z']*", text.lower())


def clarify(instruction: str) -> Clarification | None:
    """Return a Clarification when `instruction` is too vague to act on, else None.

    Vague means either every word is filler ("change it", "make it better", "something
    else"), or a change verb names an object but no destination ("change the sky"). An
    instruction with any concrete word ("make it snow", "make the car blue") returns None.
    """
    text = " ".join(instruction.lower().split()).strip(" .!?")
    words = _filler_words(text)
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
        if target and not all(word in _FILLER for word in _filler_words(target)):
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


def is_vague(instruction: str) -> bool:
    """Return True when `instruction` is too vague to act on (see `clarify`)."""
    return clarify(instruction) is not None


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
    words = _filler_words(normalized)
    if words and words[0] in _LEADING_VERBS:
        return reply
    if pending.target:
        return f"{pending.instruction.strip(' .!?')} to {reply}"
    return f"make it {reply}"


# ---------------------------------------------------------------------------------------------
# Slot conflicts (the data validator's "old and new value of one slot" rule)


def slot_conflicts(prompt: str, target: str) -> list[str]:
    """Return "old / new (slot)" for each slot value of `prompt` that `target` keeps beside a
    new, contradicting value of the same slot: "spring / winter (season)", a photo tag beside
    a new painting medium, or two colours on one object ("red / blue (colour)").

    Scene slots (season, time of day, weather, medium) are compared across the whole prompt;
    colours only when they stand together before one noun, since a prompt may hold a red car
    and a blue sky.
    """
    old_words = _prompt_slot_words(prompt)
    old_names = {word for word, _, _, _ in old_words}
    new_words = [(w, v) for w, v, _, _ in _prompt_slot_words(target) if w not in old_names]
    target_words = _text_words(target)
    conflicts = []
    for old_word, old_value, pos, states_slot in old_words:
        kept = _contains(target_words, old_word, pos, old_value.senses)
        if old_value.slot not in SCENE_SLOTS or not kept:
            continue
        for new_word, new_value in new_words:
            if (
                new_value.slot == old_value.slot
                and not is_present(old_word, new_word, pos)  # sunrise is a morning
                and not _compatible(old_value, new_value, layered=not states_slot)
            ):
                conflicts.append(f"{old_word} / {new_word} ({old_value.slot})")
    prompt_words = set(split_words(prompt))
    run: list[str] = []
    tags = [pos for _, pos in tagged_lemmas(target)] if split_words(target) else []
    for index, word in enumerate([*split_words(target), ""]):
        # A colour word describes a noun after it: in "a red rose" the rose is the noun.
        modifier = word and (tags[index] == "a" or tags[index + 1 : index + 2] in (["n"], ["a"]))
        value = slot_of(word, "a") if modifier else None
        if value is not None and value.slot == "colour":
            run.append(word)
            continue
        kept = [w for w in run if w in prompt_words]
        added = [w for w in run if w not in prompt_words]
        if kept and added:
            conflicts.append(f"{kept[0]} / {added[0]} (colour)")
        run = []
    return conflicts
