"""The instruction reader's literal edit (core.literal_edit), on hand-worked instructions."""

import pytest

from core.instructions import check_edit, read_instruction
from core.literal_edit import literal_edit

EDITS = [
    # replace: the new thing stands where the old one stood, with the article fixed; "a red
    # fox" is one thing to WordNet, so the wolf is not red (session 15; before, "a red wolf")
    ("a red fox in snow, photo", "make the fox a wolf", "a wolf in snow, photo"),
    (
        "a kid riding a bike down a country road, 35mm photo",
        "swap the bike for an old horse",
        "a kid riding an old horse down a country road, 35mm photo",
    ),
    (
        "an astronaut holding a coffee mug, 8k",
        "replace the coffee mug with a bouquet of daisies",
        "an astronaut holding a bouquet of daisies, 8k",
    ),
    # a new slot value replaces the old one, and the old value's adjectives go with it
    ("a park bench in spring, watercolor", "make it winter", "a park bench in winter, watercolor"),
    ("a red door in a white wall", "make the door blue", "a blue door in a white wall"),
    (
        "a girl on a bridge, heavy rain, anime",
        "make it sunny",
        "a girl on a bridge, sunny, anime",
    ),
    # a medium change drops the other medium's tags
    (
        "a red fox in a snowy field, 35mm photo, bokeh",
        "make it a watercolor",
        "a red fox in a snowy field, a watercolor",
    ),
    # remove: a clause of its own, or the linked phrase inside the first clause
    (
        "a street market, colorful spices, a man on a scooter, golden hour",
        "lose the man on the scooter",
        "a street market, colorful spices, golden hour",
    ),
    (
        "a cowboy wearing a hat leaning on a fence, sunset",
        "without the hat",
        "a cowboy leaning on a fence, sunset",
    ),
    ("a dog and a cat on a sofa", "remove the cat", "a dog on a sofa"),
    ("a fox asleep on a porch, 35mm photo", "remove the porch", "a fox asleep, 35mm photo"),
    # a word derived from the removed thing goes alone
    (
        "a rainy street in tokyo, neon reflections, night",
        "no more rain",
        "a street in tokyo, neon reflections, night",
    ),
    # add: after the first clause; "give" reads as "with"
    (
        "a quiet mountain lake at sunrise, oil painting",
        "add a canoe",
        "a quiet mountain lake at sunrise, a canoe, oil painting",
    ),
    (
        "a king on his throne, renaissance painting",
        "give him a crown",
        "a king with a crown on his throne, renaissance painting",
    ),
    # the old medium's tags go (core/reader_words.json), also where they hold the old word
    (
        "a samurai cat drinking tea, anime style, cel shading, vibrant",
        "oil painting please",
        "a samurai cat drinking tea, oil painting, vibrant",
    ),
    ("a bowl of ramen, pixel art, 8-bit", "make it claymation", "a bowl of ramen, claymation"),
    (
        "3d render of a cute mushroom house, octane render, blender, soft lighting",
        "make it a pencil drawing",
        "a pencil drawing of a cute mushroom house, soft lighting",
    ),
    (
        "an ink drawing of a koi pond, sumi-e, minimal",
        "make it a 35mm photo",
        "a 35mm photo of a koi pond, minimal",
    ),
    (
        "a black and white photo of a jazz trio in a smoky club, 1950s, film grain",
        "turn it into a comic book panel",
        "a comic book panel of a jazz trio in a smoky club, 1950s",
    ),
    # words bound to the old season go, with their clause where they name a thing
    (
        "a mountain village in winter, snow on the roofs, smoke from chimneys, photo",
        "make it spring",
        "a mountain village in spring, smoke from chimneys, photo",
    ),
    (
        "a fox cub in a flower meadow, spring, national geographic photo",
        "winter",
        "a fox cub in a meadow, winter, national geographic photo",
    ),
    # one mood, one expression: the old one gives way
    (
        "a rainy window with a cup of tea, melancholic, lo-fi illustration",
        "make it cozy",
        "a rainy window with a cup of tea, cozy, lo-fi illustration",
    ),
    (
        "a businessman in a suit waiting for a train, smiling, 35mm",
        "change the businessman's expression to worried",
        "a businessman in a suit waiting for a train, worried, 35mm",
    ),
    # the scene moves: the new place phrase takes the old one's place, or follows the subject
    (
        "a grand piano in a living room, soft light",
        "put the piano in the middle of a forest",
        "a grand piano in the middle of a forest, soft light",
    ),
    # the last "in" place of the subject clause; an "on" support stays for a move "in"
    (
        "a cabin perched on a cliff in a kitchen, birds",
        "move it in a flower field",
        "a cabin perched on a cliff in a flower field, birds",
    ),
    (
        "a library perched on a cliff, at twilight",
        "place it in a subway station",
        "a library perched on a cliff in a subway station, at twilight",
    ),
    (
        "a golden retriever catching a frisbee in a park",
        "move it to the beach",
        "a golden retriever catching a frisbee on the beach",
    ),
    (
        "an astronaut holding daisies, rim light",
        "put him on the moon",
        "an astronaut holding daisies on the moon, rim light",
    ),
    # a named camera angle is the new value, though none of its words is a content word
    (
        "a busy market street in hanoi, 50mm, eye level",
        "shoot it from above",
        "a busy market street in hanoi, 50mm, from above",
    ),
    # one weather replaces another, and the words bound to it go
    (
        "tokyo alley at night, wet pavement after rain, cyberpunk",
        "turn the rain into snow",
        "tokyo alley at night, after snow, cyberpunk",
    ),
    # a new count takes the place of the old one and its quantity words
    (
        "a group of penguins on an ice floe, documentary photo",
        "just two penguins",
        "two penguins on an ice floe, documentary photo",
    ),
    (
        "a bird on a wire, minimal photo",
        "make it three birds",
        "three birds on a wire, minimal photo",
    ),
    ("a cat and three kittens on a rug", "make it two kittens", "a cat and two kittens on a rug"),
    (
        "two astronauts playing cards on the moon",
        "just one astronaut",
        "one astronaut playing cards on the moon",
    ),
    # one hairstyle: the edited person's first
    (
        "a woman with long hair and a man with short hair",
        "give her a ponytail",
        "a woman with a ponytail and a man with short hair",
    ),
    (
        "a sleepy village street, terracotta roofs, 50mm photo",
        "make it more lively",
        "a more lively village street, terracotta roofs, 50mm photo",
    ),
    # one camera angle, shot size, lens and composition at a time
    (
        "a portrait of an old fisherman, wide shot, harsh light",
        "make it a close-up",
        "a portrait of an old fisherman, a close-up, harsh light",
    ),
    (
        "a cat on a sofa, 35mm lens, photo",
        "switch to a telephoto lens",
        "a cat on a sofa, a telephoto lens, photo",
    ),
    (
        "a girl reading under a tree, low angle, watercolor",
        "make it eye level",
        "a girl reading under a tree, eye level, watercolor",
    ),
    # compound: each part in turn
    (
        "a lighthouse on a cliff, sunny day, oil painting",
        "add a moon and make it night",
        "a lighthouse on a cliff, a moon, night, oil painting",
    ),
    # one lighting at a time
    (
        "a baby koala in a eucalyptus tree, soft daylight, wildlife photo",
        "golden backlight",
        "a baby koala in a eucalyptus tree, golden backlight, wildlife photo",
    ),
    # a tag spread over two clauses is no tag: "35mm, film grain" holds no "35mm film"
    (
        "a man playing violin on a subway platform, 35mm, film grain",
        "make it a pencil sketch",
        "a man playing violin on a subway platform, a pencil sketch",
    ),
    # a photo's genre goes with it; motion blur is a photo's
    (
        "a bowl of ramen on a wooden counter, steam, food photography",
        "make it an anime illustration",
        "a bowl of ramen on a wooden counter, steam, an anime illustration",
    ),
    (
        "a chef tossing noodles in a wok, busy kitchen, 35mm, motion blur",
        "make it a comic book panel",
        "a chef tossing noodles in a wok, busy kitchen, a comic book panel",
    ),
    # the replaced thing's kind goes with it, its adjectives stay, the new words it repeats
    # are not doubled
    (
        "an astronaut holding a coffee mug, dramatic rim light",
        "replace the mug with a bouquet of daisies",
        "an astronaut holding a bouquet of daisies, dramatic rim light",
    ),
    (
        "a red car parked on a street",
        "replace the car with a bike",
        "a red bike parked on a street",
    ),
    # "make the X Y": a new attribute goes in front of X, a new material takes the old one's
    # place, other things take X's place
    (
        "a tiny frog on a lily pad, macro photography",
        "make the frog bright blue",
        "a tiny bright blue frog on a lily pad, macro photography",
    ),
    (
        "an old velvet armchair by a fireplace",
        "make the velvet dark green",
        "an old dark green velvet armchair by a fireplace",
    ),
    (
        "a blacksmith at an anvil, oil painting",
        "make the blacksmith female",
        "a female blacksmith at an anvil, oil painting",
    ),
    (
        "a marble statue of a horse in a museum",
        "make the statue bronze",
        "a bronze statue of a horse in a museum",
    ),
    ("a plastic chair on a balcony", "make the chair glass", "a glass chair on a balcony"),
    (
        "a motorcycle with a cherry red tank, tall grass",
        "make the tank matte black",
        "a motorcycle with a matte black tank, tall grass",
    ),
    (
        "robot florist arranging tulips in a tiny shop",
        "make the tulips sunflowers",
        "robot florist arranging sunflowers in a tiny shop",
    ),
    (
        "a tokyo crosswalk at night, a giant koi hologram above the street",
        "jellyfish hologram instead of the koi",
        "a tokyo crosswalk at night, a giant jellyfish hologram above the street",
    ),
    (
        "a giant mushroom in a forest, 3d render",
        "make the mushroom normal sized",
        "a normal sized mushroom in a forest, 3d render",
    ),
    (
        "a single paper lantern over a river, photo",
        "lots of lanterns",
        "lots of paper lanterns over a river, photo",
    ),
    ("a red kite over a green field", "make it three kites", "three red kites over a green field"),
    ("a flock of white sheep on a hill", "make it one sheep", "one white sheep on a hill"),
    (
        "a lone wolf howling on a hill, full moon",
        "make it several wolves",
        "several wolves howling on a hill, full moon",
    ),
    ("a narrow alley in tokyo, neon signs", "wider", "a wide alley in tokyo, neon signs"),
    (
        "a beach under a clear blue sky, kids playing, photo",
        "make it rain",
        "a beach, rain, kids playing, photo",
    ),
    (
        "a study, old maps, cool window light, oil painting",
        "make it lit by one candle",
        "a study, old maps, lit by one candle, oil painting",
    ),
    # session 8: an antonym gives way ("calm" for stormy), also on a compound noun (campfire)
    (
        "a rowing boat on a calm lake, dusk",
        "make it stormy",
        "a rowing boat on a stormy lake, dusk",
    ),
    (
        "a tiny bonfire in a forest clearing",
        "make the fire larger",
        "a larger bonfire in a forest clearing",
    ),
    # a move to a new place replaces the old one, whatever its preposition
    (
        "a caravan of trucks driving through a jungle, photo",
        "move the trucks to a frozen lake",
        "a caravan of trucks driving in a frozen lake, photo",
    ),
    (
        "a fox sitting on a rooftop, autumn",
        "put the fox in a wheat field instead",
        "a fox sitting in a wheat field, autumn",
    ),
    # a new outfit takes the old one's place; a hat is worn beside it
    (
        "a butler in a black waistcoat pouring wine",
        "put the butler in a kimono",
        "a butler in a kimono pouring wine",
    ),
    (
        "a singer wearing a sequined gown on stage",
        "change her gown to a leather jacket",
        "a singer wearing a leather jacket on stage",
    ),
    (
        "a bride in a white gown on the steps",
        "add a man in a grey coat",
        "a bride in a white gown on the steps, a man in a grey coat",
    ),
    (
        "a farmer in overalls by a barn",
        "give him a straw hat",
        "a farmer with a straw hat in overalls by a barn",
    ),
    # remove: the adjectives of the removed thing, its participle and a dangling "and" go too
    (
        "a temple courtyard with dense smoke and bronze bells, photo",
        "get rid of the smoke",
        "a temple courtyard with bronze bells, photo",
    ),
    ("a statue draped in ivy, museum garden", "no more ivy", "a statue, museum garden"),
    (
        "a pirate with a wooden leg and a parrot, oil painting",
        "take the parrot off the pirate",
        "a pirate with a wooden leg, oil painting",
    ),
    # a gerund that takes the removed thing goes with it; an adjective in -ing does not
    ("a tram crossing an iron bridge, dusk", "remove the bridge", "a tram, dusk"),
    ("a monk reading a glowing scroll in a cave", "remove the scroll", "a monk in a cave"),
    # one material at a time, also where WordNet defines the old one as "made of" (wooden)
    ("a wooden bench in a park, photo", "make the bench stone", "a stone bench in a park, photo"),
    ("a woolen hat on a peg", "make the hat leather", "a leather hat on a peg"),
    # a shade WordNet lists apart is still a colour
    ("a yellow canoe on a lake", "paint the canoe pale green", "a pale green canoe on a lake"),
    # a light change replaces the light tag; a new position the old one
    (
        "a violinist on a balcony, soft window light, film photo",
        "make the lighting harsh with deep shadows",
        "a violinist on a balcony, harsh lighting with deep shadows, film photo",
    ),
    (
        "a deer in a clearing, rim lighting, photo",
        "backlit please",
        "a deer in a clearing, backlit, photo",
    ),
    (
        "a red balloon in the center of an empty room",
        "move the balloon to the right side",
        "a red balloon on the right side of an empty room",
    ),
    # "X instead" replaces the prompt's thing of the same kind
    ("a glass of milk on a kitchen table", "juice instead", "a glass of juice on a kitchen table"),
    (
        "a jazz musician playing a trumpet, smoky club",
        "a saxophone instead",
        "a jazz musician playing a saxophone, smoky club",
    ),
]


