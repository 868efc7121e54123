"""InstructPE v2: a seeded generator of five-field edit rows and three-turn chains.

`python -m train data sample --seed 0 --out assets/instructpe` writes train.jsonl, test.jsonl
and test_chains.jsonl. The vocabularies and instruction phrasings are data files in
assets/instructpe/vocab/ (written for this project; no artist names, nothing copied from a
dataset); this module only combines them.

How a row is made (so the target edits the prompt *in place*, as DiffChat's outputs do):

1. draw a `Scene` (subject with its attributes, action, location, extra objects, time, season,
   weather, lighting, mood, camera, composition, medium and quality tags) and a layout (which
   of those a prompt shows, and whether the medium leads or trails);
2. apply one edit kind (`EDITS`, one function each) to a copy; the edit replaces the slot's
   value, so the target never keeps the old value beside the new one;
3. render both scenes twice with the same layout: as a short plain caption (x_o, y_o) and as a
   model-friendly prompt with tags (x, y), and phrase the instruction from that kind's phrasings.

Chains apply three edits of different slots in turn. Training chains also become rows whose
raw prompt is what earlier edits produced (source "chain").
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from train.data import Triplet, deduplicate, load_triplets, normalize_text

VOCAB_DIR = Path(__file__).resolve().parent.parent / "assets" / "instructpe" / "vocab"
EDIT_KINDS = (
    "replace", "recolour", "material", "size", "age", "expression", "hair", "clothing", "add",
    "remove", "count", "style", "weather", "season", "time_of_day", "lighting", "location",
    "mood", "camera", "composition", "compound", "pronoun", "negation", "relative", "instead",
)  # fmt: skip
COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
V1_CATEGORIES = {"colour": "recolour", "age_expression": "age"}  # v1 name -> v2 kind


def _load_vocab() -> dict:
    return {path.stem: json.loads(path.read_text()) for path in sorted(VOCAB_DIR.glob("*.json"))}


VOCAB = _load_vocab()
SUBJECTS, SCENES, LOOKS = VOCAB["subjects"], VOCAB["scenes"], VOCAB["looks"]
ATMOSPHERE, MEDIA, PHRASINGS = VOCAB["atmosphere"], VOCAB["media"], VOCAB["phrasings"]


def article(phrase: str) -> str:
    """Return `phrase` with "a" or "an" in front, by its first sound."""
    if not phrase:
        return phrase
    first = phrase.split()[0].lower()
    vowel = first[0] in "aeiou8" or first.startswith(("hour", "18", "11"))
    if first.startswith(("uni", "use", "ukiyo", "eu")):
        vowel = False
    return ("an " if vowel else "a ") + phrase


def medium_name(medium: str) -> str:
    """Return how a medium is named in prompts and instructions ("watercolor painting")."""
    lead = MEDIA["media"][medium]["lead"].removesuffix(" of")
    return lead.split(" ", 1)[1] if lead.split(" ", 1)[0] in ("a", "an") else lead


def extra_noun_phrase(extra: tuple[str, str]) -> str:
    """Return the words of an extra's clause up to its noun: "a kite in the sky" -> "a kite"."""
    noun, phrase = extra
    words = phrase.split()
    for index, word in enumerate(words):
        if word.startswith(noun.split()[-1][:-1] if len(noun) > 3 else noun):
            return " ".join(words[: index + 1])
    return phrase


# ---------------------------------------------------------------------------------------------
# Scenes


