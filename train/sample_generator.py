"""The authored InstructPE sample: a seeded generator of (raw prompt, instruction, target) rows.

`python -m train data sample --seed 0 --out assets/instructpe` writes train.jsonl and
test.jsonl. Everything here — vocabularies, prompt templates, instruction phrasings — was
written for this project; nothing is copied from a dataset. Artist names are deliberately
absent (styles are named by medium and movement only).

How a row is made (so the target edits the prompt *in place*, the way DiffChat's outputs do):

1. draw a `Scene`: subject (with count, adjective, age, colour, material, expression,
   accessories), action, setting, optional extra element, time of day, weather, season,
   lighting, style/medium and quality tags, plus one of several prompt layouts;
2. pick an edit category (round robin over `CATEGORIES`) and apply it to a copy of the scene —
   e.g. the colour edit swaps the colour word, the time edit swaps "at dawn" for "at night" and
   the dawn-only light for a night light;
3. render both scenes with the same layout, so everything the edit does not touch stays word
   for word, and write the instruction from that category's phrasings.

The hand-written rows (assets/instructpe/handwritten.jsonl) are mixed in, the whole set is
deduplicated and split so that no raw prompt appears in both train and test.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from train.data import Triplet, deduplicate, load_triplets, split_train_test

CATEGORIES = (
    "replace",
    "add",
    "remove",
    "colour",
    "material",
    "style",
    "weather",
    "season",
    "time_of_day",
    "location",
    "lighting",
    "age_expression",
    "count",
)

# ---------------------------------------------------------------------------------------------
# Vocabularies (authored for this project)


@dataclass(frozen=True)
class Subject:
    """A noun that can head a prompt; `pronoun` is (subject, object) form for one of it."""

    noun: str
    plural: str
    pronoun: tuple[str, str] = ("it", "it")


def _subjects(pairs: str, pronoun: tuple[str, str] = ("it", "it")) -> tuple[Subject, ...]:
    # "horse/horses, fox/foxes" -> Subjects; a bare word takes an "s" plural.
    result = []
    for item in pairs.split(","):
        singular, _, plural = item.strip().partition("/")
        result.append(Subject(singular, plural or singular + "s", pronoun))
    return tuple(result)


SHE, HE = ("she", "her"), ("he", "him")


@dataclass(frozen=True)
class Group:
    """A family of subjects that share actions, settings, adjectives and possible edits."""

    name: str
    subjects: tuple[Subject, ...]
    adjectives: tuple[str, ...]
    actions: tuple[str, ...]
    settings: tuple[str, ...]  # full phrases: "in a misty meadow"
    colours: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()  # material adjectives, see MATERIALS
    extras: tuple[str, ...] = ()  # keys of EXTRAS that fit
    accessories: bool = False
    outdoor: bool = True


OUTDOOR_EXTRAS = (
    "rainbow",
    "birds",
    "moon",
    "archway",
    "fireflies",
    "balloon",
    "cottage",
    "butterflies",
    "path",
    "kite",
    "petals",
    "lantern",
    "waterfall",
    "ruins",
)

FUR = ("white", "black", "grey", "golden", "brown", "silver", "ginger", "cream-coloured")
PAINT = (
    "red",
    "blue",
    "green",
    "yellow",
    "black",
    "white",
    "orange",
    "turquoise",
    "pink",
    "purple",
    "emerald green",
    "cherry red",
    "navy blue",
    "pastel mint",
    "mustard yellow",
)

GROUPS = (
    Group(
        "animal",
        _subjects(
            "horse, fox/foxes, wolf/wolves, deer/deer, cat, dog, rabbit, lion, tiger, bear, "
            "stag, red panda, raccoon, leopard, unicorn, dragon, lynx/lynxes, goat, llama, "
            "snow leopard, koala, otter, hedgehog, elephant, mountain goat"
        ),
        (
            "majestic",
            "graceful",
            "fluffy",
            "proud",
            "curious",
            "sleepy",
            "noble",
            "wild",
            "gentle",
            "small",
            "playful",
            "ancient",
            "lone",
        ),
        (
            "standing",
            "resting",
            "gazing into the distance",
            "looking at the viewer",
            "walking slowly",
            "sitting quietly",
        ),
        (
            "in a misty meadow",
            "in an enchanted forest",
            "on a snowy mountain ridge",
            "by a quiet lake",
            "in a field of wildflowers",
            "on a rocky cliff by the sea",
            "in tall golden grass",
            "in a bamboo grove",
            "in a mossy forest clearing",
            "on a sandy beach",
            "in a lavender field",
            "beside a frozen river",
            "in a sunlit orchard",
            "among ancient ruins",
            "on a grassy hilltop",
            "in a desert canyon",
            "at the edge of a pine forest",
            "in a flower-filled valley",
        ),
        colours=FUR,
        extras=OUTDOOR_EXTRAS,
        accessories=True,
    ),
    Group(
        "bird",
        _subjects(
            "owl, eagle, hummingbird, parrot, raven, swan, peacock, crane, robin, kingfisher, "
            "phoenix/phoenixes, heron, flamingo, magpie, toucan"
        ),
        ("majestic", "tiny", "elegant", "proud", "colorful", "wise", "graceful", "lone"),
        (
            "perched on a mossy branch",
            "gliding",
            "in flight",
            "perched on an old fence post",
            "resting on a stone",
        ),
        (
            "in an ancient forest",
            "above a misty lake",
            "over a coastal cliff",
            "in a blooming cherry tree",
            "in a tropical rainforest",
            "above a golden wheat field",
            "in a quiet marsh",
            "over a snowy valley",
            "in a walled garden",
            "above a mountain lake",
        ),
        colours=("white", "black", "blue", "scarlet", "golden", "emerald green", "silver"),
        extras=("rainbow", "moon", "ruins", "waterfall", "balloon", "petals", "fireflies"),
    ),
    Group(
        "person",
        _subjects("woman/women, girl, dancer, queen, witch/witches, princess/princesses", SHE)
        + _subjects("man/men, boy, king, wizard, fisherman/fishermen, monk, samurai/samurai", HE)
        + _subjects(
            "knight, astronaut, violinist, explorer, sailor, painter, gardener", ("they", "them")
        ),
        (
            "elegant",
            "weary",
            "brave",
            "mysterious",
            "thoughtful",
            "confident",
            "lonely",
            "cheerful",
            "serene",
            "tall",
        ),
        (
            "standing",
            "walking",
            "looking over the shoulder",
            "reading a book",
            "sitting on a bench",
            "holding a lantern",
            "gazing at the horizon",
        ),
        (
            "in a bustling market street",
            "on a windswept cliff",
            "in a sunlit library",
            "in a quiet Japanese garden",
            "on a busy city sidewalk",
            "in a field of sunflowers",
            "on a wooden pier",
            "in a grand ballroom",
            "in a narrow cobblestone alley",
            "on a mountain trail",
            "in a cozy cafe",
            "by a castle gate",
            "in a greenhouse full of plants",
            "on a rooftop overlooking the city",
            "in a snowy village square",
            "on a foggy train platform",
            "in an overgrown garden",
        ),
        extras=(
            "birds",
            "lantern",
            "kite",
            "petals",
            "butterflies",
            "balloon",
            "fireflies",
            "cat_nearby",
            "people",
        ),
        accessories=True,
    ),
    Group(
        "vehicle",
        _subjects(
            "car, sports car, motorcycle, bicycle, pickup truck, camper van, tractor, scooter, "
            "bus/buses, convertible, jeep, delivery van"
        ),
        (
            "vintage",
            "rusty",
            "sleek",
            "shiny",
            "futuristic",
            "classic",
            "battered",
            "tiny",
            "old",
            "polished",
        ),
        ("parked", "parked alone", "standing", "left abandoned"),
        (
            "on a coastal highway",
            "in a quiet suburban street",
            "on a dusty desert road",
            "in front of an old diner",
            "on a cobblestone street",
            "in a neon-lit alley",
            "by a country farmhouse",
            "at a mountain viewpoint",
            "in an empty parking lot",
            "beside a sunflower field",
            "under a railway bridge",
            "on a forest road",
        ),
        colours=PAINT,
        extras=("people", "birds", "moon", "balloon", "kite", "rainbow", "path", "lantern"),
    ),
    Group(
        "boat",
        _subjects(
            "sailboat, fishing boat, rowboat, pirate ship, yacht, canoe, houseboat, "
            "steamboat, gondola"
        ),
        ("old", "weathered", "elegant", "small", "lonely", "wooden-hulled", "graceful"),
        ("drifting", "anchored", "sailing", "moored", "floating"),
        (
            "on a calm turquoise lagoon",
            "in a stormy harbor",
            "on a misty lake",
            "along a rocky coast",
            "on a wide river",
            "in a quiet fjord",
            "near a tropical island",
            "in a canal lined with old houses",
            "on a glassy sea",
        ),
        colours=PAINT,
        extras=("birds", "moon", "rainbow", "lighthouse", "balloon", "kite", "ruins"),
    ),
    Group(
        "object",
        _subjects(
            "teapot, vase, clock, lantern, candle holder, chair, armchair, guitar, violin, "
            "chess piece, music box/music boxes, hourglass/hourglasses, globe, typewriter, "
            "perfume bottle, jewelry box/jewelry boxes, bowl, cup, statue, lamp"
        ),
        (
            "antique",
            "ornate",
            "delicate",
            "tiny",
            "elegant",
            "old",
            "handcrafted",
            "intricate",
            "vintage",
            "polished",
        ),
        ("resting", "sitting", "placed", "standing"),
        (
            "on a wooden table in a cozy kitchen",
            "on a windowsill overlooking a garden",
            "on a dusty shelf in an antique shop",
            "on a marble pedestal in a museum",
            "in a sunlit artist studio",
            "on a velvet cloth",
            "on a desk covered with old maps",
            "on a stone bench in a garden",
            "in a dim attic",
            "on a mirrored surface",
        ),
        colours=PAINT,
        materials=(
            "wooden",
            "porcelain",
            "glass",
            "brass",
            "silver",
            "golden",
            "marble",
            "ceramic",
            "copper",
            "crystal",
            "jade",
            "bronze",
        ),
        extras=("tea", "flowers", "book", "cat_nearby", "candle", "plant"),
        outdoor=False,
    ),
    Group(
        "building",
        _subjects(
            "cottage, lighthouse, castle, cathedral, windmill, tower, temple, cabin, "
            "farmhouse, treehouse, pagoda, mansion, chapel, observatory/observatories, "
            "bakery/bakeries"
        ),
        (
            "cozy",
            "ancient",
            "abandoned",
            "tall",
            "old",
            "whimsical",
            "grand",
            "crooked",
            "remote",
            "tiny",
        ),
        ("standing", "nestled", "perched", "rising"),
        (
            "on a rocky cliff above the sea",
            "in a snowy valley",
            "beside a quiet river",
            "at the edge of a dark forest",
            "among rolling green hills",
            "in a field of lavender",
            "on a tiny island",
            "on a mountain peak",
            "in a misty swamp",
            "in a sunflower field",
            "on a hillside overlooking a village",
            "in a bamboo forest",
        ),
        colours=("red", "white", "blue", "yellow", "pink", "green", "black", "sky blue"),
        materials=(
            "stone",
            "brick",
            "wooden",
            "glass",
            "marble",
            "golden",
            "gingerbread",
            "ice",
            "crystal",
        ),
        extras=OUTDOOR_EXTRAS[:-1] + ("people",),
    ),
)
GROUPS_BY_NAME = {group.name: group for group in GROUPS}

# Materials that carry their own colour: a colour word next to them ("green golden") reads wrong.
SELF_COLOURED = {
    "golden",
    "silver",
    "bronze",
    "copper",
    "brass",
    "jade",
    "crystal",
    "ice",
    "gingerbread",
    "marble",
}
# Settings of the outdoor groups that are indoors: no weather or season there.
INDOOR_SETTINGS = {
    "in a sunlit library",
    "in a grand ballroom",
    "in a cozy cafe",
    "in a greenhouse full of plants",
}

# material adjective -> noun for instructions ("make it out of gold")
MATERIALS = {
    "wooden": "wood",
    "porcelain": "porcelain",
    "glass": "glass",
    "brass": "brass",
    "silver": "silver",
    "golden": "gold",
    "marble": "marble",
    "ceramic": "ceramic",
    "copper": "copper",
    "crystal": "crystal",
    "jade": "jade",
    "bronze": "bronze",
    "stone": "stone",
    "brick": "brick",
    "gingerbread": "gingerbread",
    "ice": "ice",
}


@dataclass(frozen=True)
class Extra:
    """An element that can be added or removed: `phrase` in the prompt, `noun` to name it."""

    phrase: str
    noun: str
    add: tuple[str, ...]  # instruction phrasings to add it


EXTRAS = {
    "rainbow": Extra(
        "a rainbow arching across the sky",
        "rainbow",
        ("add a rainbow", "put a rainbow in the sky", "let there be a rainbow"),
    ),
    "birds": Extra(
        "a flock of birds flying overhead",
        "birds",
        ("add birds in the sky", "add a flock of birds", "have birds flying above"),
    ),
    "moon": Extra(
        "a huge full moon in the sky",
        "moon",
        ("add a big full moon", "put a full moon in the sky", "add the moon"),
    ),
    "archway": Extra(
        "a crumbling stone archway nearby",
        "archway",
        ("add a stone archway", "put an old archway next to it"),
    ),
    "fireflies": Extra(
        "glowing fireflies drifting around",
        "fireflies",
        ("add fireflies", "fill the air with fireflies", "add some glowing fireflies"),
    ),
    "balloon": Extra(
        "a hot air balloon in the distance",
        "hot air balloon",
        ("add a hot air balloon", "put a hot air balloon in the sky"),
    ),
    "cottage": Extra(
        "a small cottage in the background",
        "cottage",
        ("add a little cottage in the background", "put a house in the back"),
    ),
    "butterflies": Extra(
        "blue butterflies fluttering around",
        "butterflies",
        ("add butterflies", "add some blue butterflies", "surround it with butterflies"),
    ),
    "path": Extra(
        "a winding dirt path", "path", ("add a winding path", "put a dirt path through the scene")
    ),
    "kite": Extra("a red kite flying above", "kite", ("add a red kite in the sky", "add a kite")),
    "petals": Extra(
        "cherry blossom petals drifting in the air",
        "petals",
        ("add falling cherry blossom petals", "have petals floating in the air"),
    ),
    "lantern": Extra(
        "an old lantern glowing on the ground",
        "lantern",
        ("add a glowing lantern", "put an old lantern on the ground"),
    ),
    "waterfall": Extra(
        "a tall waterfall in the background",
        "waterfall",
        ("add a waterfall", "put a waterfall behind it", "add a waterfall in the back"),
    ),
    "ruins": Extra(
        "overgrown ruins in the background",
        "ruins",
        ("add some ruins in the background", "add ancient ruins behind"),
    ),
    "people": Extra(
        "people walking in the background",
        "people",
        ("add people in the background", "add a few passers-by", "put some people walking behind"),
    ),
    "cat_nearby": Extra(
        "a sleeping cat nearby",
        "cat",
        ("add a sleeping cat", "put a cat next to it", "add a cat curled up nearby"),
    ),
    "lighthouse": Extra(
        "a lighthouse on the distant shore",
        "lighthouse",
        ("add a lighthouse on the shore", "put a lighthouse in the distance"),
    ),
    "tea": Extra(
        "a steaming cup of tea beside it",
        "tea",
        ("add a cup of tea", "put a steaming cup of tea next to it"),
    ),
    "flowers": Extra(
        "a bouquet of fresh tulips nearby",
        "tulips",
        ("add some flowers", "put a bouquet of tulips beside it", "add fresh tulips"),
    ),
    "book": Extra(
        "an open leather-bound book nearby",
        "book",
        ("add an open book", "put an old book next to it"),
    ),
    "candle": Extra(
        "a lit candle nearby", "candle", ("add a lit candle", "put a candle beside it")
    ),
    "plant": Extra(
        "a small potted fern nearby",
        "plant",
        ("add a potted plant", "put a little fern next to it"),
    ),
}

# Accessories: item (noun phrase after an optional colour), noun to name it, which groups.
PERSON_ACCESSORIES = (
    ("wool coat", "coat"),
    ("straw hat", "hat"),
    ("wide-brimmed hat", "hat"),
    ("silk scarf", "scarf"),
    ("hooded cloak", "cloak"),
    ("leather jacket", "jacket"),
    ("summer dress", "dress"),
    ("knitted sweater", "sweater"),
    ("beret", "beret"),
    ("backpack", "backpack"),
    ("raincoat", "raincoat"),
    ("flower crown", "flower crown"),
    ("pair of round glasses", "glasses"),
    ("pearl necklace", "necklace"),
)
ANIMAL_ACCESSORIES = (
    ("scarf", "scarf"),
    ("bow tie", "bow tie"),
    ("tiny crown", "crown"),
    ("knitted sweater", "sweater"),
    ("flower collar", "collar"),
)
ACCESSORY_COLOURS = (
    "red",
    "blue",
    "green",
    "yellow",
    "black",
    "white",
    "crimson",
    "navy",
    "emerald",
    "mustard",
    "lavender",
    "orange",
    "pink",
    "grey",
)
# Items whose colour word reads wrong ("a red pair of round glasses") go without a colour.
UNCOLOURED = {"pair of round glasses", "pearl necklace", "flower crown", "tiny crown"}

AGES = {  # age word -> instruction phrasings ({obj} = her/him/them)
    "young": (
        "make {obj} younger",
        "make {obj} look young",
        "de-age {obj}",
        "what if {subj} were in {poss} twenties",
        "make {obj} youthful",
    ),
    "middle-aged": (
        "make {obj} middle-aged",
        "make {obj} look about fifty",
        "age {obj} to middle age",
    ),
    "elderly": (
        "make {obj} old",
        "age {obj} by fifty years",
        "make {obj} look elderly",
        "what would {subj} look like in old age",
        "make {obj} a lot older",
    ),
    "teenage": ("make {obj} a teenager", "make {obj} look sixteen"),
}
EXPRESSIONS = {  # phrase after the noun -> phrasings
    "with a gentle smile": (
        "make {obj} smile",
        "give {obj} a gentle smile",
        "{subj} should be smiling",
        "add a soft smile",
    ),
    "with a wide joyful grin": (
        "make {obj} grin",
        "make {obj} look really happy",
        "give {obj} a big happy grin",
    ),
    "with a serious expression": (
        "make {obj} look serious",
        "give {obj} a stern face",
        "wipe the smile off, make {obj} serious",
    ),
    "with a sad, teary expression": (
        "make {obj} sad",
        "make {obj} look like {subj} is about to cry",
        "give {obj} a sorrowful face",
    ),
    "with a look of surprise": (
        "make {obj} look surprised",
        "give {obj} a shocked expression",
        "{subj} should look astonished",
    ),
    "with a calm, serene expression": ("make {obj} look calm", "give {obj} a peaceful expression"),
    "with an angry scowl": (
        "make {obj} angry",
        "give {obj} an angry scowl",
        "make {obj} look furious",
    ),
    "with a mischievous smirk": ("give {obj} a mischievous smirk", "make {obj} look sly"),
}


@dataclass(frozen=True)
class Choice:
    """A value of a slot (time, weather, season, lighting, style): its prompt phrase and the
    instruction phrasings that ask for it."""

    phrase: str
    asks: tuple[str, ...]
    lights: tuple[str, ...] = ()  # for times of day: lighting that only fits this time


TIMES = {
    "dawn": Choice(
        "at dawn",
        (
            "make it dawn",
            "set it at dawn",
            "change the time to early dawn",
            "what if it were daybreak",
        ),
        ("soft pink dawn light", "pale morning light"),
    ),
    "sunrise": Choice(
        "at sunrise",
        ("make it sunrise", "show the sun rising", "set it at sunrise"),
        ("warm sunrise glow",),
    ),
    "midday": Choice(
        "at midday",
        (
            "make it midday",
            "make it the middle of the day",
            "set it at noon",
            "make it broad daylight",
        ),
        ("bright midday sun", "crisp daylight"),
    ),
    "afternoon": Choice(
        "in the late afternoon",
        ("make it late afternoon", "change the time to the afternoon"),
        ("warm afternoon light",),
    ),
    "golden hour": Choice(
        "at golden hour",
        ("make it golden hour", "set it at golden hour", "shift it to golden hour"),
        ("warm golden light", "long golden shadows"),
    ),
    "sunset": Choice(
        "at sunset",
        (
            "make it sunset",
            "change the time to sunset",
            "have the sun setting",
            "what if it were sunset",
        ),
        ("orange sunset glow", "fiery sunset light"),
    ),
    "twilight": Choice(
        "at twilight",
        ("make it twilight", "make it dusk", "set it at dusk", "change it to twilight"),
        ("deep blue twilight", "soft purple dusk light"),
    ),
    "night": Choice(
        "at night",
        (
            "make it night",
            "what if it were night",
            "change it to nighttime",
            "set it at night",
            "make it nighttime",
            "turn day into night",
        ),
        ("silver moonlight", "cool blue moonlight"),
    ),
    "midnight": Choice(
        "at midnight",
        ("make it midnight", "set it at midnight", "make it the middle of the night"),
        ("pale moonlight", "faint starlight"),
    ),
}
WEATHERS = {
    "rain": Choice(
        "heavy rain",
        (
            "make it rain",
            "add rain",
            "what if it were raining",
            "have it be pouring rain",
            "make it a rainy day",
        ),
    ),
    "snow": Choice(
        "gentle snowfall",
        ("make it snow", "add falling snow", "have it be snowing", "what if it were snowing"),
    ),
    "fog": Choice(
        "thick fog",
        ("make it foggy", "add thick fog", "fill the scene with fog", "make it misty and foggy"),
    ),
    "storm": Choice(
        "raging thunderstorm, lightning",
        ("add a thunderstorm", "make it stormy with lightning", "have a storm rolling in"),
    ),
    "drizzle": Choice(
        "light drizzle", ("add a light drizzle", "make it drizzle", "make it lightly rain")
    ),
    "overcast": Choice(
        "overcast sky", ("make it overcast", "make it a cloudy day", "cover the sky with clouds")
    ),
    "wind": Choice("strong wind", ("make it windy", "add strong wind", "make it a blustery day")),
    "clear": Choice(
        "clear sky", ("make the weather clear", "clear up the sky", "make it a clear day")
    ),
}
SEASONS = {
    "spring": Choice(
        "in spring",
        (
            "make it spring",
            "change the season to spring",
            "what would this look like in spring",
            "make it springtime",
        ),
    ),
    "summer": Choice(
        "in high summer", ("make it summer", "set it in summer", "change the season to summer")
    ),
    "autumn": Choice(
        "in autumn",
        (
            "make it autumn",
            "make it fall",
            "set it in the fall",
            "change the season to autumn",
            "give it autumn colors",
        ),
    ),
    "winter": Choice(
        "in deep winter",
        (
            "make it winter",
            "turn it into a winter scene",
            "change the season to winter",
            "set it in winter",
        ),
    ),
}
MOODS = {  # lighting/mood phrases that fit any time of day
    "dramatic": Choice(
        "dramatic chiaroscuro lighting",
        (
            "give it dramatic lighting",
            "make the lighting more dramatic",
            "add strong contrast of light and shadow",
        ),
    ),
    "cozy": Choice(
        "warm cozy lighting",
        ("make it feel warm and cozy", "make the lighting cozier", "give it a cozy mood"),
    ),
    "eerie": Choice(
        "eerie green glow",
        ("make it eerie", "make it look haunted", "give it a creepy atmosphere", "make it spooky"),
    ),
    "dreamy": Choice(
        "dreamy ethereal glow",
        ("make it dreamy", "give it a magical, ethereal feel", "make it look like a dream"),
    ),
    "neon": Choice(
        "neon lighting, pink and blue glow",
        ("add neon lights", "light it with pink and blue neon", "give it neon lighting"),
    ),
    "moody": Choice(
        "dark moody atmosphere",
        (
            "make it moodier",
            "make it darker and moodier",
            "make it gloomy",
            "give it a melancholic mood",
        ),
    ),
    "cheerful": Choice(
        "bright cheerful lighting",
        ("make it cheerful", "make it brighter and happier", "give it a cheerful mood"),
    ),
    "pastel": Choice(
        "soft pastel lighting", ("make the colors soft and pastel", "give it a soft pastel look")
    ),
    "cinematic": Choice(
        "cinematic lighting", ("make the lighting cinematic", "light it like a movie scene")
    ),
    "godrays": Choice(
        "volumetric god rays",
        ("add god rays", "add rays of light streaming in", "make beams of light shine through"),
    ),
}


@dataclass(frozen=True)
class Style:
    """A medium or movement: `tag` as written in a prompt, `noun` with its article, `name` as a
    person would say it."""

    tag: str
    noun: str
    name: str


STYLES = (
    Style("digital painting", "a digital painting", "digital art"),
    Style("oil painting", "an oil painting", "an oil painting"),
    Style("watercolor painting", "a watercolor painting", "a watercolor"),
    Style("35mm film photograph", "a 35mm film photograph", "a photo"),
    Style("pencil sketch", "a pencil sketch", "a pencil drawing"),
    Style("ink illustration", "an ink illustration", "an ink drawing"),
    Style("3d render, octane render", "a 3d render", "a 3D render"),
    Style("anime style illustration", "an anime style illustration", "anime"),
    Style("pixel art", "a pixel art piece", "pixel art"),
    Style("ukiyo-e woodblock print", "a ukiyo-e woodblock print", "a Japanese woodblock print"),
    Style("stained glass artwork", "a stained glass artwork", "stained glass"),
    Style("charcoal drawing", "a charcoal drawing", "a charcoal drawing"),
    Style("claymation style", "a claymation scene", "claymation"),
    Style("low poly 3d art", "a low poly 3d artwork", "low poly"),
    Style("art nouveau poster", "an art nouveau poster", "art nouveau"),
    Style("impressionist painting", "an impressionist painting", "impressionism"),
    Style("vintage travel poster", "a vintage travel poster", "a retro travel poster"),
    Style("gouache illustration", "a gouache illustration", "gouache"),
    Style("papercut art", "a layered papercut artwork", "paper cut-out art"),
    Style("polaroid photograph", "a polaroid photograph", "a polaroid"),
    Style(
        "children's book illustration",
        "a children's book illustration",
        "a children's book illustration",
    ),
    Style("comic book art", "a comic book panel", "a comic"),
    Style("cinematic photograph, 50mm lens", "a cinematic photograph", "a cinematic photo"),
    Style("matte painting", "a matte painting", "a matte painting"),
)
QUALITY_TAGS = (
    "highly detailed",
    "intricate",
    "sharp focus",
    "artstation",
    "trending on artstation",
    "8k",
    "4k",
    "masterpiece",
    "best quality",
    "hyperdetailed",
    "elegant",
    "smooth",
    "beautiful composition",
    "vibrant colors",
    "award winning",
    "unreal engine",
    "depth of field",
    "fine details",
    "rich textures",
    "soft focus background",
)

# Instruction phrasings per category. Placeholders: {old} {new} (noun phrases), {ref}
# (the subject: "the horse", "her"), {name}, {noun} (a thing in the scene).
REPLACE_ASKS = (
    "turn {the_old} into {a_new}",
    "replace {the_old} with {a_new}",
    "make {the_old} {a_new}",
    "swap {the_old} for {a_new}",
    "change {the_old} to {a_new}",
    "what if it were {a_new} instead of {a_old}",
    "make it {a_new} instead",
    "have {a_new} instead of {the_old}",
    "I want {a_new} there instead",
)
COLOUR_ASKS = (
    "make {the_noun} {colour}",
    "change the colour of {the_noun} to {colour}",
    "paint {the_noun} {colour}",
    "turn {the_noun} {colour}",
    "recolor {the_noun} {colour}",
    "what if {the_noun} were {colour}",
    "I'd like {the_noun} to be {colour}",
)
MATERIAL_ASKS = (
    "make {the_noun} out of {material}",
    "turn {the_noun} into {material}",
    "what if {the_noun} were made of {material}",
    "change the material to {material}",
    "make it {adjective} instead",
    "have {the_noun} be made of {material}",
)
STYLE_ASKS = (
    "make it {name}",
    "turn this into {noun}",
    "make it look like {noun}",
    "render it as {noun}",
    "change the medium to {name}",
    "redo it as {noun}",
    "what would it look like as {noun}",
    "convert it to {name}",
    "switch the style to {name}",
)
LOCATION_ASKS = (
    "move {ref} {setting}",
    "change the background to {place}",
    "put {ref} {setting}",
    "place {ref} {setting}",
    "what if {subj} were {setting}",
    "set it {setting}",
    "have it be {setting}",
    "swap the background for {place}",
)
REMOVE_ASKS = (
    "remove the {noun}",
    "get rid of the {noun}",
    "take away the {noun}",
    "delete the {noun}",
    "no {noun}",
    "without the {noun}",
    "erase the {noun}",
)
ACCESSORY_ADD_ASKS = (
    "give {ref} {a_item}",
    "put {a_item} on {ref}",
    "add {a_item}",
    "dress {ref} in {a_item}",
    "have {ref} wear {a_item}",
)
ACCESSORY_REMOVE_ASKS = (
    "take off {poss} {noun}",
    "remove {poss} {noun}",
    "get rid of the {noun}",
    "no {noun}",
    "lose the {noun}",
)
COUNT_WORDS = {1: "a single", 2: "two", 3: "three", 4: "four", 5: "five"}
COUNT_UP_ASKS = (
    "make it {count} {plural}",
    "show {count} {plural} instead of one",
    "add more {plural}, {count} in total",
    "make there be {count} {plural}",
    "I want {count} {plural}",
)
COUNT_CHANGE_ASKS = (
    "make it {count} {plural}",
    "change the number of {plural} to {count}",
    "show {count} {plural} instead",
    "I want {count} {plural}",
)
COUNT_ONE_ASKS = (
    "make it just one {noun}",
    "leave only a single {noun}",
    "only one {noun}",
    "reduce it to one {noun}",
    "keep just one {noun}",
)
WEATHER_CLEAR_ASKS = (
    "stop the {noun}",
    "get rid of the {noun}",
    "clear up the weather",
    "make the weather fine",
    "end the {noun}",
)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _with_article(phrase: str) -> str:
    return f"{_article(phrase)} {phrase}"


# ---------------------------------------------------------------------------------------------
# Scenes


@dataclass(frozen=True)
class Scene:
    """Everything a generated prompt says, slot by slot; `render` turns it into text."""

    group: str
    subject: Subject
    count: int
    adjective: str | None
    age: str | None
    colour: str | None
    material: str | None
    expression: str | None
    accessories: tuple[tuple[str | None, str, str], ...]  # (colour, item, noun)
    action: str
    setting: str
    extra: str | None  # key of EXTRAS
    time: str  # key of TIMES
    weather: str | None
    season: str | None
    lighting: str
    style: Style
    tags: tuple[str, ...]
    layout: int

    def noun_phrase(self, with_count: bool = True) -> str:
        noun = self.subject.noun if self.count == 1 else self.subject.plural
        words = [self.adjective, self.age, self.colour, self.material, noun]
        core = " ".join(word for word in words if word)
        if not with_count:
            return core
        if self.count == 1:
            return _with_article(core)
        return f"{COUNT_WORDS[self.count]} {core}"

    def subject_text(self) -> str:
        parts = [self.noun_phrase()]
        if self.expression:
            parts.append(self.expression)
        if self.accessories:
            items = [
                _with_article(" ".join(word for word in (colour, item) if word))
                if not item.startswith("pair")
                else f"a {item}"
                for colour, item, _ in self.accessories
            ]
            parts.append("wearing " + " and ".join(items))
        if self.action:
            parts.append(self.action)
        return " ".join(parts)

    def render(self) -> str:
        """Return the prompt text of this scene in its layout."""
        extra = f"with {EXTRAS[self.extra].phrase}" if self.extra else None
        time = TIMES[self.time].phrase
        weather = WEATHERS[self.weather].phrase if self.weather else None
        season = SEASONS[self.season].phrase if self.season else None
        tags = ", ".join(self.tags)
        if self.layout == 0:
            head = f"{self.subject_text()} {self.setting} {time}"
            rest = [extra, weather, season, self.lighting, self.style.tag, tags]
        elif self.layout == 1:
            head = f"{self.style.noun} of {self.subject_text()} {self.setting}"
            rest = [extra, time, season, weather, self.lighting, tags]
        elif self.layout == 2:
            head = f"{self.subject_text()}, {self.setting}"
            rest = [extra, time, weather, season, self.lighting, self.style.tag, tags]
        else:
            head = f"beautiful {self.style.tag} of {self.subject_text()} {self.setting} {time}"
            rest = [extra, season, weather, self.lighting, tags]
        return ", ".join([head] + [part for part in rest if part])

    def reference(self) -> str:
        """How an instruction names the subject: "the horse", "the foxes", "her"."""
        if self.group == "person" and self.count == 1 and self.subject.pronoun != ("they", "them"):
            return self.subject.pronoun[1]
        if self.group == "person" and self.count > 1:
            return "them"
        return "the " + (self.subject.noun if self.count == 1 else self.subject.plural)

    def pronouns(self) -> dict[str, str]:
        if self.count > 1:
            return {"subj": "they", "obj": "them", "poss": "their"}
        subj, obj = self.subject.pronoun
        poss = {"she": "her", "he": "his", "they": "their"}.get(subj, "its")
        return {"subj": subj, "obj": obj, "poss": poss}


def random_scene(rng: random.Random, group: Group | None = None) -> Scene:
    """Return a random scene of `group` (any group when None)."""
    group = group or rng.choice(GROUPS)
    person = group.name == "person"
    time = rng.choice(list(TIMES))
    if rng.random() < 0.55:
        lighting = rng.choice(TIMES[time].lights)
    else:
        lighting = MOODS[rng.choice(list(MOODS))].phrase
    accessories: tuple = ()
    if group.accessories and rng.random() < (0.6 if person else 0.2):
        accessories = (_random_accessory(rng, group),)
    subject = rng.choice(group.subjects)
    can_age = person and subject.noun not in ("girl", "boy")
    setting = rng.choice(group.settings)
    outdoor = group.outdoor and setting not in INDOOR_SETTINGS
    material = rng.choice(group.materials) if group.materials and rng.random() < 0.6 else None
    colourable = group.colours and material not in SELF_COLOURED
    return Scene(
        group=group.name,
        subject=subject,
        count=rng.choice((1, 1, 1, 1, 2, 3)),
        adjective=rng.choice(group.adjectives) if rng.random() < 0.8 else None,
        age=rng.choice(list(AGES)) if can_age and rng.random() < 0.6 else None,
        colour=rng.choice(group.colours) if colourable and rng.random() < 0.5 else None,
        material=material,
        expression=rng.choice(list(EXPRESSIONS)) if person and rng.random() < 0.5 else None,
        accessories=accessories,
        action=rng.choice(group.actions),
        setting=setting,
        extra=rng.choice(group.extras) if rng.random() < 0.35 else None,
        time=time,
        weather=rng.choice(list(WEATHERS)) if outdoor and rng.random() < 0.3 else None,
        season=rng.choice(list(SEASONS)) if outdoor and rng.random() < 0.3 else None,
        lighting=lighting,
        style=rng.choice(STYLES),
        tags=tuple(rng.sample(QUALITY_TAGS, rng.randint(2, 4))),
        layout=rng.randrange(4),
    )


def _random_accessory(rng: random.Random, group: Group) -> tuple[str | None, str, str]:
    item, noun = rng.choice(PERSON_ACCESSORIES if group.name == "person" else ANIMAL_ACCESSORIES)
    colour = None if item in UNCOLOURED else rng.choice(ACCESSORY_COLOURS)
    return (colour, item, noun)


# ---------------------------------------------------------------------------------------------
# Edits: each returns (edited scene, instruction) or None when it does not apply to the scene.

Edit = tuple[Scene, str]


def _fill(rng: random.Random, asks: tuple[str, ...], **values: str) -> str:
    return rng.choice(asks).format(**values)


def edit_replace(scene: Scene, rng: random.Random) -> Edit | None:
    group = GROUPS_BY_NAME[scene.group]
    choices = [s for s in group.subjects if s != scene.subject]
    new = rng.choice(choices)
    edited = dataclasses.replace(scene, subject=new)
    if edited.group == "person" and new.noun in ("girl", "boy"):
        edited = dataclasses.replace(edited, age=None)
    # Name the subjects by noun alone: the instruction is about what it is, not its adjectives.
    if scene.count == 1:
        values = {
            "the_old": f"the {scene.subject.noun}",
            "a_old": _with_article(scene.subject.noun),
            "a_new": _with_article(new.noun),
        }
    else:
        values = {
            "the_old": f"the {scene.subject.plural}",
            "a_old": scene.subject.plural,
            "a_new": new.plural,
        }
    return edited, _fill(rng, REPLACE_ASKS, **values)


def edit_add(scene: Scene, rng: random.Random) -> Edit | None:
    group = GROUPS_BY_NAME[scene.group]
    if group.accessories and len(scene.accessories) < 2 and rng.random() < 0.5:
        colour, item, noun = _random_accessory(rng, group)
        if any(noun == existing[2] for existing in scene.accessories):
            return None
        edited = dataclasses.replace(scene, accessories=scene.accessories + ((colour, item, noun),))
        said = " ".join(word for word in (colour, item) if word)
        a_item = f"a {said}" if said.startswith("pair") else _with_article(said)
        if scene.count > 1:
            a_item = said if said.startswith("pair") else f"{said}s"
        values = {"ref": scene.reference(), "a_item": a_item}
        return edited, _fill(rng, ACCESSORY_ADD_ASKS, **values)
    if scene.extra is not None:
        return None
    key = rng.choice(group.extras)
    if key == "cat_nearby" and scene.subject.noun == "cat":
        return None
    return dataclasses.replace(scene, extra=key), rng.choice(EXTRAS[key].add)


def edit_remove(scene: Scene, rng: random.Random) -> Edit | None:
    if scene.accessories and (scene.extra is None or rng.random() < 0.5):
        index = rng.randrange(len(scene.accessories))
        noun = scene.accessories[index][2]
        kept = scene.accessories[:index] + scene.accessories[index + 1 :]
        values = {"poss": scene.pronouns()["poss"], "noun": noun}
        return dataclasses.replace(scene, accessories=kept), _fill(
            rng, ACCESSORY_REMOVE_ASKS, **values
        )
    if scene.extra is None:
        return None
    noun = EXTRAS[scene.extra].noun
    return dataclasses.replace(scene, extra=None), _fill(rng, REMOVE_ASKS, noun=noun)


def edit_colour(scene: Scene, rng: random.Random) -> Edit | None:
    group = GROUPS_BY_NAME[scene.group]
    coloured = [i for i, (colour, _, _) in enumerate(scene.accessories) if colour]
    if coloured and (not group.colours or rng.random() < 0.6):
        index = rng.choice(coloured)
        old, item, noun = scene.accessories[index]
        new = rng.choice([c for c in ACCESSORY_COLOURS if c != old])
        accessories = list(scene.accessories)
        accessories[index] = (new, item, noun)
        the_noun = f"{scene.pronouns()['poss']} {noun}"
        edited = dataclasses.replace(scene, accessories=tuple(accessories))
        return edited, _fill(rng, COLOUR_ASKS, the_noun=the_noun, colour=new)
    if not group.colours or scene.material in SELF_COLOURED:
        return None
    new = rng.choice([c for c in group.colours if c != scene.colour])
    the_noun = "the " + (scene.subject.noun if scene.count == 1 else scene.subject.plural)
    edited = dataclasses.replace(scene, colour=new)
    return edited, _fill(rng, COLOUR_ASKS, the_noun=the_noun, colour=new)


def edit_material(scene: Scene, rng: random.Random) -> Edit | None:
    group = GROUPS_BY_NAME[scene.group]
    if not group.materials:
        return None
    choices = [m for m in group.materials if m != scene.material]
    if scene.colour:
        choices = [m for m in choices if m not in SELF_COLOURED]
    new = rng.choice(choices)
    the_noun = "the " + (scene.subject.noun if scene.count == 1 else scene.subject.plural)
    edited = dataclasses.replace(scene, material=new)
    values = {"the_noun": the_noun, "material": MATERIALS[new], "adjective": new}
    return edited, _fill(rng, MATERIAL_ASKS, **values)


def edit_style(scene: Scene, rng: random.Random) -> Edit | None:
    new = rng.choice([s for s in STYLES if s != scene.style])
    return dataclasses.replace(scene, style=new), _fill(
        rng, STYLE_ASKS, name=new.name, noun=new.noun
    )


def edit_weather(scene: Scene, rng: random.Random) -> Edit | None:
    if not GROUPS_BY_NAME[scene.group].outdoor or scene.setting in INDOOR_SETTINGS:
        return None
    if scene.weather not in (None, "clear", "overcast", "wind") and rng.random() < 0.25:
        noun = {
            "rain": "rain",
            "snow": "snow",
            "fog": "fog",
            "storm": "storm",
            "drizzle": "drizzle",
        }[scene.weather]
        edited = dataclasses.replace(scene, weather="clear")
        return edited, _fill(rng, WEATHER_CLEAR_ASKS, noun=noun)
    choices = [w for w in WEATHERS if w not in (scene.weather, "clear")]
    if scene.season == "summer" and "snow" in choices:
        choices.remove("snow")
    new = rng.choice(choices)
    return dataclasses.replace(scene, weather=new), rng.choice(WEATHERS[new].asks)


def edit_season(scene: Scene, rng: random.Random) -> Edit | None:
    if not GROUPS_BY_NAME[scene.group].outdoor or scene.setting in INDOOR_SETTINGS:
        return None
    new = rng.choice([s for s in SEASONS if s != scene.season])
    weather = scene.weather
    if new == "summer" and weather == "snow":
        weather = None
    edited = dataclasses.replace(scene, season=new, weather=weather)
    return edited, rng.choice(SEASONS[new].asks)


def edit_time(scene: Scene, rng: random.Random) -> Edit | None:
    new = rng.choice([t for t in TIMES if t != scene.time])
    lighting = scene.lighting
    # A light that belongs to the old time of day ("orange sunset glow") changes with it.
    if lighting in TIMES[scene.time].lights:
        lighting = rng.choice(TIMES[new].lights)
    edited = dataclasses.replace(scene, time=new, lighting=lighting)
    return edited, rng.choice(TIMES[new].asks)


def edit_location(scene: Scene, rng: random.Random) -> Edit | None:
    group = GROUPS_BY_NAME[scene.group]
    choices = [s for s in group.settings if s != scene.setting]
    if scene.weather or scene.season:  # weather needs the sky: stay outdoors
        choices = [s for s in choices if s not in INDOOR_SETTINGS]
    new = rng.choice(choices)
    place = new.split(" ", 1)[1]  # "in a misty meadow" -> "a misty meadow"
    for preposition in ("the edge of ", "front of ", "the "):
        if place.startswith(preposition) and preposition != "the ":
            place = place[len(preposition) :]
    values = {"ref": scene.reference(), "setting": new, "place": place, **scene.pronouns()}
    return dataclasses.replace(scene, setting=new), _fill(rng, LOCATION_ASKS, **values)


def edit_lighting(scene: Scene, rng: random.Random) -> Edit | None:
    key = rng.choice([k for k, mood in MOODS.items() if mood.phrase != scene.lighting])
    return dataclasses.replace(scene, lighting=MOODS[key].phrase), rng.choice(MOODS[key].asks)


def edit_age_expression(scene: Scene, rng: random.Random) -> Edit | None:
    if scene.group != "person":
        return None
    values = scene.pronouns()
    can_age = scene.subject.noun not in ("girl", "boy")
    if can_age and rng.random() < 0.5:
        new = rng.choice([age for age in AGES if age != scene.age])
        if new == "teenage" and scene.count > 1:
            return None
        return dataclasses.replace(scene, age=new), _fill(rng, AGES[new], **values)
    new = rng.choice([e for e in EXPRESSIONS if e != scene.expression])
    return dataclasses.replace(scene, expression=new), _fill(rng, EXPRESSIONS[new], **values)


def edit_count(scene: Scene, rng: random.Random) -> Edit | None:
    noun, plural = scene.subject.noun, scene.subject.plural
    if scene.count == 1:
        new = rng.choice((2, 3, 4, 5))
        asks = COUNT_UP_ASKS
    elif rng.random() < 0.4:
        new = 1
        asks = COUNT_ONE_ASKS
    else:
        new = rng.choice([n for n in (2, 3, 4, 5) if n != scene.count])
        asks = COUNT_CHANGE_ASKS
    edited = dataclasses.replace(scene, count=new)
    return edited, _fill(rng, asks, count=COUNT_WORDS[new], plural=plural, noun=noun)


EDITS: dict[str, Callable[[Scene, random.Random], Edit | None]] = {
    "replace": edit_replace,
    "add": edit_add,
    "remove": edit_remove,
    "colour": edit_colour,
    "material": edit_material,
    "style": edit_style,
    "weather": edit_weather,
    "season": edit_season,
    "time_of_day": edit_time,
    "location": edit_location,
    "lighting": edit_lighting,
    "age_expression": edit_age_expression,
    "count": edit_count,
}


def _polish(instruction: str, rng: random.Random) -> str:
    # People type instructions in different ways; vary case and ending a little.
    roll = rng.random()
    if roll < 0.35:
        instruction = instruction[0].upper() + instruction[1:]
    if rng.random() < 0.15:
        instruction += "."
    elif rng.random() < 0.05:
        instruction += " please"
    return instruction


# ---------------------------------------------------------------------------------------------
# The sample


@dataclass
class SampleConfig:
    """Sizes of the authored sample; defaults give >= 2,000 train and >= 200 test rows."""

    seed: int = field(default=0, metadata={"help": "seed of the generator and the split"})
    num_generated: int = field(default=2500, metadata={"help": "generated rows before dedupe"})
    test_fraction: float = field(default=0.1, metadata={"help": "share of rows in test"})
    handwritten: Path | None = field(
        default=None, metadata={"help": "hand-written rows to mix in (JSONL)"}
    )


def generate_triplets(num_rows: int, seed: int = 0) -> list[Triplet]:
    """Return `num_rows` generated triplets, the categories in equal turns, seeded."""
    rng = random.Random(seed)
    rows: list[Triplet] = []
    attempts = 0
    while len(rows) < num_rows:
        attempts += 1
        if attempts > num_rows * 50:  # a vocabulary bug, not bad luck
            raise RuntimeError("the sample generator cannot find scenes for every category")
        category = CATEGORIES[len(rows) % len(CATEGORIES)]
        scene = random_scene(rng)
        result = EDITS[category](scene, rng)
        if result is None:
            continue
        edited, instruction = result
        raw_prompt, target_prompt = scene.render(), edited.render()
        if raw_prompt == target_prompt:
            continue
        rows.append(
            Triplet(raw_prompt, _polish(instruction, rng), target_prompt, category, "generated")
        )
    return rows


def default_handwritten_path() -> Path:
    """Return assets/instructpe/handwritten.jsonl of this checkout."""
    return Path(__file__).resolve().parent.parent / "assets" / "instructpe" / "handwritten.jsonl"


def build_sample(config: SampleConfig) -> tuple[list[Triplet], list[Triplet]]:
    """Return (train, test) of the authored sample: generated + hand-written, deduplicated,
    split with no raw prompt on both sides."""
    rows = generate_triplets(config.num_generated, config.seed)
    handwritten = config.handwritten or default_handwritten_path()
    if Path(handwritten).is_file():
        rows += load_triplets(handwritten)
    rows = deduplicate(rows)
    return split_train_test(rows, config.test_fraction, config.seed)