@pytest.mark.parametrize(("prompt", "instruction", "expected"), EDITS)
def test_literal_edit_carries_out_the_reading(prompt, instruction, expected):
    edited = literal_edit(prompt, instruction)
    assert edited == expected
    assert check_edit(prompt, instruction, edited).ok


@pytest.mark.parametrize(
    ("prompt", "instruction"),
    [
        ("a castle on a hill, oil painting", "make it better"),  # vague: nothing to gain
        ("a deer in a forest clearing, photo", "remove the deer"),  # the subject itself
        ("a castle on a hill, oil painting", "remove the dragon"),  # nothing to remove
        ("a fishing boat on a rough sea", "make the sea rougher"),  # relative, no new word
    ],
)
def test_literal_edit_declines_what_it_cannot_do(prompt, instruction):
    assert literal_edit(prompt, instruction) is None


@pytest.mark.parametrize(
    ("prompt", "instruction", "kept"),
    [
        # a medium's tag words in the subject clause are things, not tags
        ("a blender on a kitchen counter, morning light, photo", "make it a watercolor", "blender"),
        # an expression belongs to the person: the calm lake stays calm
        ("a calm lake at dawn, a man fishing, photo", "make him smile", "calm"),
        # a painting's tags stay when it becomes another painting
        ("a harbor at dawn, oil painting, visible brush strokes", "make it a watercolor", "brush"),
    ],
)
def test_lexicon_losses_keep_what_still_fits(prompt, instruction, kept):
    edited = literal_edit(prompt, instruction)
    assert kept in edited
    assert kept not in " ".join(read_instruction(prompt, instruction).lose)