@dataclass
class Scene:
    """One picture's content; `layout` says which parts a prompt shows and in what form."""

    kind: str
    noun: str
    plural: str
    pronoun: tuple[str, str] = ("it", "it")
    count: int = 1
    size: str | None = None
    age: str | None = None
    expression: str | None = None
    colour: str | None = None
    material: str | None = None
    hair: str | None = None
    clothing: str | None = None
    action: tuple[str, str] | None = None
    location: str | None = None
    extras: list[tuple[str, str]] = field(default_factory=list)
    time: str | None = None
    season: str | None = None
    weather: str | None = None  # the rendered phrase ("in the rain")
    lighting: str | None = None
    mood: str | None = None
    camera: str | None = None
    composition: str | None = None
    medium: str | None = None
    medium_leads: bool = True
    medium_tags: list[str] = field(default_factory=list)
    quality: list[str] = field(default_factory=list)

    # -- rendering --------------------------------------------------------------------------

    def subject_phrase(self) -> str:
        adjectives = [self.size, self.age, self.expression, self.colour, self.material]
        noun = self.noun if self.count == 1 else self.plural
        words = " ".join([a for a in adjectives if a] + [noun])
        phrase = article(words) if self.count == 1 else f"{COUNT_WORDS[self.count]} {words}"
        if self.hair:
            phrase += f" with {self.hair} hair"
        if self.clothing:
            phrase += f" wearing {self.clothing}"
        if self.action:
            phrase += " " + self.action[0 if self.count == 1 else 1]
        if self.location:
            phrase += " " + self.location
        return phrase

    def caption(self) -> str:
        """Return the short plain caption (x_o / y_o): content only, no quality or medium tags."""
        head = self.subject_phrase()
        if self.medium:
            head = f"{MEDIA['media'][self.medium]['caption']} {head}"
        parts = [head]
        if self.extras:
            parts.append("with " + " and ".join(phrase for _, phrase in self.extras))
        for value in (self.time, self.season and f"in {self.season}", self.weather):
            if value:
                parts.append(value)
        caption = " ".join(parts)
        details = [v for v in (self.lighting, self.mood, self.camera, self.composition) if v]
        return ", ".join([caption, *details])

    def prompt(self) -> str:
        """Return the model-friendly prompt (x / y): the caption's content plus tags."""
        head = self.subject_phrase()
        if self.medium and self.medium_leads:
            head = f"{MEDIA['media'][self.medium]['lead']} {head}"
        parts = [head, *(phrase for _, phrase in self.extras)]
        season = self.season and f"in {self.season}"
        parts += [v for v in (self.time, season, self.weather, self.lighting, self.mood) if v]
        parts += [v for v in (self.camera, self.composition) if v]
        if self.medium and not self.medium_leads:
            parts.append(medium_name(self.medium))
        return ", ".join(parts + self.medium_tags + self.quality)


def _pick(rng: random.Random, items, chance: float = 1.0):
    return rng.choice(items) if rng.random() < chance else None


def _split(entry: str) -> tuple[str, str]:
    singular, plural = entry.split("|")
    return singular, plural


EXTRAS = [_split(entry) for entry in SCENES["extras"]]  # (noun, clause) of each extra object


def random_subject(rng: random.Random, kind: str | None = None) -> tuple[str, str, str, tuple]:
    """Return (kind, noun, plural, pronoun pair) of a random subject."""
    kind = kind or rng.choice(["person", "person", "animal", "animal", "vehicle", "object", "building"])  # fmt: skip
    noun, plural = _split(rng.choice(SUBJECTS[kind]["nouns"]))
    pronoun = ("it", "it")
    if kind == "person":
        pronoun = tuple(SUBJECTS["person"]["pronouns"][noun].split("/"))
    return kind, noun, plural, pronoun


def _medium_tags(rng: random.Random, medium: str, count: int) -> list[str]:
    name = medium_name(medium)
    tags = [t for t in MEDIA["media"][medium]["tags"] if t != name]
    return rng.sample(tags, min(count, len(tags)))


