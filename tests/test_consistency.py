"""InstructPE v2 consistency rules (train.consistency): one hand-worked row per rule."""

from __future__ import annotations

import json

import pytest

from core.errors import DataError
from train.consistency import check_row, validate_file


@pytest.mark.parametrize(
    ("raw", "instruction", "target", "rule"),
    [
        ("a dog asleep on a porch", "make the dog a fox", "a dog asleep on a porch", "unchanged"),
        (
            "a dog asleep on a porch",
            "make the dog a fox",
            "a cat asleep on a porch",
            "missing-new-word",
        ),
        (
            "a dog on a beach, a kite in the sky",
            "remove the kite",
            "a dog on a beach, a red kite in the sky",
            "kept-removed",
        ),
        (
            "a cabin in a forest, in spring",
            "make it winter",
            "a cabin in a forest, in spring, in winter",
            "slot-conflict",
        ),
        (
            "a fox in the snow, 35mm photo, photorealistic",
            "make it a watercolor painting",
            "a watercolor painting of a fox in the snow, 35mm photo, photorealistic",
            "slot-conflict",
        ),
    ],
)
def test_each_rule_catches_its_violation(raw, instruction, target, rule):
    assert rule in {broken for broken, _ in check_row(raw, instruction, target)}


@pytest.mark.parametrize(
    ("raw", "instruction", "target"),
    [
        ("a dog asleep on a porch", "make the dog a fox", "a fox asleep on a porch"),
        ("a cabin in a forest, in spring", "make it winter", "a cabin in a forest, in winter"),
        ("a dog on a beach, a kite in the sky", "remove the kite", "a dog on a beach"),
    ],
)
def test_a_consistent_row_passes(raw, instruction, target):
    assert check_row(raw, instruction, target) == []