# Session 9 reader rules (hand-worked cases, none from a held-out file).
@pytest.mark.parametrize(
    ("prompt", "instruction", "expected"),
    [
        ("a man with curly hair reading a map", "make him bald", "a bald man reading a map"),
        (
            "two old men playing chess in a park",
            "make them young",
            "two young men playing chess in a park",
        ),
        ("a boy with a red kite", "make him happy", "a happy boy with a red kite"),
    ],
)
def test_session9_person_attributes(prompt, instruction, expected):
    assert literal_edit(prompt, instruction) == expected


def test_new_hair_takes_the_place_of_a_hairdo():
    edited = literal_edit("a woman with a ponytail on a bench", "make her hair short and blue")
    assert "ponytail" not in edited and "short blue hair" in edited


def test_someone_doing_something_is_added_with_them():
    edited = literal_edit("a football match, stadium lights", "make the fans wear red scarves")
    assert "fans wearing red scarves" in edited


def test_a_new_scene_value_nobody_asked_for_fails_the_check():
    from core.instructions import check_edit

    prompt = "a fox on a hill"
    assert not check_edit(prompt, "morning, please", "a fox on a hill at night, morning").ok
    assert check_edit(prompt, "morning, please", "a fox on a hill in the morning").ok


@pytest.mark.parametrize(
    ("prompt", "instruction", "expected"),
    [
        (
            "a red car and a blue truck on a street, photo",
            "make the car green and the truck yellow",
            "a green car and a yellow truck on a street, photo",
        ),
        (
            "a white cat and a brown dog on a sofa",
            "make the cat and the dog black",
            "a black cat and a black dog on a sofa",
        ),
    ],
)
def test_two_attribute_edits_sharing_one_verb(prompt, instruction, expected):
    assert literal_edit(prompt, instruction) == expected
    assert check_edit(prompt, instruction, expected).ok


@pytest.mark.parametrize(
    ("prompt", "instruction", "expected"),
    [
        # A described new hair takes the place of the old hair or hairdo, article and all.
        (
            "a woman with a short bob haircut, studio portrait",
            "give her long silver hair",
            "a woman with long silver hair, studio portrait",
        ),
        (
            "a man with long brown hair in a library",
            "give the man short grey hair",
            "a man with short grey hair in a library",
        ),
        (
            "a girl with a braid by a river",
            "give her short curly hair",
            "a girl with short curly hair by a river",
        ),
        (
            "a girl with a braid by a river",
            "she should have a ponytail",
            "a girl with a ponytail by a river",
        ),
        # Wishes said as statements read as the imperative they mean.
        ("a lone pine on a hill at noon", "it should be night", "a lone pine on a hill at night"),
        ("a lone pine on a hill in summer", "can it be winter?", "a lone pine on a hill in winter"),
        ("an old man on a bench", "he should be young", "a young man on a bench"),
        # "it" is the prompt's thing of the same kind.
        ("a house on a hill, oil painting", "make it a castle", "a castle on a hill, oil painting"),
        # "her dress" names the dress ("dress" is also an editing verb).
        ("a woman in a blue dress", "make her dress red", "a woman in a red dress"),
        # A new outfit replaces the old one; a hat is worn with it.
        (
            "a girl in a blue dress on a beach",
            "make her wear a yellow raincoat",
            "a girl in a yellow raincoat on a beach",
        ),
    ],
)
def test_session11_reader_rules(prompt, instruction, expected):
    assert literal_edit(prompt, instruction) == expected
    assert check_edit(prompt, instruction, expected).ok


def test_a_hat_is_worn_with_the_dress():
    edited = literal_edit("a girl in a blue dress on a beach", "make her wear a straw hat")
    assert "blue dress" in edited and "straw hat" in edited