def random_scene(rng: random.Random) -> Scene:
    """Return a random scene; about one in five is short (4-10 words, no tags)."""
    kind, noun, plural, pronoun = random_subject(rng)
    scene = Scene(kind=kind, noun=noun, plural=plural, pronoun=pronoun)
    short = rng.random() < 0.2
    rich = 0.2 if short else 0.55
    applies = LOOKS["applies_to"]
    scene.count = 1 if rng.random() < 0.8 else rng.choice([2, 3, 4, 5])
    if kind in applies["size"]:
        scene.size = _pick(rng, LOOKS["size"], 0.15)
    if kind in applies["age"]:
        scene.age = _pick(rng, LOOKS["age"][kind], 0.3 if kind == "person" else 0.15)
    if kind == "person":
        scene.expression = _pick(rng, LOOKS["expression"], 0.25)
        if rng.random() < rich * 0.6:
            scene.hair = (
                f"{rng.choice(LOOKS['hair']['length'])} {rng.choice(LOOKS['hair']['colour'])}"
            )
        scene.clothing = _pick(rng, LOOKS["clothing"], rich * 0.7)
    if kind in applies["colour"]:
        scene.colour = _pick(rng, LOOKS["colour"], 0.35)
    if kind in applies["material"] and not scene.colour:
        scene.material = _pick(rng, LOOKS["material"], 0.25)
    scene.action = _pick(rng, [_split(a) for a in SCENES["actions"][kind]], 0.2 if short else 0.6)
    scene.location = _pick(rng, SCENES["locations"], 0.6 if short else 0.85)
    if not short:
        extras = [extra for extra in EXTRAS if extra[0] != noun]
        scene.extras = rng.sample(extras, rng.choice([0, 0, 1, 1, 2]))
        scene.time = _pick(rng, list(ATMOSPHERE["time"].values()), rich)
        scene.season = _pick(rng, ATMOSPHERE["season"], rich * 0.6)
        scene.weather = _pick(
            rng, [w["phrase"] for w in ATMOSPHERE["weather"].values()], rich * 0.6
        )
        scene.lighting = _fitting_lighting(rng, scene, rich * 0.8)
        scene.mood = _pick(rng, ATMOSPHERE["mood"], rich * 0.5)
        scene.composition = _pick(rng, MEDIA["composition"], rich * 0.3)
        scene.medium = _pick(rng, list(MEDIA["media"]), 0.8)
        if scene.medium:
            scene.medium_leads = rng.random() < 0.6
            scene.medium_tags = _medium_tags(rng, scene.medium, rng.choice([0, 1, 2, 3]))
        cameras = _fitting_cameras(scene)
        scene.camera = _pick(rng, cameras, rich * 0.5)
        scene.quality = rng.sample(MEDIA["quality"], rng.choice([0, 0, 1, 2, 3, 4]))
    else:
        scene.location = scene.location or rng.choice(SCENES["locations"])  # at least 4 words
        if rng.random() < 0.3:
            scene.medium = rng.choice(list(MEDIA["media"]))
    if not short and rng.random() < 0.1:
        _fill_every_slot(rng, scene)
    return scene


def _fill_every_slot(rng: random.Random, scene: Scene) -> None:
    """Make a long prompt (50-70 words): every slot set, three extras, many tags."""
    extras = [extra for extra in EXTRAS if extra[0] != scene.noun]
    scene.extras = rng.sample(extras, 3)
    scene.time = scene.time or rng.choice(list(ATMOSPHERE["time"].values()))
    scene.season = scene.season or rng.choice(ATMOSPHERE["season"])
    scene.lighting = scene.lighting or _fitting_lighting(rng, scene, 1.0)
    scene.mood = scene.mood or rng.choice(ATMOSPHERE["mood"])
    scene.composition = scene.composition or rng.choice(MEDIA["composition"])
    scene.medium = scene.medium or rng.choice(list(MEDIA["media"]))
    scene.medium_tags = _medium_tags(rng, scene.medium, 3)
    scene.camera = scene.camera or rng.choice(_fitting_cameras(scene))
    scene.quality = rng.sample(MEDIA["quality"], rng.choice([4, 5, 6]))


def _time_key(scene: Scene) -> str | None:
    return next((k for k, v in ATMOSPHERE["time"].items() if v == scene.time), None)


def _lightings_for(time: str | None) -> list[str]:
    """Return the lighting phrases that fit a time of day (all of them for no time)."""
    return [
        e["phrase"] for e in ATMOSPHERE["lighting"] if not time or time in e.get("times", [time])
    ]


