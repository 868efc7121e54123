"""Literal edits: the instruction reader's own rewrite of a prompt.

`literal_edit(prompt, instruction)` carries out what core.instructions.read_instruction read,
word for word, on the prompt's own text:

- replace / instead ("swap the bike for a horse"): the old words give way to the new ones
  where they stand ("a kid riding a horse down ...");
- a new slot value ("make it winter", "make the door blue", "make it a watercolor"): the new
  value takes the place of the old one and the old slot's other words go ("35mm photo,
  bokeh" -> "watercolor"); with no old value the new one is added;
- the reader's `drop` words (the old medium's tags, "snow on the roofs" in spring) go with
  their clause, or alone where they modify the next word ("a flower meadow" -> "a meadow");
- remove / negation ("remove the crane", "without the hat"): the comma clause that holds the
  thing goes, or, inside the first clause, the words from the link before it ("with", "and",
  "wearing") to the thing;
- add and everything else the reader gains words for: the instruction's phrase, without
  its editing verb, after the prompt's first clause (media at the end, where style tags go).

It knows only what the reader knows, so it is no language model: its prompts are plain and
it fails where the reading is wrong. Verified decoding (core.rewrite) offers it as one more
candidate when the model's greedy rewrite fails the reader's check, and check_edit decides.
Returns None when the reading gives it nothing to do (a vague or relative instruction with
nothing to gain, a thing to remove that the prompt does not hold as a separable phrase).
"""

from __future__ import annotations

import re

from core.instructions import (
    _ARTICLES_OR_OWNER,
    _ARTICLES_OR_SOME,
    _EDIT_VERBS,
    _FILTER_WORDS,
    _PREPOSITIONS,
    _PRONOUNS,
    _QUANTITIES,
    MADE_OF_AFTER,
    SCENE_NOUNS,
    WEATHER_LIKE_SLOTS,
    EditReading,
    _family,
    _in_wordnet,
    _is_people,
    _person_nouns,
    _same_text,
    gerund,
    is_living_thing,
    is_material,
    is_present,
    medium_kind,
    medium_name_words,
    read_instruction,
)
from core.nlp import lemmatize, synonyms, tagged_lemmas, word_spans

# Words that may stand between an edit verb and its content: "make it a", "turn them into".
_LEAD_WORDS = frozenset({"to", "into", "be", "look", "like", "out", "of", "with"})
# Words that link a thing to the rest of its clause ("a street with a man on a scooter").
_LINK_WORDS = frozenset({"with", "and", "beside", "near", "by", "plus", "holding", "wearing"})
_FUNCTION_WORDS = (
    _ARTICLES_OR_SOME
    | _LINK_WORDS
    | frozenset(
        {"of", "in", "on", "at", "under", "over", "from", "for", "its", "his", "her", "their"}
    )
)
# Words that say how many of a thing there are ("a group of", "a single", "several").
_QUANTITY_WORDS = _QUANTITIES | frozenset(
    """a an single some lot of group pair couple bunch flock herd crowd handful just only
    two three four five six seven eight nine ten eleven twelve lone solitary""".split()
)
_TRAILING = re.compile(r"\s*\b(?:instead|too|as well|please|pls|thanks)\s*$")


def literal_edit(prompt: str, instruction: str) -> str | None:
    """Return the prompt with the instruction's reading carried out literally, or None when
    there is nothing the reading can do (see the module docstring)."""
    reading = read_instruction(prompt, instruction)
    if reading.vague:
        return None
    text = prompt
    for part in reading.parts or (reading,):
        edited = _apply(text, part)
        if edited is None:
            return None
        text = edited
    text = _tidy(text)
    return None if not text or _same_text(text, prompt) else text