@pytest.mark.parametrize(
    ("prompt", "instruction", "expected"),
    [
        # A material said with "out of" is the material.
        (
            "a wooden spoon on a kitchen table",
            "make the spoon out of silver",
            "a silver spoon on a kitchen table",
        ),
        # A new material takes the place of the one named after the thing.
        (
            "a robot owl made of copper perched on a branch, 8k",
            "make the owl marble",
            "a robot owl made of marble perched on a branch, 8k",
        ),
        ("a castle of sand on a beach", "make the castle out of ice", "a castle of ice on a beach"),
        # A scene value that cannot describe the noun of its clause takes the noun's place.
        (
            "a lighthouse on a cliff, sunny day, oil painting",
            "could it be raining?",
            "a lighthouse on a cliff, raining, oil painting",
        ),
        (
            "a harbor full of fishing boats, midday sun, watercolor",
            "at sunset please",
            "a harbor full of fishing boats, at sunset, watercolor",
        ),
        # A move names its thing in up to three words.
        (
            "a red double decker bus on a street in london, photo",
            "put the double decker bus in paris",
            "a red double decker bus on a street in paris, photo",
        ),
        # A removed thing's gerund phrase goes with it.
        (
            "a city square with pigeons flying overhead, morning fog",
            "no pigeons",
            "a city square, morning fog",
        ),
        (
            "a farmhouse with white smoke rising from the chimney and a red door, winter",
            "remove the smoke",
            "a farmhouse with a red door, winter",
        ),
        # A camera flash is the light; two light adjectives read as one lighting.
        (
            "a bowl of pears on a plate, harsh flash, photo",
            "make the lighting warm and golden",
            "a bowl of pears on a plate, warm golden lighting, photo",
        ),
    ],
)
def test_session12_reader_rules(prompt, instruction, expected):
    assert literal_edit(prompt, instruction) == expected
    assert check_edit(prompt, instruction, expected).complete


def test_an_adjective_scene_value_keeps_the_noun_of_its_clause():
    assert (
        literal_edit("a lighthouse on a cliff, sunny day, oil painting", "make it foggy")
        == "a lighthouse on a cliff, foggy day, oil painting"
    )


def test_what_a_person_does_stays_when_their_thing_goes():
    assert (
        literal_edit("a boy with a kite running on the beach", "no kite")
        == "a boy running on the beach"
    )


def test_a_photo_genre_of_three_words_goes_with_the_photo():
    assert (
        literal_edit(
            "a heron in a marsh, misty morning, award winning nature photography, sharp focus",
            "make it an oil painting",
        )
        == "a heron in a marsh, misty morning, an oil painting, sharp focus"
    )


@pytest.mark.parametrize(
    ("prompt", "instruction", "expected"),
    [
        # A described thing given to someone takes the place of theirs of the same name.
        (
            "a cat with yellow eyes on a windowsill, photo",
            "give the cat green eyes",
            "a cat with green eyes on a windowsill, photo",
        ),
        (
            "a knight with a wooden shield",
            "give the knight a golden shield",
            "a knight with a golden shield",
        ),
        # "X for the Y" gives Y the X, right after Y (session 15: before, a clause of its own).
        (
            "a dog on a porch, photo",
            "a red scarf for the dog",
            "a dog with a red scarf on a porch, photo",
        ),
        # A bun someone wears is a hairdo; a bun someone holds is bread.
        (
            "a girl with a messy bun reading in a cafe",
            "give her long wavy hair",
            "a girl with long wavy hair reading in a cafe",
        ),
        (
            "a baker holding a bun, bakery",
            "give him red hair",
            "a baker with red hair holding a bun, bakery",
        ),
        # A new scene value of two words takes the clause's noun too.
        (
            "a fishing boat at a pier, midday sun, film photo",
            "golden hour",
            "a fishing boat at a pier, golden hour, film photo",
        ),
    ],
)
def test_session12_given_things_and_scene_phrases(prompt, instruction, expected):
    assert literal_edit(prompt, instruction) == expected


@pytest.mark.parametrize(
    ("prompt", "instruction", "expected"),
    [
        # A new attribute of a thing the prompt does not name comes with the thing.
        (
            "a windmill on a hill at dusk, oil painting",
            "make the blades red",
            "a windmill on a hill at dusk, with red blades, oil painting",
        ),
        # "make it a X" where the prompt names a described X: the description changes.
        (
            "a grey wolf howling on a hill, photo",
            "make it an arctic wolf",
            "an arctic wolf howling on a hill, photo",
        ),
        # A thing that only fills another goes with its container.
        (
            "a lighthouse against a sky of storm clouds, oil painting",
            "no clouds",
            "a lighthouse, oil painting",
        ),
        # A new place phrase takes the old one's preposition and words.
        (
            "a cat asleep on a wooden bench, photo",
            "put it on a rug instead of the bench",
            "a cat asleep on a rug, photo",
        ),
        # A new medium drops a 3d render's studio style.
        (
            "a robot in a garden, 3d render, pixar style",
            "make it a watercolor",
            "a robot in a garden, a watercolor",
        ),
    ],
)
def test_session12_things_said_apart(prompt, instruction, expected):
    assert literal_edit(prompt, instruction) == expected


def test_pixel_art_leaves_no_room_for_a_resolution_tag():
    prompt = "a castle on a hill at dusk, photo, 8k"
    assert literal_edit(prompt, "turn it into pixel art") == "a castle on a hill at dusk, pixel art"
    assert not check_edit(
        prompt, "turn it into pixel art", "a castle on a hill at dusk, pixel art, 8k"
    ).ok
    # So does a hand-made medium (session 14: three held-out writers dropped it, one kept it);
    # a render keeps it.
    assert "8k" not in literal_edit(prompt, "make it a watercolor")
    assert "8k" in literal_edit(prompt, "make it a 3d render")


@pytest.mark.parametrize(
    ("prompt", "instruction", "expected"),
    [
        # "make her a grandmother": the prompt's person becomes the new one.
        (
            "a man reading on a bench, photo",
            "make him a pirate",
            "a pirate reading on a bench, photo",
        ),
        # ... but a thing is no person.
        ("a woman at a desk", "make her a cake", "a woman at a desk, a cake"),
        # "make the mood creepy" says it is the mood.
        (
            "an empty attic with old trunks",
            "make the mood eerie",
            "an empty attic with old trunks, eerie mood",
        ),
        # A WordNet compound is one thing: its colour goes before all of it.
        (
            "a hot air balloon over fields",
            "make the balloon red",
            "a red hot air balloon over fields",
        ),
    ],
)
def test_session12_people_moods_and_compounds(prompt, instruction, expected):
    assert literal_edit(prompt, instruction) == expected


@pytest.mark.parametrize(
    ("prompt", "instruction", "expected"),
    [
        # "X not Y" is "X instead of Y".
        ("a guitar on a chair, photo", "a banjo not a guitar", "a banjo on a chair, photo"),
        # The light keeps the word the artist used.
        (
            "a bakery counter, harsh fluorescent lighting",
            "make the light warm",
            "a bakery counter, warm light",
        ),
        # A thing "with" brought takes where it lay, unless the scene is where it was.
        ("a kitchen with a cat on the counter, morning", "no cat", "a kitchen, morning"),
        ("a beach with boats in the background, sunset", "remove the boats", "a beach, sunset"),
        ("a table with a bowl of apples, photo", "remove the bowl", "a table, photo"),
        ("a street with a bus in the rain", "remove the bus", "a street in the rain"),
        ("a snowman with a scarf in a garden", "without the scarf", "a snowman in a garden"),
    ],
)
def test_session12_removals_and_light_words(prompt, instruction, expected):
    assert literal_edit(prompt, instruction) == expected