def _fitting_lighting(rng: random.Random, scene: Scene, chance: float) -> str | None:
    return _pick(rng, _lightings_for(_time_key(scene)), chance)


def _fitting_cameras(scene: Scene) -> list[str]:
    photo = scene.medium and MEDIA["media"][scene.medium]["family"] == "photo"
    return [c["phrase"] for c in MEDIA["camera"] if photo or not c.get("photo")]


# ---------------------------------------------------------------------------------------------
# Edits: one function per kind, (scene, rng) -> (edited scene, instruction) or None


Edit = tuple[Scene, str]


def _phrase(rng: random.Random, kind: str, **values: str) -> str:
    """Fill one of `kind`'s phrasings; a_new / a_old get an article."""
    for key in ("new", "old"):
        if key in values and f"a_{key}" not in values:
            values[f"a_{key}"] = article(values[key])
    return rng.choice(PHRASINGS[kind]).format_map(values).replace("s's ", "s' ")


def _display(scene: Scene) -> str:
    return scene.noun if scene.count == 1 else scene.plural


def _other(rng: random.Random, values, current):
    choices = [v for v in values if v != current]
    return rng.choice(choices) if choices else None


def edit_replace(scene: Scene, rng: random.Random, kind: str = "replace") -> Edit | None:
    if scene.extras and rng.random() < 0.3 and kind == "replace":
        index = rng.randrange(len(scene.extras))
        present = {noun for noun, _ in scene.extras} | {scene.noun}
        new = _other(rng, [extra for extra in EXTRAS if extra[0] not in present], None)
        edited = copy.deepcopy(scene)
        old = edited.extras[index]
        edited.extras[index] = new
        return edited, _phrase(rng, "replace_extra", old=old[0], new=extra_noun_phrase(new))
    _, noun, plural, pronoun = random_subject(rng, scene.kind)
    if noun == scene.noun:
        return None
    edited = copy.deepcopy(scene)
    edited.noun, edited.plural, edited.pronoun = noun, plural, pronoun
    if scene.kind == "person" and edited.age not in (None, *LOOKS["age"]["person"]):
        edited.age = None
    new = noun if scene.count == 1 else plural
    phrasing = "instead_replace" if kind == "instead" else "replace"
    instruction = _phrase(rng, phrasing, old=_display(scene), new=new)
    if scene.count > 1:
        instruction = instruction.replace(article(new), new)
    return edited, instruction


def _set_attribute(scene, rng, attribute: str, values, phrasing: str, **extra) -> Edit | None:
    if scene.kind not in LOOKS["applies_to"][attribute]:
        return None
    new = _other(rng, values, getattr(scene, attribute))
    edited = copy.deepcopy(scene)
    setattr(edited, attribute, new)
    if attribute == "colour":
        edited.material = None  # "a red glass vase" -> keep the edit to one slot
    if attribute == "material":
        edited.colour = None
    return edited, _phrase(rng, phrasing, new=new, noun=_display(scene), **extra)


def edit_recolour(scene: Scene, rng: random.Random) -> Edit | None:
    return _set_attribute(scene, rng, "colour", LOOKS["colour"], "recolour")


def edit_material(scene: Scene, rng: random.Random) -> Edit | None:
    return _set_attribute(scene, rng, "material", LOOKS["material"], "material")


def edit_size(scene: Scene, rng: random.Random) -> Edit | None:
    return _set_attribute(scene, rng, "size", LOOKS["size"], "size")


def edit_age(scene: Scene, rng: random.Random) -> Edit | None:
    if scene.kind not in LOOKS["age"]:
        return None
    return _set_attribute(scene, rng, "age", LOOKS["age"][scene.kind], "age")


def edit_expression(scene: Scene, rng: random.Random) -> Edit | None:
    return _set_attribute(scene, rng, "expression", LOOKS["expression"], "expression")


def _random_hair(rng: random.Random) -> str:
    return f"{rng.choice(LOOKS['hair']['length'])} {rng.choice(LOOKS['hair']['colour'])}"