def _apply(text: str, reading: EditReading) -> str | None:
    if reading.kind in ("remove", "negation"):
        if not reading.lose:
            return None
        for index, lemma in enumerate(reading.lose):
            if index and not _find(text, lemma):
                continue  # a modifier that went with its thing: "thick" of "thick fog"
            if not index and not _find(text, lemma) and len(reading.lose) > 1:
                continue  # "remove the people" on "a busy street": only "busy" says them
            removed = _remove_thing(text, lemma, reading.old_phrase)
            spans = _find(text, lemma) if removed is None and index else []
            if spans and " " not in lemma:  # "a busy station": "busy" goes alone
                removed = _drop_words(text, *spans[0], lemma)
            if removed is None:
                return None
            text = removed
        return text
    if "location" in reading.slots:
        return _move(text, reading)
    # "in the center" -> "on the left side"; "desert dunes in the background" -> "snowy
    # mountains in the background"
    if {"position", "background", "palette"} & set(reading.slots):
        if reading.old_phrase not in text:
            return None
        return text.replace(reading.old_phrase, reading.new_phrase, 1)
    new = _content_phrase(reading.new_phrase)
    if not new or not reading.gain:
        return None
    old_words = set(_words(reading.old_phrase)) - _ARTICLES_OR_SOME
    replaced = [lemma for lemma in reading.lose if lemma not in reading.drop]
    spans = _clustered_spans(text, replaced)
    consumed: set[str] = set()  # the old words the new value takes the place of
    placed_after_noun = False  # "a man with long hair": the new feature already stands
    if not spans and (placed := _before_object(text, new, reading)) is not None:
        text, start = placed
    elif not spans and (given := _given_to_receiver(text, reading)) is not None:
        text, start, new = given
    elif not spans:
        new = _with_its_thing(text, new, reading)
        text = _insert(text, new, "medium" in reading.slots)
        start = text.rindex(new) if "medium" in reading.slots else text.index(new)
    else:
        if (
            reading.kind == "relative"
            and not reading.objects
            and _words(new)[-1] != reading.gain[0]
            and lemmatize(_words(new)[-1], "n") not in reading.gain  # "bigger flames"
        ):
            new = reading.gain[0]  # "a bit darker": "a dim tavern" -> "a dark tavern"
        start, end = spans[0]
        # The widest old words there go: "35mm lens" (not "35mm") -> "a telephoto lens".
        end = max(finish for begin, finish in spans if begin < end)
        # and the old words right after them: "cool window"; an old scene value said twice
        # goes whole: "golden hour at sunset" -> "night", not "night at".
        scene = bool(set(reading.slots) & WEATHER_LIKE_SLOTS)
        for begin, finish in spans:
            gap = text[end:begin]
            if begin >= end and (not gap.strip() or (scene and _SCENE_LINK.fullmatch(gap))):
                end = finish
        # A scene value that cannot stand before a noun takes the noun's place too: "sunny
        # day" -> "snowing", "midday sun" -> "at dawn".
        if set(reading.slots) & WEATHER_LIKE_SLOTS:
            end = _scene_noun_end(text, start, end, new, reading.slots)
            # before the noun it describes, a weather noun says itself as an adjective:
            # "a sunny afternoon" -> "a snowy afternoon", not "a snow afternoon"
            if _before_a_noun(text, start, end) and not _is_bare_adjective(new):
                new = _weather_adjective(new) or new
        # So do the words after them that the new phrase repeats: "a giant koi hologram" ->
        # "a giant jellyfish hologram" for "jellyfish hologram instead of the koi".
        end = _extend_right(text, end, set(_words(new)) - _ARTICLES_OR_SOME)
        # A word the new phrase says in another form goes too: "cool window light" -> "lit
        # by a desk lamp".
        if "count" not in reading.slots:
            after = _words(text[end:])[:1]
            end = _extend_right(text, end, {w for w in after if is_present(lemmatize(w, "n"), new)})
        if "count" in reading.slots and (recounted := _recount(text, start, end, new, reading)):
            text, start = recounted  # "a single hot air balloon" -> "lots of hot air balloons"
            end = start  # nothing left to put
        elif "count" in reading.slots:  # "two astronauts" -> "one astronaut"
            end = _extend_right(text, end, _forms_in(text[end:], reading.objects))
        # A dropped tag that holds the old value goes with it: "anime style" -> "oil painting".
        for lemma in reading.drop:
            for drop_start, drop_end in _find(text, lemma):
                if drop_start <= start < drop_end:
                    start, end = drop_start, max(end, drop_end)
        # The old phrase's modifiers go with its head: "a coffee mug" -> "a bouquet of
        # daisies"; so do the adjectives of an old scene value ("heavy rain" -> "clear and
        # sunny") and the material of an old medium ("an ink drawing" -> "a 35mm photo").
        start = _extend_left(text, start, old_words)
        if reading.kind in ("replace", "instead"):  # "a coffee mug": the mug's kind goes too
            # and the words the new phrase says again: "a little boy" -> "a little girl"
            start = _extend_left(text, start, set(_words(new)) - _ARTICLES_OR_SOME)
            start = _extend_left(text, start, _nouns(text[:start]))
            # A new place phrase takes the old one's preposition and words: "on a wooden
            # desk" -> "on a windowsill".
            if _words(new)[:1] and _words(new)[0] in _PREPOSITIONS:
                start = _place_phrase_start(text, start)
        if set(reading.slots) & WEATHER_LIKE_SLOTS:
            start = _extend_left(text, start, _adjectives(text[:start]))
        if "medium" in reading.slots:
            start = _extend_left(text, start, medium_name_words())
            # A photo's genre goes with it: "food photography" -> "anime illustration".
            if medium_kind(text[start:end]) == "photo":
                start = _bare_clause_start(text, start)
        # "a robot barista smiling" for "make the robot look sad": a doing word's place
        # takes a doing word.
        if re.fullmatch(r"[a-z]+ing", text[start:end]) and _is_bare_adjective(new):
            new = f"looking {new}"
        # An old adjective before its noun takes the new one alone: "a cosy cabin" -> "a
        # spooky cabin" for "give it a spooky vibe", not "a with a spooky vibe cabin".
        # A thing's new feature follows it: "a bald man" -> "a man with long hair".
        elif _before_a_noun(text, start, end) and not _is_bare_adjective(new):
            if len(reading.gain) == 1 and _is_bare_adjective(reading.gain[0]):
                # "a more lively village" keeps its degree; "spooky vibe" loses its noun
                if set(_words(new)) - {reading.gain[0], "more", "less", "very", "even"}:
                    new = reading.gain[0]
            elif reading.kind in ("add", "relative") and (
                noun_end := _described_noun_end(text, end)
            ):
                new = new if _words(new)[0] == "with" else f"with {_bare(new)}"
                text = text[:noun_end] + f" {new}" + text[noun_end:]
                text, end = _delete(text, start, end), start
                placed_after_noun = True
        elif text[start:end].startswith("full of ") and _words(new)[0] not in _PREPOSITIONS:
            new = f"with {new}" if _is_bare_adjective(new) else f"with a {_bare(new)}"
        consumed = {
            lemma
            for lemma in replaced
            if any(start <= begin and finish <= end for begin, finish in _find(text, lemma))
        }
        if not placed_after_noun and (end > start or "count" not in reading.slots):
            text = _put(text, start, end, new)
    value = _bare(new)
    # The other old words go: the old medium's tags ("35mm photo, bokeh"), with their clause
    # where the reader drops them ("snow on the roofs" in spring).
    for lemma in sorted(reading.lose, key=lambda lemma: lemma not in reading.drop):
        # "soft" of "soft natural light" gave way: the "soft boiled egg" keeps its own
        while lemma not in consumed or lemma in reading.drop:
            start = _nearest(text, value, start)
            spans = [
                (begin, finish)
                # a derived word is another thing once the old one has given way: "a
                # violinist playing a cello"
                for begin, finish in _find(text, lemma, exact_only=lemma not in reading.drop)
                if not (begin >= start and finish <= start + len(value))  # the new value itself
            ]
            if not spans:
                break
            begin, finish = spans[0]
            if lemma in reading.drop:
                text = _drop_words(text, begin, finish, lemma)
            else:
                text = _delete(text, begin, finish)
    return text