@pytest.mark.parametrize(
    ("prompt", "instruction", "expected"),
    [
        # An instruction that is only a described thing the prompt names re-describes it.
        (
            "a prince in gleaming armor on a horse",
            "dented armor",
            "a prince in dented armor on a horse",
        ),
        ("a woman in a long dress", "short dress pls", "a woman in a short dress"),
        # ... and adds it where the prompt lacks it.
        ("a house in a field", "tall grass", "a house in a field, tall grass"),
    ],
)
def test_session12_bare_described_things(prompt, instruction, expected):
    assert literal_edit(prompt, instruction) == expected


@pytest.mark.parametrize(
    ("prompt", "instruction", "expected"),
    [
        # The background changes as a whole.
        (
            "a fox sitting, pine trees in the background, photo",
            "change the background to a frozen lake",
            "a fox sitting, a frozen lake in the background, photo",
        ),
        (
            "a watch, black background, product photo",
            "make the background grey",
            "a watch, grey background, product photo",
        ),
        (
            "a tower on a hill with clouds in the background",
            "change the background to a starry sky",
            "a tower on a hill with a starry sky in the background",
        ),
        # "make it rome": the scene moves to a named place.
        (
            "a cyclist on a street in berlin, photo",
            "make it rome",
            "a cyclist on a street in rome, photo",
        ),
        ("a lake at dawn", "make it night", "a lake at night"),
    ],
)
def test_session12_backgrounds_and_named_places(prompt, instruction, expected):
    assert literal_edit(prompt, instruction) == expected


@pytest.mark.parametrize(
    ("prompt", "instruction", "expected"),
    [
        # Garments WordNet 3.0 lacks are outfits too (core/reader_words.json).
        (
            "a man in a hoodie standing on a rooftop, neon",
            "put him in a tuxedo",
            "a man in a tuxedo standing on a rooftop, neon",
        ),
        (
            "a mayor in a tracksuit cutting a ribbon",
            "put the mayor in a suit",
            "a mayor in a suit cutting a ribbon",
        ),
        # A hair colour said of the person colours the hair; other words of the hair stay.
        (
            "a woman with dark hair riding a bicycle, photo",
            "make her blonde",
            "a woman with blonde hair riding a bicycle, photo",
        ),
        ("a woman with long black hair", "make her auburn", "a woman with long auburn hair"),
        ("a man with curly hair", "make him blonde", "a man with curly blonde hair"),
        # "dark" of "dark hair" is how the hair looks, not the picture's mood.
        (
            "a woman with dark hair riding a bicycle",
            "make her happy",
            "a happy woman with dark hair riding a bicycle",
        ),
        (
            "a dark forest, gloomy, oil painting",
            "make it cheerful",
            "a cheerful forest, oil painting",
        ),
        # A new age takes the old age's place.
        (
            "portrait of a middle-aged woman with glasses",
            "make the woman a teenager",
            "portrait of a teenager with glasses",
        ),
        (
            "a baby elephant splashing in a river",
            "make the elephant fully grown",
            "a fully grown elephant splashing in a river",
        ),
        ("an old dog sleeping on a rug", "make the dog a puppy", "a puppy sleeping on a rug"),
        ("a young man fixing a bike", "make the man an old sailor", "an old sailor fixing a bike"),
        ("a young man fixing a bike", "make the man a knight", "a young knight fixing a bike"),
        # An expression said as a verb reads as its -ing form, or as the noun where the
        # prompt's expression is one.
        (
            "a knight with a serious face, oil portrait",
            "make the knight laugh",
            "a knight with a laughing face, oil portrait",
        ),
        ("a baby in a crib", "make the baby cry", "a crying baby in a crib"),
        ("a boy with a frown", "make him grin", "a boy with a grin"),
        ("a man with a beard", "make him smile", "a smiling man with a beard"),
        ("a stormy sea, oil painting", "make the sea calm", "a calm sea, oil painting"),
        # "in front of" names the background.
        (
            "a golden retriever in front of a brick wall, portrait photo",
            "make the background a beach",
            "a golden retriever with a beach in the background, portrait photo",
        ),
        (
            "a cat, in front of a window",
            "make the background blue",
            "a cat, with a blue background",
        ),
        # A new palette replaces the prompt's palette clause.
        (
            "a peacock window, deep blues and greens, cathedral light",
            "make the colors warm reds and golds",
            "a peacock window, warm reds and golds, cathedral light",
        ),
        (
            "a quiet street, muted colors, 35mm",
            "change the palette to vivid neon colors",
            "a quiet street, vivid neon colors, 35mm",
        ),
        # A new mood word replaces the old one with its value.
        (
            "a harbor at dusk, cheerful atmosphere, impressionist painting",
            "give it a melancholic mood",
            "a harbor at dusk, with a melancholic mood, impressionist painting",
        ),
        (
            "a harbor at dusk, cheerful atmosphere",
            "make it gloomy",
            "a harbor at dusk, gloomy atmosphere",
        ),
        # A composition word within another is not the same one ("symmetrical").
        (
            "a temple entrance, asymmetrical composition, photo",
            "make it symmetrical",
            "a temple entrance, symmetrical, photo",
        ),
        # A place goes whole: "in a forest clearing".
        (
            "a tent in a forest clearing, campfire, night",
            "put the tent on a mountain top",
            "a tent on a mountain top, campfire, night",
        ),
        (
            "a man in a room reading a book",
            "move him to a beach",
            "a man on a beach reading a book",
        ),
        # The same thing with new words keeps the thing and takes the words as attributes.
        (
            "a man in a denim jacket leaning on a motorcycle",
            "change his jacket to a leather jacket",
            "a man in a leather jacket leaning on a motorcycle",
        ),
        # "look angry" sets what "angry" sets; a doing word's place takes "looking".
        (
            "a calm king on a throne, oil painting",
            "make the king look angry",
            "an angry king on a throne, oil painting",
        ),
        (
            "a robot barista smiling behind a counter, 3d render",
            "make the robot look sad",
            "a robot barista looking sad behind a counter, 3d render",
        ),
        # A count keeps the thing's compound and its joined colours; a number is no material.
        (
            "a hot air balloon over fields, drone photo",
            "make it three balloons",
            "three hot air balloons over fields, drone photo",
        ),
        ("a fire truck on a street", "make it three trucks", "three fire trucks on a street"),
        (
            "a red and white hot air balloon over fields",
            "make it three balloons",
            "three red and white hot air balloons over fields",
        ),
        # A one-word thing takes up to four words of attribute.
        (
            "a hot air balloon over fields",
            "make the balloon striped red and white",
            "a striped red and white hot air balloon over fields",
        ),
        # "the couple" is two people, not a count.
        (
            "an elderly couple holding hands on a bench",
            "make the couple young",
            "a young couple holding hands on a bench",
        ),
        # A question about a named thing is the wish it asks.
        (
            "a jellyfish drifting over a city, matte painting",
            "could the jellyfish be a manta ray?",
            "a manta ray drifting over a city, matte painting",
        ),
        # "take X out / away" removes X.
        (
            "a living room with a fireplace, a tv on the wall, warm light",
            "take the tv out",
            "a living room with a fireplace, warm light",
        ),
        # Two things each becoming another, the verb said once.
        (
            "a man reading a newspaper on a train, 35mm film",
            "make the man a woman and the newspaper a book",
            "a woman reading a book on a train, 35mm film",
        ),
        # An expression word of another thing stays ("a calm lake" when he smiles) ...
        (
            "an old man fishing from a rowboat on a calm lake, oil painting",
            "make him smile",
            "a smiling old man fishing from a rowboat on a calm lake, oil painting",
        ),
        # ... a colour of her dress is not her hair's ...
        (
            "a woman with short blonde hair on a balcony, summer dress, 35mm photo",
            "make her dress blue",
            "a woman with short blonde hair on a balcony, blue summer dress, 35mm photo",
        ),
        # ... and a question of what it is made of asks for that material.
        (
            "a wooden dining table set for two, candles",
            "could the table be made of glass?",
            "a glass dining table set for two, candles",
        ),
    ],
)
def test_session13_reader_rules(prompt, instruction, expected):
    assert literal_edit(prompt, instruction) == expected
    assert check_edit(prompt, instruction, expected).ok


