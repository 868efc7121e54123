"""Damaged files on disk do not take the app down (issue 11, item 5): records are written
atomically, the Vote tab skips a damaged comparison, and a damaged votes.sqlite is moved
aside (never deleted) while the app starts on a fresh one."""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path

import pytest

from core.errors import DataError
from core.files import atomic_write_text


def test_atomic_write_keeps_the_old_file_when_the_disk_is_full(tmp_path, monkeypatch):
    target = tmp_path / "comparison.json"
    atomic_write_text(target, '{"old": true}')

    def full_disk(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(target, '{"new": true, "and": "much more"}')
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["comparison.json"]  # no temporary left


def _comparison(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    record = {
        "id": name,
        "raw_prompt": "a cat",
        "instruction": "make it night",
        "raw_image": "raw.png",
        "candidates": [{"method": "a", "image": "0.png"}, {"method": "b", "image": "1.png"}],
    }
    atomic_write_text(folder / "comparison.json", json.dumps(record))
    return folder


def test_the_vote_tab_skips_and_logs_a_damaged_comparison(tmp_path, caplog):
    from diffchat_ui.compare_tab import load_comparison
    from diffchat_ui.vote_tab import votable_comparisons

    good = _comparison(tmp_path, "20260101-000000-good")
    truncated = _comparison(tmp_path, "20260102-000000-cut")
    text = (truncated / "comparison.json").read_text()
    (truncated / "comparison.json").write_text(text[: len(text) // 2])
    wrong = _comparison(tmp_path, "20260103-000000-wrong")
    (wrong / "comparison.json").write_text(json.dumps({"id": "x", "candidates": 3}))

    with caplog.at_level(logging.WARNING):
        assert votable_comparisons(tmp_path) == [good]
    assert "20260102-000000-cut" in caplog.text and "20260103-000000-wrong" in caplog.text
    with pytest.raises(DataError, match="comparison.json: damaged comparison record"):
        load_comparison(truncated)


def test_a_comparison_naming_an_image_outside_its_folder_is_a_damaged_record(tmp_path):
    """A record's image names were joined to its folder unchecked: "../../server.key" made
    the Vote tab open the server key (and fail with Gradio's bare "Error")."""
    from diffchat_ui.compare_tab import load_comparison

    for name, mutate in {
        "raw-up": lambda r: r.update(raw_image="../../server.key"),
        "raw-absolute": lambda r: r.update(raw_image="/etc/hostname"),
        "candidate-up": lambda r: r["candidates"][0].update(image="../other/0.png"),
        "candidate-number": lambda r: r["candidates"][0].update(image=3),
    }.items():
        folder = _comparison(tmp_path, name)
        record = json.loads((folder / "comparison.json").read_text())
        mutate(record)
        (folder / "comparison.json").write_text(json.dumps(record))
        with pytest.raises(DataError, match="damaged comparison record"):
            load_comparison(folder)


def test_a_damaged_vote_database_is_moved_aside_and_a_fresh_one_starts(tmp_path, caplog):
    from diffchat_ui.votes import VoteStore

    path = tmp_path / "votes.sqlite"
    damaged = b"this is not a database, it is what is left of one" * 100
    path.write_bytes(damaged)
    with caplog.at_level(logging.ERROR):
        store = VoteStore(path)
    kept = list(tmp_path.glob("votes.sqlite.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == damaged  # kept for recovery
    assert "moved aside" in store.recovery_note and kept[0].name in store.recovery_note
    assert str(tmp_path) not in store.recovery_note  # the page does not show server paths
    assert kept[0].name in caplog.text
    store.record_vote("c1", "a cat", "make it night", ["a", "b"], "a", voter="v")
    assert store.count() == 1
    # A second start finds a healthy file and says nothing.
    assert VoteStore(path).recovery_note == ""


def test_the_app_starts_on_a_damaged_vote_database_and_says_so(tmp_path, monkeypatch):
    from diffchat_ui.context import AppContext
    from diffchat_ui.layout import build_demo
    from diffchat_ui.settings import detect_settings

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    (tmp_path / "votes.sqlite").write_bytes(b"garbage" * 500)
    context = AppContext(detect_settings(force_offline=True))
    demo = build_demo(context)
    notes = [
        block.value
        for block in demo.blocks.values()
        if getattr(block, "elem_id", None) == "votes-recovered"
    ]
    assert len(notes) == 1 and "was damaged" in notes[0]
    assert list(tmp_path.glob("votes.sqlite.damaged-*"))


def test_a_damaged_server_key_stops_the_app_with_a_message_not_a_traceback(
    offline_assets, tmp_path, monkeypatch
):
    """A truncated WORKSPACE/server.key ended the start-up in a traceback. It is not moved
    aside as the votes are (a new key would lock every browser out of its chats): the app
    stops with the sentence saying what to do."""
    import gradio as gr

    import app

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    monkeypatch.setattr(gr.Blocks, "launch", lambda *args, **kwargs: pytest.fail("launched"))
    (tmp_path / "server.key").write_bytes(b"abc")
    with pytest.raises(SystemExit, match=r"server.key is damaged .*delete it"):
        app.main(["--offline", "--no-download"])
    assert (tmp_path / "server.key").read_bytes() == b"abc"