# Rows the reader once misread (issue 9): each correct target passes every rule and its
# wrong twin still breaks the named one. (what it guards, raw, instruction, correct, wrong, rule)
# fmt: off
READER_CASES = [
    (
        "'high contrast' is not a high-pressure area",
        'pixel art of airships over a farm on a sunny afternoon, sharp focus, high contrast',
        'let it be stormy',
        'pixel art of airships over a farm on a stormy afternoon, sharp focus, high contrast',
        'pixel art of airships over a farm on a sunny stormy afternoon, sharp focus, high contrast',
        'kept-removed',
    ),
    (
        "'high resolution' beside new clouds",
        'a bowl of soup on a windowsill at night, concept art, high resolution',
        'add clouds',
        'a bowl of soup on a windowsill at night, clouds drifting by, concept art, high resolution',
        'a bowl of soup on a windowsill at night, rain drifting by, concept art, high resolution',
        'missing-new-word',
    ),
    (
        "'bright even light' has no evening",
        'a woman reading by a lake at midnight, bright even light',
        'dawn time',
        'a woman reading by a lake at dawn, bright even light',
        'a woman reading by a lake at midnight, at dawn, bright even light',
        'kept-removed',
    ),
    (
        'a quiet street is not a lull in the weather',
        'a quiet street in paris, cafe tables, sunny afternoon, film photo',
        'make it rain',
        'a quiet street in paris, cafe tables, afternoon rain, film photo',
        'a quiet street in paris, cafe tables, sunny afternoon rain, film photo',
        'kept-removed',
    ),
    (
        "'quiet' as a mood tag stays when it turns misty",
        'a pine forest, clear morning, quiet, watercolor',
        'make it misty',
        'a pine forest, misty morning, quiet, watercolor',
        'a pine forest, clear morning, quiet, watercolor',
        'unchanged',
    ),
    (
        "'a sunny day' is daytime: night replaces it",
        'a lighthouse on a cliff on a sunny day, oil painting',
        'make it night',
        'a lighthouse on a cliff on a clear night, oil painting',
        'a lighthouse on a cliff on a sunny day at night, oil painting',
        'kept-removed',
    ),
    (
        'a greenhouse is a building, not the greenhouse effect',
        'an overgrown greenhouse on a cliff, soft overcast light, gouache painting, melancholic, quiet, high detail',
        'make it sunny and cheerful',
        'an overgrown greenhouse on a cliff, soft sunny light, gouache painting, cheerful, quiet, high detail',
        'an overgrown greenhouse on a cliff, soft overcast light, sunny, gouache painting, cheerful, quiet, high detail',
        'kept-removed',
    ),
    (
        "'turn X miniature' sets a size, not a miniature painting beside the acrylic",
        'a brass violin in a vineyard, acrylic painting, acrylic on canvas, bold brush strokes',
        'Turn the violin miniature',
        'a miniature brass violin in a vineyard, acrylic painting, acrylic on canvas, bold brush strokes',
        'a huge brass violin in a vineyard, acrylic painting, acrylic on canvas, bold brush strokes',
        'missing-new-word',
    ),
    (
        "a drawing replaced by a print is gone, not a 'draw' read into 'leading lines'",
        'a charcoal drawing of a tower on a hill, at dawn, leading lines, smudged shading',
        'make this look like a ukiyo-e woodblock print',
        'a ukiyo-e woodblock print of a tower on a hill, at dawn, leading lines, woodblock print',
        'a charcoal drawing of a tower on a hill, at dawn, leading lines, woodblock print',
        'kept-removed',
    ),
    (
        'changing the hair to wavy red keeps the hair',
        'an impressionist painting of a monk with short black hair by a lake',
        "Change the monk's hair to wavy red",
        'an impressionist painting of a monk with wavy red hair by a lake',
        'an impressionist painting of a monk with short black hair by a lake, wavy red',
        'kept-removed',
    ),
    (
        'switching the hair to short silver keeps the hair and the grandmother',
        'a grandmother with long brown hair sitting on a bench in a market square',
        "Switch the grandmother's hair to short silver",
        'a grandmother with short silver hair sitting on a bench in a market square',
        'a grandmother with long brown hair sitting on a bench in a market square, short silver',
        'kept-removed',
    ),
    (
        'an expression change keeps the businessman and his expression',
        'a businessman in a suit waiting for a train, smiling, 35mm',
        "change the businessman's expression to worried",
        'a businessman in a suit waiting for a train, worried expression, 35mm',
        'a businessman in a suit waiting for a train, calm expression, 35mm',
        'missing-new-word',
    ),
    (
        'an outfit change keeps the girls',
        'four teenage girls in a lavender field, at sunrise, embroidery',
        "change the girls' outfit to a blue dress",
        'four teenage girls wearing a blue dress in a lavender field, at sunrise, embroidery',
        'four teenage girls wearing a red dress in a lavender field, at sunrise, embroidery',
        'missing-new-word',
    ),
    (
        'a swap whose new value holds the same noun keeps the noun, loses the modifier',
        'an old gardener pruning a lemon tree, gouache painting',
        'swap the lemon tree for an orange tree',
        'an old gardener pruning an orange tree, gouache painting',
        'an old gardener pruning a lemon tree and an orange tree, gouache painting',
        'kept-removed',
    ),
    (
        "'change X to be ADJ' sets an attribute (tiny)",
        'a photo of a tram parked on a rooftop, a crowd of people, DSLR',
        'change the tram to be tiny',
        'a photo of a tiny tram parked on a rooftop, a crowd of people, DSLR',
        'a photo of a small tram parked on a rooftop, a crowd of people, DSLR',
        'missing-new-word',
    ),
    (
        "'change X to be ADJ' sets an attribute (giant)",
        'an embroidery of a sandwich on a sand dune, in spring, thread texture',
        'change the sandwich to be giant',
        'an embroidery of a giant sandwich on a sand dune, in spring, thread texture',
        'an embroidery of a large sandwich on a sand dune, in spring, thread texture',
        'missing-new-word',
    ),
    (
        "'make X wear Y' keeps X",
        'an embroidery of three wizards with messy blue hair in a snowy field',
        'Make the wizards wear a top hat.',
        'an embroidery of three wizards with messy blue hair wearing a top hat in a snowy field',
        'an embroidery of three wizards with messy blue hair wearing a scarf in a snowy field',
        'missing-new-word',
    ),
    (
        'a relative edit keeps its noun; the restatement is what to gain',
        'a red clock in a misty valley, in misty weather, 35mm photo, high resolution',
        'make the mist thicker, a thick fog',
        'a red clock in a misty valley, in thick fog, 35mm photo, high resolution',
        'a red clock in a misty valley, in thick misty weather, 35mm photo, high resolution',
        'missing-new-word',
    ),
    (
        "changing the lighting keeps the word 'lighting' free to stay",
        'a reading nook by a window, soft lighting, oil painting',
        'change the lighting to dappled sunlight',
        'a reading nook by a window, dappled sunlight lighting, oil painting',
        'a reading nook by a window, dappled shade, oil painting',
        'missing-new-word',
    ),
    (
        "'stronger wind, a fierce gale': the gale is the stronger wind",
        'a barn by a waterfall, at dusk, in windy weather, loose brushwork',
        'stronger wind, a fierce gale',
        'a barn by a waterfall, at dusk, in a fierce gale, loose brushwork',
        'a barn by a waterfall, at dusk, in strong wind, loose brushwork',
        'missing-new-word',
    ),
    (
        "'more waves, rough sea': the rough sea is the realisation",
        'a tiny gray houseboat beside a calm sea',
        'more waves, rough sea',
        'a tiny gray houseboat beside a rough sea',
        'a tiny gray houseboat beside a calm sea with waves',
        'missing-new-word',
    ),
    (
        "'push the drama ... to extremely dramatic' gains no 'push'",
        'a mug on a frozen lake, at dawn, in winter, dramatic lighting, low poly',
        'push the drama of the light to extremely dramatic please',
        'a mug on a frozen lake, at dawn, in winter, extremely dramatic lighting, low poly',
        'a mug on a frozen lake, at dawn, in winter, dramatic lighting, low poly',
        'unchanged',
    ),
    (
        "the verb that says how to edit is not content: 'light it with ...'",
        'a 3d render of a violinist in a greenhouse, in summer, octane render',
        'light it with harsh midday sun',
        'a 3d render of a violinist in a greenhouse, in summer, harsh midday sun, octane render',
        'a 3d render of a violinist in a greenhouse, in summer, soft midday sun, octane render',
        'missing-new-word',
    ),
    (
        "'switch to backlit and drizzle' replaces nothing",
        'a cartoon of five airships in a city street',
        'switch to backlit and drizzle please',
        'a cartoon of five airships in a city street, in a light drizzle, backlit',
        'a cartoon of five airships in a city street, backlit',
        'missing-new-word',
    ),
    (
        "a crow 'jumping' is not the season spring left over",
        'a blue crow jumping, a red balloon, at dawn, in spring, in the rain, watercolor painting',
        'can it be autumn and also lighting: studio lighting',
        'a blue crow jumping, a red balloon, at dawn, in autumn, in the rain, studio lighting, watercolor painting',
        'a blue crow jumping, a red balloon, at dawn, in spring, in autumn, in the rain, studio lighting, watercolor painting',
        'kept-removed',
    ),
    (
        "wind blows under any sky; 'weather' and 'atmosphere' name slots, they are not values",
        'a girl flying a kite on a windy hill at sunset, tense atmosphere, studio ghibli style',
        'make the sky cloudier',
        'a girl flying a kite on a windy hill at sunset, cloudy sky, tense atmosphere, studio ghibli style',
        'a girl flying a kite on a windy hill at sunset, clear sky, tense atmosphere, studio ghibli style',
        'missing-new-word',
    ),
    (
        "the prompt's mushroom is not a new mushroom cloud",
        'a mushroom on a windowsill, at dusk, in windy weather, ink drawing',
        'i want the mushroom made of stone',
        'a stone mushroom on a windowsill, at dusk, in windy weather, ink drawing',
        'a wooden mushroom on a windowsill, at dusk, in windy weather, ink drawing',
        'missing-new-word',
    ),
    (
        'a frozen lake is not a frost',
        'pixel art of three teal cars in a vineyard, at twilight, in spring, eerie atmosphere',
        'move it on a frozen lake',
        'pixel art of three teal cars on a frozen lake, at twilight, in spring, eerie atmosphere',
        'pixel art of three teal cars on a lake, at twilight, in spring, eerie atmosphere',
        'missing-new-word',
    ),
]
# fmt: on