_SCENE_LINK = re.compile(r"\s+(?:at|in|during)\s+(?:the\s+)?")


def _weather_adjective(word: str) -> str | None:
    """The "-y" adjective WordNet derives from the one weather noun `word` (snow -> snowy,
    fog -> foggy), or None."""
    word = word.strip()
    if " " in word:
        return None
    forms = [
        form
        for form in _family(word)
        if form.endswith("y") and form != word and _in_wordnet(form, "a")
    ]
    return min(forms, key=len) if forms else None


_PARTS_OF_DAY = frozenset({"morning", "afternoon", "evening"})


def _scene_noun_end(text: str, start: int, end: int, new: str, slots=()) -> int:
    """Where the old scene value at text[start:end] ends: after the noun it describes when
    the two are a clause of their own ("sunny day") and `new` is not one adjective that can
    describe it ("at dawn", "snowing", "golden hour"); else `end`. A new season keeps the
    time of day: "summer afternoon" -> "winter afternoon"."""
    clause_start = text.rfind(",", 0, start) + 1
    clause_end = text.find(",", end)
    clause_end = len(text) if clause_end < 0 else clause_end
    after = text[end:clause_end].split()
    if (
        text[clause_start:start].strip()
        or len(after) != 1
        or lemmatize(after[0], "n") not in SCENE_NOUNS
        or ("season" in slots and lemmatize(after[0], "n") in _PARTS_OF_DAY)
    ):
        return end
    words = _words(new)
    if not words or (len(words) == 1 and _is_adjective_at(f"{words[0]} {after[0]}", 0)):
        return end  # "foggy day"
    return end + text[end:clause_end].index(after[0]) + len(after[0])


def _with_its_thing(text: str, new: str, reading: EditReading) -> str:
    """A new attribute of a thing the text does not name comes with the thing, as the
    instruction said it: "make the sails black" -> "with black sails"; else `new`."""
    if (
        reading.kind not in ("set", "relative")
        or not reading.objects
        or set(reading.slots) & (WEATHER_LIKE_SLOTS | {"medium"})
        or any(_find(text, lemma) for lemma in reading.objects)
        or _words(new)[:1] == ["with"]
    ):
        return new
    said = [w for w in _words(reading.instruction) if lemmatize(w, "n") in reading.objects]
    return f"with {_bare(new)} {said[-1]}" if said else new


_PLACE_START = re.compile(
    r"\b(?:on|in|at|under|by|near|beside|inside|across|over)\s+"
    r"(?:(?:a|an|the|his|her|their|some)\s+)?(?P<words>(?:[\w-]+\s+){0,2})$"
)


def _place_phrase_start(text: str, start: int) -> int:
    """Where the place phrase whose noun stands at `start` begins ("on a wooden desk"), when
    only adjectives and nouns stand between its preposition and the noun; else `start`."""
    match = _PLACE_START.search(text[:start])
    if not match:
        return start
    between = _words(match["words"])
    if between and not set(between) <= _adjectives(text[:start]) | _nouns(text[:start]):
        return start
    return match.start()