def edit_hair(scene: Scene, rng: random.Random, phrasing: str = "hair") -> Edit | None:
    if scene.kind != "person":
        return None
    edited = copy.deepcopy(scene)
    edited.hair = _random_hair(rng)
    if edited.hair == scene.hair:
        return None
    return edited, _phrase(rng, phrasing, new=edited.hair, noun=_display(scene), **_pronouns(scene))


def edit_clothing(scene: Scene, rng: random.Random, phrasing: str = "clothing") -> Edit | None:
    if scene.kind != "person":
        return None
    edited = copy.deepcopy(scene)
    edited.clothing = _other(rng, LOOKS["clothing"], scene.clothing)
    return edited, _phrase(
        rng, phrasing, new=edited.clothing, noun=_display(scene), **_pronouns(scene)
    )


def _pronouns(scene: Scene) -> dict[str, str]:
    subj, obj = scene.pronoun if scene.count == 1 else ("they", "them")
    return {"subj": subj, "obj": obj}


def edit_add(scene: Scene, rng: random.Random) -> Edit | None:
    present = {noun for noun, _ in scene.extras} | {scene.noun}
    choices = [extra for extra in EXTRAS if extra[0] not in present]
    if len(scene.extras) >= 3 or not choices:
        return None
    new = rng.choice(choices)
    edited = copy.deepcopy(scene)
    edited.extras.append(new)
    return edited, _phrase(rng, "add", new=extra_noun_phrase(new)).replace("a a ", "a ")


def edit_remove(scene: Scene, rng: random.Random, phrasing: str = "remove") -> Edit | None:
    if not scene.extras:
        return None
    edited = copy.deepcopy(scene)
    old = edited.extras.pop(rng.randrange(len(edited.extras)))
    return edited, _phrase(rng, phrasing, old=old[0])


def edit_count(scene: Scene, rng: random.Random) -> Edit | None:
    if scene.kind == "building" or len(scene.noun.split()) > 1:
        return None
    new = _other(rng, [1, 2, 3, 4, 5], scene.count)
    edited = copy.deepcopy(scene)
    edited.count = new
    noun = scene.noun if new == 1 else scene.plural
    word = "one" if new == 1 else COUNT_WORDS[new]
    return edited, _phrase(rng, "count", new=word, noun=noun)


def edit_style(scene: Scene, rng: random.Random) -> Edit | None:
    new = _other(rng, list(MEDIA["media"]), scene.medium)
    edited = copy.deepcopy(scene)
    edited.medium = new
    edited.medium_tags = _medium_tags(rng, new, len(scene.medium_tags))
    if edited.camera not in _fitting_cameras(edited):
        edited.camera = None  # a lens tag contradicts a painting
    return edited, _phrase(rng, "style", new=medium_name(new))


def _weather_key(scene: Scene) -> str | None:
    return next((k for k, w in ATMOSPHERE["weather"].items() if w["phrase"] == scene.weather), None)


def edit_weather(scene: Scene, rng: random.Random) -> Edit | None:
    key = _other(rng, list(ATMOSPHERE["weather"]), _weather_key(scene))
    entry = ATMOSPHERE["weather"][key]
    edited = copy.deepcopy(scene)
    edited.weather = entry["phrase"]
    if "verb" in entry:
        return edited, _phrase(rng, "weather_verb", new=entry["verb"])
    return edited, _phrase(rng, "weather", new=entry["adj"])


def edit_season(scene: Scene, rng: random.Random, phrasing: str = "season") -> Edit | None:
    new = _other(rng, ATMOSPHERE["season"], scene.season)
    edited = copy.deepcopy(scene)
    edited.season = new
    return edited, _phrase(rng, phrasing, new=new, old=scene.season or "")


def edit_time_of_day(
    scene: Scene, rng: random.Random, phrasing: str = "time_of_day"
) -> Edit | None:
    new = _other(rng, list(ATMOSPHERE["time"]), _time_key(scene))
    edited = copy.deepcopy(scene)
    edited.time = ATMOSPHERE["time"][new]
    if scene.lighting and scene.lighting not in _lightings_for(new):
        edited.lighting = _fitting_lighting(rng, edited, 1.0)  # moonlight at midday: swap it
    instruction = _phrase(
        rng, phrasing, new=new, new_phrase=edited.time, old=_time_key(scene) or ""
    )
    return edited, instruction


