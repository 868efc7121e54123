"""Session import checks everything before it writes anything (issue 11, item 4): wrong
field types are named with the type they need, embedded images are checked like uploads,
the cycle check is linear, and a refused file leaves no image behind."""

from __future__ import annotations

import base64
import json

import pytest
from image_fixtures import SVG, corrupt_png, grayscale_bomb_png, small_png

from core.errors import DataError
from core.session import Session


def _exported(tmp_path) -> dict:
    session = Session(seed=7)
    image = tmp_path / "fox.png"
    image.write_bytes(small_png("red"))
    session.add_turn("a red fox", "a red fox", image_path=str(image), scores={"ci": 0.5})
    session.add_turn("make it night", "a red fox at night", image_path=str(image))
    return json.loads(session.export_json(tmp_path / "s.json", embed_images=True).read_text())


def _import(tmp_path, data) -> Session:
    path = tmp_path / "import.json"
    path.write_text(json.dumps(data))
    return Session.import_json(path, image_folder=tmp_path / "images")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda d: d["turns"][1].update(parent_id=[1]),
            "'parent_id' must be an integer or null, not a list",
        ),
        (lambda d: d["turns"][0].update(scores=[1, 2]), "'scores' must be an object, not a list"),
        (lambda d: d["turns"][0].update(scores={"ci": "high"}), "'ci' is a string"),
        (lambda d: d["turns"][0].update(scores={"ci": True}), "'ci' is a boolean"),
        (
            lambda d: d["turns"][0].update(image_path=5),
            "'image_path' must be a string or null, not an integer",
        ),
        (lambda d: d["turns"][0].update(id="1"), "'id' must be an integer, not a string"),
        (lambda d: d["turns"][0].update(prompt=None), "'prompt' must be a string, not null"),
        (lambda d: d["turns"][0].update(settings="fast"), "'settings' must be an object"),
        (lambda d: d["turns"][0].update(image_base64=7), "'image_base64' must be a string"),
        (lambda d: d.update(seed=1.5), "'seed' must be an integer, not a number"),
        (lambda d: d.update(current_id=[2]), "'current_id' must be an integer or null"),
        (lambda d: d.update(turns={"1": {}}), "'turns' must be a list, not an object"),
        (lambda d: d["turns"].append(3), "turn 3 in the list is not an object"),
    ],
)
def test_wrong_field_types_are_named_and_write_nothing(tmp_path, mutate, message):
    data = _exported(tmp_path)
    mutate(data)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _import(tmp_path, data)
    assert not (tmp_path / "images").exists()


@pytest.mark.parametrize(
    "image_bytes, message",
    [
        (corrupt_png(), "damaged or truncated"),
        (SVG.encode(), "not an image file"),
        (b"just some text", "not an image file"),
        (grayscale_bomb_png(), "13000x13000"),
    ],
    ids=["corrupt", "svg", "text", "bomb"],
)
def test_embedded_images_are_checked_like_uploads(tmp_path, image_bytes, message):
    data = _exported(tmp_path)
    # The bad image is the second one: the first, good image must not be written either.
    data["turns"][1]["image_base64"] = base64.b64encode(image_bytes).decode()
    with pytest.raises(DataError, match=f"turn #2: .*{message}"):
        _import(tmp_path, data)
    assert not (tmp_path / "images").exists()


def test_a_good_file_still_imports_with_its_images(tmp_path):
    session = _import(tmp_path, _exported(tmp_path))
    assert [turn.id for turn in session.path_to()] == [1, 2]
    assert all((tmp_path / "images").joinpath(f"turn-{i}.png").is_file() for i in (1, 2))
    assert session.turns[1].scores == {"ci": 0.5}


def _long_chain(turns: int) -> dict:
    return {
        "format": "diffchat-session",
        "version": 1,
        "seed": 3,
        "current_id": turns,
        "turns": [
            {"id": i, "parent_id": i - 1 if i > 1 else None, "instruction": "x", "prompt": "y"}
            for i in range(1, turns + 1)
        ],
    }


def test_twenty_thousand_turns_import_and_a_cycle_among_them_is_found(tmp_path):
    # The old check walked to the root from every turn (quadratic: 28 s for 20,000).
    session = _import(tmp_path, _long_chain(20_000))
    assert len(session.turns) == 20_000 and session.current.id == 20_000
    looped = _long_chain(20_000)
    looped["turns"][0]["parent_id"] = 20_000
    with pytest.raises(DataError, match="own ancestor"):
        _import(tmp_path, looped)


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"format": "diffchat-session", "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
        ('{"format": "diffchat-session", "seed": ' + "9" * 5000 + "}", "digits"),
    ],
)
def test_json_that_python_cannot_read_is_refused_with_a_reason(tmp_path, text, message):
    # json.loads raises RecursionError and a plain ValueError here, not JSONDecodeError: the
    # app showed the bare exception name.
    path = tmp_path / "hostile.json"
    path.write_text(text)
    with pytest.raises(DataError, match=f"not JSON this app can read.*{message}"):
        Session.import_json(path, image_folder=tmp_path / "images")
    assert not (tmp_path / "images").exists()