def _before_object(text: str, new: str, reading: EditReading) -> tuple[str, int] | None:
    """Put a new attribute in front of the thing it describes ("make the frog bright blue":
    "a tiny frog" -> "a tiny bright blue frog", "make the potion bottles green": "green potion
    bottles"); return (text, where it went), or None when the reading names no such thing in
    the text."""
    if (
        reading.kind not in ("set", "relative")
        or not reading.objects
        or set(reading.slots) & (WEATHER_LIKE_SLOTS | {"medium"})  # a value of the scene
    ):
        return None
    value = _bare(new)
    if not value or _words(value)[0] in _LINK_WORDS:  # "with a hat" is a thing, not a word
        return None
    spans = sorted(span for lemma in reading.objects for span in _find(text, lemma))
    if not spans:
        return None
    head = spans[0][0]
    if "count" in reading.slots:  # "a group of penguins" -> "two penguins"
        numerals = {word for word in _words(text[:head]) if word.isdigit()}
        thing = text[head : spans[0][1]]
        names_thing = lemmatize(_words(value)[-1], "n") in reading.objects  # "two penguins"
        # The thing's modifiers stay after the new count: "a red kite" -> "three red kites".
        described = _extend_left(text, head, _adjectives(text[:head]) | _nouns(text[:head]))
        # "red and white": two adjectives joined by "and" describe it together
        if joined := re.search(r"\b(\w+) and $", text[:described]):
            if joined[1] in _adjectives(text[:described]):
                described = joined.start()
        start = _extend_left(text, described, _QUANTITY_WORDS | numerals)
        between = text[described:head].strip()
        between = " ".join(w for w in between.split() if w not in _QUANTITY_WORDS | numerals)
        if names_thing:
            counted = " ".join(part for part in (" ".join(_words(value)[:-1]), between) if part)
            counted = f"{counted} {_words(value)[-1]}"
        else:
            counted = f"{value} {between} {thing}" if between else f"{value} {thing}"
        edited = text[:start] + counted + text[spans[0][1] :]
        return edited, start
    # A new material takes the old one's place, after the thing ("a beetle made of brass" ->
    # "a beetle made of jade") or before it ("a marble statue" -> "a bronze statue").
    made_of = MADE_OF_AFTER.match(text, spans[0][1])
    if made_of and is_material(value.split()[-1]) and is_material(made_of["old"]):
        at = made_of.start("old")
        return text[:at] + value + text[made_of.end("old") :], at
    start = _compound_start(text, _extend_left(text, head, _nouns(text[:head])), spans[0][1])
    materials = {
        word
        for _, _, word in word_spans(text[:head])
        if word not in _FUNCTION_WORDS and is_material(word)
    }
    old_material = _extend_left(text, head, materials)
    end = start
    if is_material(value.split()[-1]) and old_material < head:
        start, end = old_material, head
    edited = _put(text, start, end, value)
    after = len(edited) - len(text) + end  # where the words after the new value begin
    edited = edited[:after].rstrip() + " " + edited[after:].lstrip()
    return edited, edited.index(value, max(0, start - 3))


def _compound_start(text: str, start: int, end: int) -> int:
    """Where the thing text[start:end] begins when the word before it belongs to its name in
    WordNet ("hot" of "hot air balloon": hot-air balloon); else `start`."""
    before = word_spans(text[:start])
    if not before or text[before[-1][1] : start].strip():
        return start
    words = [before[-1][2], *_words(text[start:end])]
    joined = [" ".join(words), f"{words[0]}-{' '.join(words[1:])}"]
    return before[-1][0] if any(_in_wordnet(term, "n") for term in joined) else start


# Count nouns that take their article: "a dozen", "a couple of", "a handful of".
_COUNT_NOUN_ARTICLE = re.compile(r"^an?\s+(?:dozen|couple|few|handful|pair|bunch|lot)\b")


def _recount(text: str, start: int, end: int, new: str, reading: EditReading):
    """A new count that names its thing ("lots of balloons", "several wolves") takes the place
    of the old count words at text[start:end] and of the thing's head noun after them, and
    the thing's other modifiers stay between: "a single hot air balloon" -> "lots of hot air
    balloons". Return (text, where the count went), or None when the count names no thing or
    the thing is not in the old count's clause."""
    words = _bare(new).split()
    if len(words) < 2 or lemmatize(words[-1], "n") not in reading.objects:
        return None
    if _COUNT_NOUN_ARTICLE.match(new.strip()):
        words = [new.split()[0], *words]  # "a dozen balloons", not "dozen balloons"
    clause_end = text.find(",", end)
    clause_end = len(text) if clause_end < 0 else clause_end
    heads = [
        (begin, finish)
        for lemma in reading.objects
        for begin, finish in _find(text[:clause_end], lemma)
        if begin >= end
    ]
    if not heads:
        return None
    head_start, head_end = min(heads)
    start = _extend_left(text, start, _QUANTITY_WORDS)
    between = text[end:head_start].strip()
    counted = " ".join(part for part in (" ".join(words[:-1]), between, words[-1]) if part)
    return text[:start] + counted + text[head_end:], start


