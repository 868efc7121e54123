"""The chat session tree: undo, branch, forget, failed turns, export/import round trips."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from core.errors import DataError, InputError
from core.session import Session


def _image(tmp_path, name, colour):
    path = tmp_path / f"{name}.png"
    Image.new("RGB", (4, 4), colour).save(path)
    return str(path)


@pytest.fixture
def chain(tmp_path):
    """root (text) -> edit 2 -> edit 3, each with an image; current is 3."""
    session = Session(seed=7)
    session.add_turn("a red fox", "a red fox", image_path=_image(tmp_path, "1", "red"))
    session.add_turn(
        "make it night", "a red fox at night", image_path=_image(tmp_path, "2", "blue")
    )
    session.add_turn(
        "add snow",
        "a red fox at night, snow",
        image_path=_image(tmp_path, "3", "white"),
        mode="keep",
        scores={"ci": 0.5},
    )
    return session


def test_turns_chain_as_children_of_the_current_turn(chain):
    assert [t.id for t in chain.path_to()] == [1, 2, 3]
    assert [t.parent_id for t in chain.path_to()] == [None, 1, 2]
    assert chain.current.prompt == "a red fox at night, snow"
    assert chain.current.seed == 7  # the session seed by default


def test_undo_moves_the_pointer_and_keeps_the_turn(chain):
    assert chain.undo().id == 2
    assert 3 in chain.turns
    chain.undo()
    assert chain.undo() is None  # back before the first turn
    with pytest.raises(InputError, match="Nothing to undo"):
        chain.undo()


def test_a_turn_after_undo_starts_a_new_branch(chain):
    chain.undo()
    new = chain.add_turn("add a moon", "a red fox at night, moon")
    assert new.parent_id == 2
    assert [t.id for t in chain.children(2)] == [3, 4]
    assert [t.id for t in chain.path_to(3)] == [1, 2, 3]


def test_branch_from_makes_an_old_turn_current(chain):
    assert chain.branch_from(1).id == 1
    assert chain.add_turn("make it blue", "a blue fox").parent_id == 1
    with pytest.raises(InputError, match="no turn #99"):
        chain.branch_from(99)


def test_forget_last_removes_the_leaf(chain):
    assert chain.forget_last().id == 2
    assert 3 not in chain.turns
    # A turn with a live branch below it cannot be forgotten.
    chain.undo()
    with pytest.raises(InputError, match="branching from it"):
        chain.forget_last()
    assert set(chain.turns) == {1, 2}


def test_failed_turn_is_recorded_without_moving_the_pointer(chain):
    failed = chain.add_turn("make it explode", "", error="out of memory")
    assert failed.parent_id == 3 and chain.turns[failed.id].error == "out of memory"
    assert chain.current.id == 3
    assert [t.id for t in chain.path_to()] == [1, 2, 3]
    with pytest.raises(InputError, match="failed"):
        chain.branch_from(failed.id)
    # Forgetting turn 3 takes its failed child with it.
    chain.forget_last()
    assert set(chain.turns) == {1, 2}


def test_branch_root_image_is_the_first_image_of_the_branch(chain, tmp_path):
    assert chain.branch_root_image().endswith("1.png")
    session = Session(seed=1)
    session.add_turn("draft", "a house")  # no image yet
    with pytest.raises(InputError, match="no image yet"):
        session.branch_root_image()
    session.add_turn("paint", "a house, oil", image_path=_image(tmp_path, "h", "green"))
    assert session.branch_root_image().endswith("h.png")


def test_unknown_turn_field_is_refused():
    with pytest.raises(InputError, match="colour"):
        Session(seed=0).add_turn("x", "y", colour="red")


def test_seed_is_kept_and_rerolled():
    session = Session(seed=42)
    assert session.seed == 42
    seeds = {session.reroll_seed() for _ in range(5)}
    assert all(0 <= seed < 2**32 for seed in seeds) and len(seeds) > 1
    with pytest.raises(InputError):
        Session(seed=-1)


@pytest.mark.parametrize("embed_images", [True, False])
def test_export_import_round_trip(chain, tmp_path, embed_images):
    chain.undo()
    chain.add_turn(
        "add a moon", "a red fox at night, moon", image_path=_image(tmp_path, "4", "gray")
    )
    chain.add_turn("boom", "", error="cancelled")
    path = chain.export_json(tmp_path / "out" / "session.json", embed_images=embed_images)
    stored = json.loads(path.read_text())
    assert ("image_base64" in stored["turns"][0]) == embed_images

    restored = Session.import_json(path, image_folder=tmp_path / "restored")
    assert restored.seed == chain.seed and restored.current_id == chain.current_id
    for original, copy in zip(chain.turns.values(), restored.turns.values(), strict=True):
        assert (copy.id, copy.parent_id, copy.prompt, copy.mode, copy.scores, copy.error) == (
            original.id,
            original.parent_id,
            original.prompt,
            original.mode,
            original.scores,
            original.error,
        )
        if original.image_path:
            assert Image.open(copy.image_path).getpixel((0, 0)) == Image.open(
                original.image_path
            ).getpixel((0, 0))
            assert copy.image_path != original.image_path
    # Ids keep counting after the import.
    assert restored.add_turn("more", "more").id == max(chain.turns) + 1


def test_import_refuses_broken_files(tmp_path, chain):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"format": "diffchat-session",\n "version": 1,\n oops}')
    with pytest.raises(DataError, match="bad.json:3"):
        Session.import_json(bad_json)

    good = json.loads(chain.export_json(tmp_path / "s.json").read_text())
    for mutate, message in [
        (lambda d: d.update(format="other"), "not a DiffChat session"),
        (lambda d: d["turns"][1].update(parent_id=42), "missing parent"),
        (lambda d: d["turns"][0].update(parent_id=2), "own ancestor"),
        (lambda d: d["turns"][0].pop("prompt"), "'prompt' is missing"),
        (lambda d: d["turns"][0].update(image_path="../../etc/passwd"), "outside the session"),
        (lambda d: d.update(current_id=99), "current turn #99"),
    ]:
        data = json.loads(json.dumps(good))
        mutate(data)
        path = tmp_path / "mutated.json"
        path.write_text(json.dumps(data))
        with pytest.raises(DataError, match=message):
            Session.import_json(path)


def test_export_refuses_a_vanished_image(chain, tmp_path):
    import os

    os.remove(chain.current.image_path)
    with pytest.raises(InputError, match="no longer exists"):
        chain.export_json(tmp_path / "s.json", embed_images=True)