def edit_lighting(scene: Scene, rng: random.Random) -> Edit | None:
    edited = copy.deepcopy(scene)
    edited.lighting = _other(rng, [e["phrase"] for e in ATMOSPHERE["lighting"]], scene.lighting)
    if edited.lighting not in _lightings_for(_time_key(scene)):
        return None
    return edited, _phrase(rng, "lighting", new=edited.lighting)


def edit_location(scene: Scene, rng: random.Random) -> Edit | None:
    edited = copy.deepcopy(scene)
    edited.location = _other(rng, SCENES["locations"], scene.location)
    bare = edited.location.split(" ", 1)[1]
    return edited, _phrase(rng, "location", new=edited.location, bare=bare)


def edit_mood(scene: Scene, rng: random.Random) -> Edit | None:
    edited = copy.deepcopy(scene)
    edited.mood = _other(rng, ATMOSPHERE["mood"], scene.mood)
    return edited, _phrase(rng, "mood", new=edited.mood, adj=edited.mood.split()[0])


def edit_camera(scene: Scene, rng: random.Random) -> Edit | None:
    edited = copy.deepcopy(scene)
    edited.camera = _other(rng, _fitting_cameras(scene), scene.camera)
    return edited, _phrase(rng, "camera", new=edited.camera)


def edit_composition(scene: Scene, rng: random.Random) -> Edit | None:
    edited = copy.deepcopy(scene)
    edited.composition = _other(rng, MEDIA["composition"], scene.composition)
    return edited, _phrase(rng, "composition", new=edited.composition)


COMPOUND_PARTS = ("time_of_day", "weather", "season", "add", "style", "recolour", "lighting", "mood", "location")  # fmt: skip


def edit_compound(scene: Scene, rng: random.Random) -> Edit | None:
    first_kind, second_kind = rng.sample(COMPOUND_PARTS, 2)
    first = EDITS[first_kind](scene, rng)
    second = first and EDITS[second_kind](first[0], rng)
    if not second:
        return None
    joiner = rng.choice(PHRASINGS["compound_joiners"])
    head = first[1].rstrip(".?!")
    tail = second[1][0].lower() + second[1][1:]
    return second[0], head + joiner + tail


def edit_pronoun(scene: Scene, rng: random.Random) -> Edit | None:
    if scene.kind != "person":
        return None
    part = rng.choice(["age", "expression", "clothing", "hair"])
    if part == "clothing":
        return edit_clothing(scene, rng, "pronoun_clothing")
    if part == "hair":
        return edit_hair(scene, rng, "pronoun_hair")
    values = LOOKS["age"]["person"] if part == "age" else LOOKS["expression"]
    return _set_attribute(scene, rng, part, values, f"pronoun_{part}", **_pronouns(scene))


def edit_negation(scene: Scene, rng: random.Random) -> Edit | None:
    choices = ["extra"] * bool(scene.extras) + ["weather"] * bool(scene.weather)
    choices += ["clothing"] * bool(scene.clothing)
    if not choices:
        return None
    choice = rng.choice(choices)
    if choice == "extra":
        return edit_remove(scene, rng, "negation")
    edited = copy.deepcopy(scene)
    if choice == "weather":
        entry = ATMOSPHERE["weather"][_weather_key(scene)]
        edited.weather = None
        return edited, _phrase(rng, "negation", old=entry.get("verb") or entry["noun"])
    edited.clothing = None
    return edited, _phrase(rng, "negation", old=scene.clothing.split()[-1])