# Places one is on, not in ("on the beach", "on the moon"), for "move it to ...".
_ON_PLACES = frozenset(
    """beach moon rooftop roof street island mountain hill shore coast bridge platform stage
    deck boat ship mars planet lawn road""".split()
)


def _move(text: str, reading: EditReading) -> str | None:
    """The scene moved: the new place phrase takes the old one's place ("in a park" -> "in a
    cafe in vienna"), or follows the first clause where the prompt names no place."""
    words = reading.new_phrase.split()
    if words[0] in ("to", "into"):  # "move it to the beach": in or on, as the place takes
        head = lemmatize(words[-1], "n")
        words = ["on" if head in _ON_PLACES else "in", *words[1:]]
    new = " ".join(words)
    for tag in reading.drop:  # "studio": a tag that named the old place alone
        if spans := _find(text, tag):
            text = _drop_words(text, *spans[0], tag)
    if reading.old_phrase and reading.old_phrase in text:
        return text.replace(reading.old_phrase, new, 1)
    clauses = _clauses(text)
    first_end = clauses[0][1]
    return f"{text[:first_end].rstrip()} {new}{text[first_end:]}"


def _nearest(text: str, value: str, near: int) -> int:
    """Where `value` stands in `text`: the occurrence nearest to `near` (deletions before
    it move it)."""
    places = [match.start() for match in re.finditer(re.escape(value), text)]
    return min(places, key=lambda place: abs(place - near)) if places else near


def _drop_words(text: str, start: int, end: int, lemma: str) -> str:
    """Drop a word bound to the old value: its clause, where it names a thing of its own
    ("snow on the roofs"), else the word alone ("a snowy cabin", "a flower meadow")."""
    if re.search(r"\bwith\s+(?:an?\s+|some\s+)?$", text[:start]) or _is_people(lemma):
        # "with curly hair"; "people chatting" go with what they do
        return _remove_thing(text, lemma, "") or _delete(text, start, end)
    after = text[end:].lstrip()
    modifies_next = bool(after) and after[0] not in ",." and after.split()[0] not in _PREPOSITIONS
    # A phrase ("clear blue sky") names a thing of its own even where it opens with an adjective.
    if modifies_next or (" " not in lemma and _is_adjective_at(text, start)):
        return _delete(text, start, end)
    return _remove_thing(text, lemma, "") or _delete(text, start, end)


_GIVEN_TO = re.compile(r"^(?:the|his|her|their)\s+[\w-]+\s+(?P<thing>(?!of\b|to\b)\S.*)$")


def _content_phrase(phrase: str) -> str:
    """Return the instruction phrase without its editing verb, pronoun and link words:
    "add a canoe" -> "a canoe", "make it a watercolor" -> "a watercolor", "make him laugh"
    -> "laughing", "give her a hat" -> "with a hat"; a lone word stays ("color" for "in color")."""
    words = phrase.strip(" ,.!?").split()
    leading_verb = ""
    while words and (words[0] in _EDIT_VERBS or words[0] in _PRONOUNS or words[0] in _LEAD_WORDS):
        if words[0] in _EDIT_VERBS and not leading_verb:
            leading_verb = words[0]
        words = words[1:]
    # "change the style to watercolor", "set the mood to gloomy": the slot's name goes too.
    if len(words) > 2 and words[0] in ("the", "its") and words[2] in ("to", "into"):
        if words[1] in _FILTER_WORDS:  # a slot's name
            words = words[3:]
    text = _TRAILING.sub("", " ".join(words)).strip(" ,")
    if not text:
        return phrase.strip() if len(phrase.split()) == 1 else ""
    # "give the woman short curly hair": what she gets, not her.
    if leading_verb == "give" and (given := _GIVEN_TO.match(text)):
        text = given["thing"]
    if leading_verb == "give" and text.split()[0] in _ARTICLES_OR_SOME:
        return f"with {text}"
    first, *rest = text.split()
    tagged = tagged_lemmas(first)
    if tagged and tagged[0][1] == "v" and first == tagged[0][0] and first not in _ARTICLES_OR_SOME:
        return " ".join([gerund(first), *rest])  # "make him laugh" -> "laughing"
    return text


def _is_bare_adjective(phrase: str) -> bool:
    """Whether `phrase` is one adjective alone ("sad"), not a participle ("smiling")."""
    tagged = tagged_lemmas(phrase)
    return len(tagged) == 1 and tagged[0][1] == "a" and not phrase.endswith(("ing", "ed"))


def _bare(phrase: str) -> str:
    words = phrase.split()
    while words and words[0] in _ARTICLES_OR_SOME:
        words = words[1:]
    return " ".join(words)


def _words(text: str) -> list[str]:
    return [word for _, _, word in word_spans(text)]