@pytest.mark.parametrize(
    ("prompt", "instruction", "kept_wrongly"),
    [
        (
            "a man in a hoodie on a rooftop",
            "put him in a tuxedo",
            "a man in a hoodie on a rooftop, in a tuxedo",
        ),
        ("a woman with dark hair", "make her blonde", "a blonde woman with dark hair"),
        (
            "a middle-aged woman reading",
            "make the woman a teenager",
            "a middle-aged teenager reading",
        ),
        ("a man with curly hair reading", "make him bald", "a man with bald hair reading"),
    ],
)
def test_session13_the_verifier_refuses_the_old_value_kept(prompt, instruction, kept_wrongly):
    assert not check_edit(prompt, instruction, kept_wrongly).ok


def test_gerund_doubles_a_short_final_consonant():
    from core.instructions import gerund

    assert [gerund(v) for v in ("sit", "grin", "laugh", "ride", "frown", "open")] == [
        "sitting",
        "grinning",
        "laughing",
        "riding",
        "frowning",
        "opening",
    ]


# Session 14: rules found on chains_i (read in session 14, a tuned file from then on).
@pytest.mark.parametrize(
    ("prompt", "instruction", "expected"),
    [
        # "X -> Y" is a replacement
        (
            "a ceramic vase of sunflowers on a windowsill",
            "sunflowers -> roses",
            "a ceramic vase of roses on a windowsill",
        ),
        ("a cat on a mat", "cat → dog", "a dog on a mat"),
        # "clear the fog" removes a weather (and the adjective that only said it)
        (
            "a huge airship over a foggy victorian city, brass and copper, illustration",
            "clear the fog",
            "a huge airship over a victorian city, brass and copper, illustration",
        ),
        # "in color" takes the place of black and white
        (
            "a young man playing chess in a park, black and white photo",
            "in color pls",
            "a young man playing chess in a park, color photo",
        ),
        ("a street in paris, monochrome, 35mm", "colorize it", "a street in paris, color, 35mm"),
        # a lens is a camera's: it goes whole when the picture stops being a photo
        (
            "a street at night, cinematic photo, 50mm lens, bokeh",
            "turn it into pixel art",
            "a street at night, pixel art",
        ),
        # a poster is a medium
        (
            "an astronaut above earth, stars, nasa photo, deep space",
            "make it a retro sci-fi poster",
            "an astronaut above earth, stars, a retro sci-fi poster, deep space",
        ),
        # picked flowers in a basket are no spring's: they stay in winter
        (
            "a bicycle leaning against a fence, a basket of flowers on it, 35mm photo",
            "winter",
            "a bicycle leaning against a fence, winter, a basket of flowers on it, 35mm photo",
        ),
        # a flower meadow is
        (
            "a fox cub in a flower meadow, spring, photo",
            "winter",
            "a fox cub in a meadow, winter, photo",
        ),
        # "wide angle" and "50mm" are lenses: a new lens takes their place
        (
            "a mountain village at dusk, travel photo, wide angle",
            "telephoto lens instead",
            "a mountain village at dusk, travel photo, telephoto lens",
        ),
        (
            "a treehouse at dusk, photo, 50mm",
            "fisheye lens",
            "a treehouse at dusk, photo, fisheye lens",
        ),
        # what is added fills an empty place, and the article fits the word after it
        (
            "an empty park bench under a streetlight, film noir",
            "add a man sitting there",
            "a park bench under a streetlight, a man sitting there, film noir",
        ),
        ("a snowy igloo at night", "make it summer", "an igloo at night, summer"),
        # a tag that named the old place alone stays behind when the scene moves
        (
            "a woman painting at an easel, studio, natural light, photo",
            "move her to a garden",
            "a woman painting at an easel in a garden, natural light, photo",
        ),
        (
            "a knight, castle courtyard, oil painting",
            "move him to a forest",
            "a knight in a forest, oil painting",
        ),
        # without its people a place is no longer crowded or busy (an active volcano stays)
        (
            "a crowded beach with umbrellas and people, turquoise water",
            "get rid of the people",
            "a beach with umbrellas, turquoise water",
        ),
        (
            "a street with people, active volcano in the distance",
            "remove the people",
            "a street, active volcano in the distance",
        ),
        # an old scene value said twice goes whole
        (
            "a village, golden hour at sunset, oil painting",
            "make it night",
            "a village, night, oil painting",
        ),
    ],
)
def test_session14_reader_rules(prompt, instruction, expected):
    assert literal_edit(prompt, instruction) == expected
    assert check_edit(prompt, instruction, expected).ok