def edit_relative(scene: Scene, rng: random.Random) -> Edit | None:
    """Raise or lower a scaled value ("make the rain heavier"); sets the raw value first."""
    entry = rng.choice(ATMOSPHERE["relative"])
    slot = entry["slot"]
    if slot == "extra":
        if len(scene.extras) >= 3:
            return None
        noun = entry["noun"]
        scene.extras = [e for e in scene.extras if e[0] != noun] + [(noun, entry["from"])]
        edited = copy.deepcopy(scene)
        edited.extras[-1] = (noun, entry["to"])
    else:
        setattr(scene, slot, entry["from"])
        edited = copy.deepcopy(scene)
        setattr(edited, slot, entry["to"])
    return edited, rng.choice(entry["asks"])


def edit_instead(scene: Scene, rng: random.Random) -> Edit | None:
    part = rng.choice(["replace", "replace", "time", "season"])
    if part == "replace":
        return edit_replace(scene, rng, kind="instead")
    if part == "time":
        return edit_time_of_day(scene, rng, "instead_time") if scene.time else None
    return edit_season(scene, rng, "instead_season") if scene.season else None


EDITS = {kind: globals()[f"edit_{kind}"] for kind in EDIT_KINDS}


def _polish(instruction: str, rng: random.Random) -> str:
    """Vary case and punctuation the way people type."""
    if rng.random() < 0.35:
        instruction = instruction[0].lower() + instruction[1:]
    elif rng.random() < 0.3:
        instruction = instruction[0].upper() + instruction[1:]
    if rng.random() < 0.3:
        instruction = instruction.rstrip(".?!")
    elif rng.random() < 0.05 and "please" not in instruction.lower():
        instruction = instruction.rstrip(".?!") + " please"
    return instruction


def _row(scene: Scene, edited: Scene, instruction: str, kind: str, source: str) -> Triplet:
    return Triplet(
        raw_prompt=scene.prompt(),
        instruction=instruction,
        target_prompt=edited.prompt(),
        category=kind,
        source=source,
        raw_caption=scene.caption(),
        target_caption=edited.caption(),
    )


def generate_rows(num_rows: int, rng: random.Random) -> list[Triplet]:
    """Return `num_rows` single-edit rows, the kinds in equal turns."""
    rows: list[Triplet] = []
    attempts = 0
    while len(rows) < num_rows:
        attempts += 1
        if attempts > num_rows * 50:  # a vocabulary bug, not bad luck
            raise RuntimeError("the generator cannot find scenes for every edit kind")
        kind = EDIT_KINDS[len(rows) % len(EDIT_KINDS)]
        scene = random_scene(rng)
        result = EDITS[kind](scene, rng)
        if result and result[0].prompt() != scene.prompt():
            rows.append(_row(scene, result[0], _polish(result[1], rng), kind, "generated"))
    return rows


CHAIN_SLOTS = {
    "replace": "subject", "instead": "subject", "count": "subject", "recolour": "colour",
    "material": "colour", "size": "size", "age": "age", "pronoun": "person", "expression": "person",
    "hair": "person", "clothing": "person", "add": "extras", "remove": "extras",
    "negation": "extras", "relative": "extras", "style": "medium", "weather": "weather",
    "season": "season", "time_of_day": "time", "lighting": "lighting", "location": "location",
    "mood": "mood", "camera": "camera", "composition": "composition",
}  # fmt: skip


def generate_chain(rng: random.Random, turns: int = 3) -> tuple[Scene, list] | None:
    """Return (raw scene, [(kind, instruction, scene after the turn)]) of edits on distinct slots."""
    scene = random_scene(rng)
    raw = copy.deepcopy(scene)
    steps, used = [], set()
    for _ in range(turns * 10):
        kind = rng.choice([k for k in CHAIN_SLOTS if CHAIN_SLOTS[k] not in used])
        current = steps[-1][2] if steps else scene
        if kind == "relative" and steps:
            continue  # relative sets its raw value first, which only the first turn may do
        result = EDITS[kind](current, rng)
        if not result or result[0].prompt() == current.prompt():
            continue
        if kind == "relative":
            raw = copy.deepcopy(current)
        steps.append((kind, _polish(result[1], rng), result[0]))
        used.add(CHAIN_SLOTS[kind])
        if len(steps) == turns:
            return raw, steps
    return None