def _find(text: str, lemma: str, exact_only: bool = False) -> list[tuple[int, int]]:
    """Return the character spans of `text` whose words are `lemma` (a form, a derived word
    or a same-part-of-speech synonym; a multiword lemma word for word). Where the lemma
    stands as itself, only those spans: "a violin", not "a violinist", is the violin."""
    spans = word_spans(text)
    tagged = tagged_lemmas(text) if spans else ()
    parts = lemma.split()
    found = []
    exact = []
    for index in range(len(spans) - len(parts) + 1):
        window = range(index, index + len(parts))
        if len(parts) > 1:
            begin, finish = spans[index][0], spans[index + len(parts) - 1][1]
            if "," not in text[begin:finish] and all(  # "35mm, film grain" holds no "35mm film"
                spans[j][2] == part or tagged[j][0] == part
                for j, part in zip(window, parts, strict=True)
            ):
                found.append((begin, finish))
            continue
        word = spans[index][2]
        tag_lemma, pos = tagged[index]
        forms = {word, tag_lemma} | {lemmatize(word, p) for p in ("n", "v", "a")}
        if (
            lemma in forms
            or forms & _family(lemma)
            or (pos in ("n", "a") and tag_lemma in synonyms(lemma, pos))
        ):
            found.append((spans[index][0], spans[index][1]))
            if lemma in forms:
                exact.append(found[-1])
    return exact if exact or exact_only else found


def _extend_left(text: str, start: int, words: set[str]) -> int:
    """Move `start` left over the words just before it that are in `words`."""
    for begin, end, word in reversed(word_spans(text[:start])):
        if word not in words or text[end:start].strip():
            break
        start = begin
    return start


def _extend_right(text: str, end: int, words: set[str]) -> int:
    """Move `end` right over the words just after it that are in `words`."""
    for begin, finish, word in word_spans(text[end:]):
        if word not in words or text[end : end + begin].strip():
            break
        end += finish
    return end


def _forms_in(text: str, lemmas: tuple[str, ...]) -> set[str]:
    """The words of `text` that are forms of `lemmas` ("astronauts" of astronaut)."""
    return {word for word in _words(text) if lemmatize(word, "n") in lemmas or word in lemmas}


def _bare_clause_start(text: str, start: int) -> int:
    """Where the comma clause of `start` begins, when one to three words that are not
    function words stand before `start` in it ("food photography", "award winning wildlife
    photography"); else `start`."""
    clause_start = text.rfind(",", 0, start) + 1
    before = _words(text[clause_start:start])
    if 1 <= len(before) <= 3 and not set(before) & _FUNCTION_WORDS:
        return clause_start + len(text[clause_start:start]) - len(text[clause_start:start].lstrip())
    return start


def _adjectives(text: str) -> set[str]:
    return _words_tagged(text, "a")


def _nouns(text: str) -> set[str]:
    """The words of `text` tagged as nouns that cannot be adjectives ("coffee", not "giant")."""
    return {
        word
        for word in _words_tagged(text, "n") - _FUNCTION_WORDS
        if not _in_wordnet(word, "a") and not _in_wordnet(word, "s")
    }


def _words_tagged(text: str, wanted: str) -> set[str]:
    spans = word_spans(text)
    tagged = tagged_lemmas(text) if spans else ()
    return {word for (_, _, word), (_, pos) in zip(spans, tagged, strict=True) if pos == wanted}


def _put(text: str, start: int, end: int, new: str) -> str:
    """Replace text[start:end] with `new`, keeping one article ("a horse", not "a a horse")."""
    before = text[:start]
    if new.startswith("with ") and re.search(r"\bwith\s+$", before):
        new = new[len("with ") :]  # "a woman with long hair" -> "a woman with a ponytail"
    article = re.search(r"\b(a|an|the|some)\s+$", before, re.IGNORECASE)
    value = _bare(new) if article else new
    # "a red car" -> "a red bike", not "a red a bike": the old phrase's article and
    # adjectives stay in front of the new thing.
    described = re.search(r"\b(?:a|an|the|some)\s+((?:[\w-]+\s+){1,3})$", before, re.IGNORECASE)
    if (
        not article
        and described
        and _words(described.group(1))
        and set(_words(described.group(1))) <= _adjectives(described.group(0) + "thing")
    ):
        value = _bare(new)
    if article and article.group(1).lower() in ("a", "an"):
        plural = len(value.split()) == 1 and value.endswith("s") and lemmatize(value, "n") != value
        if plural or _words(value)[-1:] == ["hair"]:
            before = before[: article.start()]  # "a tulip" -> "sunflowers", "a bob" -> "long hair"
        else:
            fixed = "an" if value[:1].lower() in "aeiou" else "a"
            before = before[: article.start()] + fixed + " "
    return before + value + text[end:]


def _delete(text: str, start: int, end: int) -> str:
    """Delete the words text[start:end]; a clause left with nothing but function words goes.
    An article before them fits the word that now follows it ("an empty bench" -> "a bench")."""
    before, after = text[:start], text[end:]
    article = re.search(r"\b(a|an)(\s+)$", before)
    if article and (following := after.lstrip()[:1]).isalpha():
        fitting = "an" if following.lower() in "aeiou" else "a"
        before = before[: article.start()] + fitting + article.group(2)
    text = before + after
    clauses = text.split(",")
    # "oil painting on canvas" without its canvas: the preposition goes too
    at = before.count(",")
    clauses[at] = re.sub(rf"\s+(?:{'|'.join(_PREPOSITIONS)})\s*$", "", clauses[at])
    if _only_describes_a_look(clauses[at]):
        clauses[at] = ""  # "rich impasto textures" without impasto: "rich textures" says nothing
    kept = [
        clause for clause in clauses if any(word not in _FUNCTION_WORDS for word in _words(clause))
    ]
    return ",".join(kept)