@pytest.mark.parametrize(
    ("guards", "raw", "instruction", "correct", "wrong", "rule"),
    READER_CASES,
    ids=[case[0] for case in READER_CASES],
)
def test_correct_rows_pass_and_their_wrong_twins_fail(
    guards, raw, instruction, correct, wrong, rule
):
    from core.instructions import check_edit

    assert check_row(raw, instruction, correct) == []
    assert check_edit(raw, instruction, correct).ok
    assert rule in {broken for broken, _ in check_row(raw, instruction, wrong)}
    assert not check_edit(raw, instruction, wrong).ok


def test_validate_file_reports_file_line_and_rule(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [
        {
            "raw_prompt": "a cabin, in spring",
            "instruction": "make it winter",
            "target_prompt": "a cabin, in winter",
        },
        {
            "raw_prompt": "a cabin, in spring",
            "instruction": "make it winter",
            "target_prompt": "a cabin, in spring",
        },
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    violations = validate_file(path)
    assert violations and all(v.line == 2 for v in violations)
    assert str(violations[0]).startswith(f"{path}:2: ")


def test_chains_are_checked_turn_by_turn(tmp_path):
    path = tmp_path / "chains.jsonl"
    chain = {
        "raw_prompt": "a cabin in a forest, in spring",
        "turns": [
            {"instruction": "make it winter", "target_prompt": "a cabin in a forest, in winter"},
            {"instruction": "add a moon", "target_prompt": "a cabin in a forest, in winter"},
        ],
    }
    path.write_text(json.dumps(chain) + "\n")
    violations = validate_file(path)
    assert {(v.line, v.turn) for v in violations} == {(1, 2)}


def test_a_chain_turn_without_its_target_is_refused_with_file_and_line(tmp_path):
    path = tmp_path / "chains.jsonl"
    turns = [
        {"instruction": "make it winter", "target_prompt": "a cabin, in winter"},
        {"instruction": "add a moon"},
    ]
    path.write_text("\n" + json.dumps({"raw_prompt": "a cabin", "turns": turns}) + "\n")
    with pytest.raises(DataError, match=r"chains.jsonl:2: turn 2: missing field 'target_prompt'"):
        validate_file(path)


def test_data_validate_command_prints_each_violation_and_fails(tmp_path, capsys):
    from train.data_cli import main

    path = tmp_path / "rows.jsonl"
    row = {
        "raw_prompt": "a cabin, in spring",
        "instruction": "make it winter",
        "target_prompt": "a cabin, in spring",
    }
    path.write_text(json.dumps(row) + "\n")
    assert main(["validate", str(path)]) == 1
    assert f"{path}:1: unchanged" in capsys.readouterr().out
    assert main(["validate", str(path), "--no-rules"]) == 0