def chain_record(chain_id: str, raw: Scene, steps: list) -> dict:
    """Return the JSON record of one chain (see assets/instructpe/README.md)."""
    return {
        "id": chain_id,
        "source": "generated",
        "raw_caption": raw.caption(),
        "raw_prompt": raw.prompt(),
        "turns": [
            {
                "instruction": instruction,
                "category": kind,
                "target_caption": after.caption(),
                "target_prompt": after.prompt(),
            }
            for kind, instruction, after in steps
        ],
    }


def chain_rows(record: dict) -> list[Triplet]:
    """Return a chain's turns as single-edit rows; turns after the first have source "chain"."""
    rows, caption, prompt = [], record["raw_caption"], record["raw_prompt"]
    for index, turn in enumerate(record["turns"]):
        rows.append(
            Triplet(
                prompt,
                turn["instruction"],
                turn["target_prompt"],
                turn["category"],
                "generated" if index == 0 else "chain",
                caption,
                turn["target_caption"],
            )  # fmt: skip
        )
        caption, prompt = turn["target_caption"], turn["target_prompt"]
    return rows


def generate_chains(num_chains: int, rng: random.Random, prefix: str) -> list[dict]:
    """Return `num_chains` chain records with ids PREFIX-0001..."""
    chains = []
    while len(chains) < num_chains:
        result = generate_chain(rng)
        if result:
            chains.append(chain_record(f"{prefix}-{len(chains) + 1:04d}", *result))
    return chains


# ---------------------------------------------------------------------------------------------
# The sample


@dataclass
class SampleConfig:
    """Sizes of InstructPE v2; defaults give 30,000 train rows, 1,500 test rows, 300 test chains."""

    seed: int = field(default=0, metadata={"help": "seed of the generator"})
    train_rows: int = field(
        default=30000, metadata={"help": "training rows (single + chain turns)"}
    )
    train_chains: int = field(default=2000, metadata={"help": "training chains (3 rows each)"})
    test_rows: int = field(default=1500, metadata={"help": "test rows"})
    test_chains: int = field(default=300, metadata={"help": "test chains of three turns"})
    handwritten: Path | None = field(
        default=None, metadata={"help": "v1 hand-written rows mixed into train (JSONL)"}
    )


def default_handwritten_path() -> Path:
    """Return assets/instructpe/handwritten.jsonl of this checkout."""
    return VOCAB_DIR.parent / "handwritten.jsonl"


def build_sample(config: SampleConfig) -> tuple[list[Triplet], list[Triplet], list[dict]]:
    """Return (train rows, test rows, test chains); no test raw prompt is a train raw prompt."""
    test_rng, train_rng = random.Random(config.seed * 2 + 1), random.Random(config.seed * 2)
    test = deduplicate(generate_rows(config.test_rows, test_rng))
    test_chains = generate_chains(config.test_chains, test_rng, "chain")
    held = {normalize_text(r.raw_prompt) for r in test}
    held |= {normalize_text(row.raw_prompt) for c in test_chains for row in chain_rows(c)}
    train: list[Triplet] = []
    handwritten = config.handwritten or default_handwritten_path()
    if Path(handwritten).is_file():
        for row in load_triplets(handwritten):
            kind = V1_CATEGORIES.get(row.category, row.category)
            train.append(
                Triplet(row.raw_prompt, row.instruction, row.target_prompt, kind, row.source)
            )
    for record in generate_chains(config.train_chains, train_rng, "train"):
        train += chain_rows(record)
    while len(train) < config.train_rows:
        batch = generate_rows(config.train_rows - len(train), train_rng)
        train = deduplicate(train + [r for r in batch if normalize_text(r.raw_prompt) not in held])
    train_rng.shuffle(train)  # so that the first N rows (max_train_rows) are a fair subset
    return train, test, test_chains


def save_chains(chains: list[dict], path: str | Path) -> Path:
    """Write chain records as JSONL; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for record in chains:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