_LOOK_NOUNS = frozenset({"texture", "textures", "finish", "effect", "effects", "style"})


def _only_describes_a_look(clause: str) -> bool:
    """Whether a tag clause is only adjectives and a word like "textures" ("rich textures")."""
    words = _words(clause)
    return (
        len(words) >= 2
        and words[-1] in _LOOK_NOUNS
        and set(words[:-1]) <= _adjectives(clause) | {"very", "highly"}
    )


def _clauses(text: str) -> list[tuple[int, int]]:
    """Return the (start, end) of each comma clause of `text`."""
    bounds, start = [], 0
    for match in re.finditer(",", text):
        bounds.append((start, match.start()))
        start = match.end()
    bounds.append((start, len(text)))
    return bounds


def _remove_thing(text: str, lemma: str, old_phrase: str) -> str | None:
    """Return `text` without the thing `lemma` names (`old_phrase`: the instruction's words
    for it), or None where it is the clause's subject."""
    spans = _find(text, lemma)
    if not spans:
        return None
    start, end = spans[0]
    # A word derived from the thing that describes something else goes alone: "no more
    # rain" on "a rainy street" leaves "a street".
    if text[start:end].lower() != lemma and _is_adjective_at(text, start):
        return _delete(text, start, end)
    clauses = _clauses(text)
    index = next(n for n, (begin, finish) in enumerate(clauses) if begin <= start <= finish)
    begin, finish = clauses[index]
    if index > 0:
        return text[: clauses[index - 1][1]] + text[finish:]
    # Inside the first clause: from the link word before the thing to the end of its phrase
    # (the next link word or the clause's end).
    before = word_spans(text[begin:start])
    link = next(
        (
            begin + s
            for n, (s, _, word) in reversed(list(enumerate(before)))
            # a link word, or a preposition or gerund after the subject ("a fox asleep on a
            # porch", "a steam train crossing a stone bridge")
            if word in _LINK_WORDS
            or (n > 1 and word in _PREPOSITIONS)
            or (
                n > 1
                and word.endswith("ing")
                and n + 1 < len(before)
                and before[n + 1][2] in _ARTICLES_OR_OWNER
            )
        ),
        None,
    )
    if link is None:
        return None  # the clause's subject: the instruction asks for a different picture
    # A thing that only fills another goes with its container: "against a field of stars".
    if _words(text[link:])[:1] == ["of"] and (
        container := re.search(
            r"\b(?:against|with|in|under|across|on)\s+(?:a|an|the)\s+[\w-]+\s+$", text[:link]
        )
    ):
        link = container.start()
    # A participle that only says how the thing lies goes with it: "covered in snow".
    words_before = word_spans(text[begin:link])
    if len(words_before) > 1 and re.fullmatch(r"[a-z]+ed", words_before[-1][2]):
        link = begin + words_before[-1][0]
    # The words after it that the instruction named too go with it ("the man on the
    # scooter"); the rest of the clause stays ("a cat on a sofa" without the cat: "on a sofa").
    named = set(_words(old_phrase)) - _ARTICLES_OR_SOME
    stop = end
    for _, end_word, word in word_spans(text[end:finish]):
        if word not in named and word not in _ARTICLES_OR_SOME:
            break
        if word in named:
            stop = end + end_word
    link_word = _words(text[link:])[0]
    # What the thing was doing and where it was go with it ("a concourse with people
    # rushing", "a room with a dog on the rug"), unless a person or animal was doing it or
    # was there ("a man with an umbrella crossing the street", "a man with a hat in a park").
    subject = _words(text[begin:link])[-1:]
    if link_word == "with" and subject and not is_living_thing(lemmatize(subject[0], "n")):
        stop = _doing_end(text, stop, finish)
    rest = text[stop:].lstrip()
    if rest.startswith("and ") and link_word != "and":
        # "with thick fog and stone lanterns": the link stays for the next thing
        return text[: link + len(link_word)] + " " + rest[len("and ") :]
    return text[:link].rstrip() + " " + rest


# Prepositions that say what a thing holds or where it lies on or by another ("a vase of
# tulips", "a dog on the rug"); "in" and "at" more often say where the whole scene is ("a
# scarecrow with a hat in a field").
_PLACED_BY = frozenset("of on under beside near by against over above below behind".split())