@pytest.mark.parametrize(
    ("prompt", "instruction", "kept_wrongly"),
    [
        (
            "a man playing chess, black and white photo",
            "in color pls",
            "a man playing chess, black and white photo, in color",
        ),
        ("a city over a foggy bay", "clear the fog", "a city over a foggy bay, clear sky"),
    ],
)
def test_session14_the_verifier_refuses_the_old_value_kept(prompt, instruction, kept_wrongly):
    assert not check_edit(prompt, instruction, kept_wrongly).ok


def test_clearing_a_table_is_not_a_removal():
    assert read_instruction("a kitchen with a messy table", "clear the table").kind != "remove"


@pytest.mark.parametrize(
    ("prompt", "instruction", "lost"),
    [
        # a relative edit leaves no room for its opposite (any WordNet sense, with satellites)
        ("a houseboat beside a calm sea", "more waves, rough sea", ("calm",)),
        ("a pirate ship on a calm sea", "make the sea rougher", ("calm",)),
        ("a dim library with tall shelves, photo", "brighter please", ("dim",)),
        ("a calm lake, soft morning mist, watercolor", "make the mist heavier", ("soft",)),
        ("a small old dog on a rug", "make the dog bigger", ("small",)),
    ],
)
def test_session14_a_relative_edit_loses_its_opposite(prompt, instruction, lost):
    assert read_instruction(prompt, instruction).lose == lost


# Session 15: rules found on the team's own probes (not on a held-out file).
@pytest.mark.parametrize(
    ("prompt", "instruction", "expected"),
    [
        # a modifier the tagger reads as a noun still gives way to its contrary
        (
            "a harbor at dawn, light fog, photo",
            "make the fog thicker",
            "a harbor at dawn, thicker fog, photo",
        ),
        # an old mood adjective before its noun takes the new mood word alone
        (
            "a cosy cabin interior with a fireplace, warm light",
            "give it a spooky vibe",
            "a spooky cabin interior with a fireplace, warm light",
        ),
        (
            "a grim battlefield at dusk, oil painting",
            "make the mood hopeful",
            "a hopeful battlefield at dusk, oil painting",
        ),
        (
            "a city plaza full of energy, photo",
            "make the atmosphere calm",
            "a city plaza with a calm atmosphere, photo",
        ),
        # a new feature in place of an adjective follows the thing it describes
        (
            "a bald man reading a newspaper on a bench, photo",
            "give him long hair",
            "a man with long hair reading a newspaper on a bench, photo",
        ),
        (
            "a bald tax collector at a desk, photo",
            "give him long hair",
            "a tax collector with long hair at a desk, photo",
        ),
        (
            "a bald old man on a bench",
            "give him a ponytail",
            "an old man with a ponytail on a bench",
        ),
        # a new season keeps the time of day it stood before
        (
            "an old farmhouse in a wheat field, summer afternoon, photo",
            "make it winter",
            "an old farmhouse in a wheat field, winter afternoon, photo",
        ),
        # before the noun it describes, a weather noun says itself as an adjective
        (
            "a sunny afternoon in a park, children playing, photo",
            "make it snow",
            "a snowy afternoon in a park, children playing, photo",
        ),
        # the people are only said by "busy": it goes alone
        (
            "a busy market street in marrakech, midday sun, photo",
            "remove the people",
            "a market street in marrakech, midday sun, photo",
        ),
        # a genre names what is shown, in any medium
        (
            "a bowl of fruit on a table, still life, oil painting",
            "make it a charcoal drawing",
            "a bowl of fruit on a table, still life, a charcoal drawing",
        ),
        # a new adjective of a thing ends its contrary
        (
            "a medieval castle on a hill, cloudy sky, concept art",
            "make the sky clear",
            "a medieval castle on a hill, clear sky, concept art",
        ),
        # a kind of the prompt's thing takes its place
        (
            "three dogs playing, spring, photo",
            "make them puppies",
            "three puppies playing, spring, photo",
        ),
        ("a bird on a branch, watercolor", "turn it into an owl", "an owl on a branch, watercolor"),
        # "stop the rain" removes it
        (
            "a woman in a yellow raincoat walking in the rain, city street, film photo",
            "stop the rain",
            "a woman in a yellow raincoat walking, city street, film photo",
        ),
        # a breed named with a colour goes whole; an age only describes
        (
            "a golden retriever catching a frisbee, summer",
            "make it a cat",
            "a cat catching a frisbee, summer",
        ),
        ("a young man fixing a bike", "make the man a knight", "a young knight fixing a bike"),
        # "make it/them <colour or material>" sets the prompt's first thing(s)
        (
            "five red apples on a wooden table, still life",
            "make them green",
            "five green apples on a wooden table, still life",
        ),
        ("a red car on a road", "make it green", "a green car on a road"),
        ("a wooden chair in a room", "make it metal", "a metal chair in a room"),
        # "shave his beard" removes it; "an old man" says his age; a helmet is given to him
        (
            "portrait of an old fisherman with a grey beard, close-up, 85mm",
            "shave his beard",
            "portrait of an old fisherman, close-up, 85mm",
        ),
        (
            "a teenage boy skateboarding in an empty parking lot, sunset",
            "make him an old man",
            "an old man skateboarding in an empty parking lot, sunset",
        ),
        (
            "a teenage boy skateboarding in an empty parking lot, sunset",
            "put a helmet on him",
            "a teenage boy with a helmet skateboarding in an empty parking lot, sunset",
        ),
        # an empty place has no people left in it
        (
            "a cozy coffee shop interior, wooden tables, warm lighting, people chatting, photo",
            "make it empty",
            "a cozy coffee shop interior, empty, wooden tables, warm lighting, photo",
        ),
        # "make it a vintage car" sets the prompt's car; a kind or a medium still replaces
        (
            "a sleek black sports car on a mountain road, autumn, cinematic",
            "make it a vintage car",
            "a sleek black vintage sports car on a mountain road, autumn, cinematic",
        ),
        # the new phrase's words are not said twice
        (
            "a little boy reading a comic book under a tree, summer, watercolor",
            "make him a little girl",
            "a little girl reading a comic book under a tree, summer, watercolor",
        ),
    ],
)
def test_session15_reader_rules(prompt, instruction, expected):
    assert literal_edit(prompt, instruction) == expected
    assert check_edit(prompt, instruction, expected).ok


@pytest.mark.parametrize(
    ("prompt", "instruction", "kept_wrongly"),
    [
        (
            "a harbor at dawn, light fog, photo",
            "make the fog thicker",
            "a harbor at dawn, light thick fog, photo",
        ),
        (
            "a dreary rainy street at night, photo",
            "make it feel cheerful",
            "a dreary cheerful rainy street at night, photo",
        ),
        (
            "a relaxed beach scene, palm trees, watercolor",
            "make it tense",
            "a relaxed tense beach scene, palm trees, watercolor",
        ),
    ],
)
def test_session15_the_verifier_refuses_the_old_value_kept(prompt, instruction, kept_wrongly):
    assert not check_edit(prompt, instruction, kept_wrongly).ok


# Session 15: rules found on the failures of `_k` (scored first, then read: a tuned file now).
@pytest.mark.parametrize(
    ("prompt", "instruction", "expected"),
    [
        # a light that only shines by day goes with the day
        (
            "a vineyard on a hillside, noon, harsh sunlight, drone shot",
            "golden hour please",
            "a vineyard on a hillside, golden hour, drone shot",
        ),
        # "go for" only says "this instead"; "soft" of "soft natural light" gives way, the
        # egg's stays
        (
            "a bowl of ramen, a soft boiled egg, food photography, soft natural light",
            "go for moody low-key lighting",
            "a bowl of ramen, a soft boiled egg, food photography, moody low-key lighting",
        ),
        # a colour "for the car" colours the prompt's convertible
        (
            "a vintage red convertible outside a diner at dusk",
            "pale mint for the car",
            "a vintage pale mint convertible outside a diner at dusk",
        ),
        # what is given follows who gets it
        (
            "a girl in a red dress dancing in a field of lavender, golden hour",
            "short pink hair on the girl",
            "a girl with short pink hair in a red dress dancing in a field of lavender, golden hour",
        ),
        (
            "a weathered old sailor with a pipe, charcoal drawing",
            "angry face on the old sailor",
            "a weathered old sailor with an angry face and a pipe, charcoal drawing",
        ),
        # a move to mars, and a place "of" something
        (
            "an astronaut planting a flag on the moon, earth in the sky, realistic 3d render",
            "set it on mars",
            "an astronaut planting a flag on mars, earth in the sky, realistic 3d render",
        ),
        (
            "a girl in denim overalls dancing in a field of lavender, golden hour",
            "move her to a sunflower field",
            "a girl in denim overalls dancing in a sunflower field, golden hour",
        ),
        # "the kids should be ..." is "make the kids ..."; an -ing form stays one
        (
            "two kids building a sandcastle on a beach, sunny",
            "the kids should be teenagers",
            "two teenagers building a sandcastle on a beach, sunny",
        ),
        (
            "a chef in a kitchen, photo",
            "the chef should be grinning",
            "a grinning chef in a kitchen, photo",
        ),
        # a coloured species is one thing
        (
            "a red fox curled up in fresh snow, telephoto wildlife photo",
            "swap the fox for a wolf",
            "a wolf curled up in fresh snow, telephoto wildlife photo",
        ),
        # an old medium's tags go with what only described them
        (
            "a lighthouse on a cliff, oil painting on canvas, rich impasto textures, highly detailed",
            "turn it into a low poly 3d render",
            "a lighthouse on a cliff, a low poly 3d render, highly detailed",
        ),
        # a dozen keeps its article
        (
            "a child holding a single red balloon in a grey city, minimalism",
            "more like a dozen balloons",
            "a child holding a dozen red balloons in a grey city, minimalism",
        ),
        # a relative edit of a thing said by its adjective ("starry") says it with its thing
        (
            "a camper van under a starry sky, desert, long exposure",
            "more stars",
            "a camper van under a sky with more stars, desert, long exposure",
        ),
        (
            "a chef tossing vegetables in a flaming wok, busy kitchen",
            "bigger flames",
            "a chef tossing vegetables in a wok with bigger flames, busy kitchen",
        ),
        # a bare "material thing" sets the prompt's thing
        (
            "a bowl of ramen on a wooden table, a soft boiled egg, top-down view",
            "marble table pls",
            "a bowl of ramen on a marble table, a soft boiled egg, top-down view",
        ),
        ("a king with a silver crown", "gold crown", "a king with a gold crown"),
        # a building stands in a city or on a planet: the shop stays
        (
            "a robot florist in a small shop, pixar style",
            "set it on mars",
            "a robot florist in a small shop on mars, pixar style",
        ),
        # "rusty armor" on "shining armor" replaces the described thing; "X on the Y" with a
        # verb of its own is no gift
        (
            "a knight in shining armor riding through a village",
            "rusty armor",
            "a knight in rusty armor riding through a village",
        ),
    ],
)
def test_session15_rules_read_on_k(prompt, instruction, expected):
    assert literal_edit(prompt, instruction) == expected
    assert check_edit(prompt, instruction, expected).ok


def test_session15_a_thing_stuck_on_someone_is_no_gift():
    reading = read_instruction(
        "a lonely scarecrow in a cornfield", "stick a wizard hat on the scarecrow"
    )
    assert "stick" not in reading.gain
    assert check_edit(
        "a lonely scarecrow in a cornfield",
        "stick a wizard hat on the scarecrow",
        "a lonely scarecrow wearing a wizard hat in a cornfield",
    ).ok


def test_session15_make_her_do_something_is_no_replacement():
    prompt = "a woman in a green raincoat walking in the rain, city street"
    assert literal_edit(prompt, "make her hold an umbrella") == (
        "a woman in a green raincoat walking in the rain, holding an umbrella, city street"
    )
    assert read_instruction("a woman in a red dress", "make her dress a ball gown").lose == (
        "dress",
    )


def test_session15_no_x_y_instead_is_a_replacement():
    reading = read_instruction(
        "a little boy reading a comic book under a tree", "no comic book, a teddy bear instead"
    )
    assert (reading.kind, reading.gain, set(reading.lose)) == (
        "replace",
        ("teddy bear",),
        {"book", "comic"},
    )


def test_session15_an_old_colour_gives_way_to_a_new_colour_only():
    # The shipped adapter answered "make her hair straight" with "straight hair": red was lost
    # and the check called it complete, so verified decoding kept it.
    prompt = "a young woman with curly red hair in a green sweater, autumn park, film photo"
    lost_red = "a young woman with straight hair in a green sweater, autumn park, film photo"
    assert not check_edit(prompt, "make her hair straight", lost_red).complete
    assert check_edit(
        prompt, "make her hair straight", lost_red.replace("straight", "straight red")
    ).complete
    assert check_edit("a red car on a road", "make the car blue", "a blue car on a road").complete


def test_session15_a_colour_wordnet_gives_as_an_attribute_replaces_the_old_one():
    # 334d90c kept old colours for edits that bring no colour; "ginger" (a colour only as
    # WordNet's attribute) then left "a ginger black cat" (seen on single_k).
    prompt = "a black cat asleep on a windowsill"
    assert (
        literal_edit(prompt, "could you make the cat ginger?")
        == "a ginger cat asleep on a windowsill"
    )
    assert not check_edit(
        prompt, "could you make the cat ginger?", "a ginger black cat asleep on a windowsill"
    ).ok