def _doing_end(text: str, start: int, finish: int) -> int:
    """Where the phrase that opens text[start:finish] and says what the thing "with" brought
    does or where it is ends, that thing having gone ("with smoke pouring from the chimney",
    "with a dog on the rug", "with power lines in the background"): at the next "and" or at
    `finish`; `start` where no gerund or preposition opens it."""
    spans = word_spans(text)
    tagged = tagged_lemmas(text) if spans else ()
    after = [
        (begin, word, pos)
        for (begin, _, word), (_, pos) in zip(spans, tagged, strict=True)
        if start <= begin < finish
    ]
    opens = after and (
        (after[0][1].endswith("ing") and after[0][2] == "v")
        or after[0][1] in _PLACED_BY
        or re.match(r"\s*in the (?:background|foreground)\b", text[start:finish])
    )
    if not opens:
        return start
    ands = [begin for begin, word, _ in after if word == "and"]
    return ands[0] if ands else finish


def _before_a_noun(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is one adjective that stands before the words it describes
    ("cosy" of "a cosy cabin"), not a clause of its own ("cosy, warm light")."""
    after = text[end:]
    following = _words(after)[:1]
    return (
        " " not in text[start:end].strip()
        and (_is_adjective_at(text, start) or _in_wordnet(text[start:end].strip(), "a"))
        and bool(re.match(r" [a-z]", after))
        and bool(following)
        and following[0] not in _PREPOSITIONS | {"and", "or", "but"}
    )


def _given_to_receiver(text: str, reading: EditReading) -> tuple[str, int, str] | None:
    """Put what "give X Y" gives right after X in the text: "give the girl short pink hair"
    on "a girl in a red dress" -> "a girl with short pink hair in a red dress"; before
    another "with" the two join ("a sailor with an angry face and a pipe"). Return (text,
    where it went, "with Y"), or None when the text does not name the receiver."""
    words = reading.new_phrase.split()
    if reading.kind != "add" or len(words) < 3 or words[0] != "give":
        return None
    receiver, thing = None, []
    if words[1] in ("him", "her", "them"):
        people = _person_nouns(text)
        receiver, thing = (people[0] if people else None), words[2:]
    elif words[1] in ("the", "his", "her", "their"):
        nouns = _nouns(text)
        for k in range(2, min(5, len(words) - 1)):
            if words[k] in nouns and _find(text, lemmatize(words[k], "n")):
                receiver, thing = lemmatize(words[k], "n"), words[k + 1 :]
                break
    spans = _find(text, receiver) if receiver and thing else []
    if not spans:
        return None
    if thing[0] not in _ARTICLES_OR_SOME and thing[-1] != "hair" and not thing[-1].endswith("s"):
        thing = ["an" if thing[0][0] in "aeiou" else "a", *thing]  # "an angry face"
    value = " ".join(thing)
    end = spans[0][1]
    after = text[end:]
    if joined := re.match(r"\s+with\s+", after):
        edited = f"{text[:end]} with {value} and {after[joined.end() :]}"
    else:
        edited = f"{text[:end]} with {value}{after}"
    return edited, end + 1, f"with {value}"


def _clustered_spans(text: str, lemmas: list[str]) -> list[tuple[int, int]]:
    """The spans of `lemmas` in `text`, in order; a lemma found more than once keeps the
    place nearest another lemma's: "soft natural" of "soft natural light", not the "soft" of
    "a soft boiled egg" before it."""
    found = {lemma: _find(text, lemma) for lemma in dict.fromkeys(lemmas)}
    chosen = []
    for lemma, spans in found.items():
        others = [span for other, more in found.items() if other != lemma for span in more]
        if len(spans) > 1 and others:
            spans = [
                min(spans, key=lambda s: min(abs(s[0] - o[1]) + abs(o[0] - s[1]) for o in others))
            ]
        chosen += spans
    return sorted(chosen)


def _described_noun_end(text: str, end: int) -> int | None:
    """Where the thing that text[:end]'s last adjective describes ends: the nouns after it
    and any other adjectives ("man" of "a bald man reading", "tax collector" of "a bald tax
    collector", "old man" of "a bald old man"); None when no noun follows."""
    nouns, adjectives = _nouns(text), _adjectives(text)
    position, seen_noun = end, False
    for _ in range(5):
        found = re.match(r" ([a-z]+)\b", text[position:])
        if not found:
            break
        word = found.group(1)
        if word in nouns and not word.endswith("ing"):
            seen_noun = True
        elif seen_noun or word not in adjectives:
            break
        position += found.end()
    return position if seen_noun else None


def _is_adjective_at(text: str, start: int) -> bool:
    spans = word_spans(text)
    tagged = tagged_lemmas(text) if spans else ()
    return any(
        begin == start and pos == "a" for (begin, _, _), (_, pos) in zip(spans, tagged, strict=True)
    )


def _insert(text: str, phrase: str, at_end: bool) -> str:
    """Add `phrase` as a clause after the first one (at the end for a medium)."""
    clauses = _clauses(text)
    if at_end or len(clauses) == 1:
        return f"{text.rstrip(' ,')}, {phrase}"
    first_end = clauses[0][1]
    return f"{text[:first_end]}, {phrase}{text[first_end:]}"


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s*,\s*(?:,\s*)*", ", ", text)
    return text.strip(" ,")
