"""Input validation: every bad input gets an InputError whose message says what is wrong."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from core.errors import InputError
from core.validation import (
    MAX_INSTRUCTION_CHARS,
    check_instruction,
    check_path_option,
    load_user_image,
    resolve_model_reference,
    resolve_user_path,
    resolve_workspace_path,
)


def test_instruction_is_stripped_and_english_has_no_warning():
    checked = check_instruction("  make the sky pink \n")
    assert checked.text == "make the sky pink"
    assert checked.warnings == []


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_empty_instruction_is_refused(text):
    with pytest.raises(InputError, match="type an instruction"):
        check_instruction(text)


def test_too_long_instruction_names_both_lengths():
    with pytest.raises(InputError, match="1,001 characters.*1,000"):
        check_instruction("a" * (MAX_INSTRUCTION_CHARS + 1))
    assert check_instruction("a" * MAX_INSTRUCTION_CHARS).text == "a" * MAX_INSTRUCTION_CHARS


@pytest.mark.parametrize(
    "text", ["把天空变成粉红色", "сделай небо розовым", "haz que el cielo sea rosa por favor"]
)
def test_non_english_instruction_is_accepted_with_a_warning(text):
    checked = check_instruction(text)
    assert checked.text == text
    assert len(checked.warnings) == 1 and "English" in checked.warnings[0]


@pytest.mark.parametrize("text", ["brighter", "add a red hat to the cat", "Van Gogh style"])
def test_short_or_plain_english_does_not_warn(text):
    assert check_instruction(text).warnings == []


def _png_bytes(size=(8, 6), mode="RGBA") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (10, 20, 30, 255) if mode == "RGBA" else 0).save(buffer, "PNG")
    return buffer.getvalue()


def test_image_file_bytes_pil_and_array_all_load_as_rgb(tmp_path):
    path = tmp_path / "in.png"
    path.write_bytes(_png_bytes())
    for source in (
        path,
        str(path),
        _png_bytes(),
        Image.new("L", (8, 6)),
        np.zeros((6, 8, 3), np.uint8),
    ):
        image = load_user_image(source)
        assert image.mode == "RGB" and image.size == (8, 6)


def test_missing_image_is_refused(tmp_path):
    with pytest.raises(InputError, match="upload an image"):
        load_user_image(None)
    with pytest.raises(InputError, match="No image file"):
        load_user_image(tmp_path / "absent.png")


def test_corrupt_image_is_refused(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(_png_bytes()[:40])  # header only: truncated pixel data
    with pytest.raises(InputError, match="broken.png"):
        load_user_image(path)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not an image at all")
    with pytest.raises(InputError, match="not an image file"):
        load_user_image(junk)


def test_unsupported_format_is_refused(tmp_path):
    path = tmp_path / "picture.ico"
    Image.new("RGB", (16, 16)).save(path, "ICO")
    with pytest.raises(InputError, match="ICO image; supported formats are PNG"):
        load_user_image(path)


def test_huge_dimensions_are_refused_before_decoding(tmp_path):
    # A 20000 x 20000 PNG of one colour compresses to a small file: a decompression bomb.
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(path, "PNG")
    assert os.path.getsize(path) < 1_000_000
    with pytest.raises(InputError, match="bomb.png is too large.*400000000 pixels"):
        load_user_image(path)
    # Below PIL's own bomb limit, the header's size is checked against max_pixels.
    big = tmp_path / "big.png"
    Image.new("1", (5000, 4000)).save(big, "PNG")
    with pytest.raises(InputError, match="5000x4000 .20,000,000 pixels.; the limit is 16,777,216"):
        load_user_image(big)
    with pytest.raises(InputError, match="8x6"):
        load_user_image(Image.new("RGB", (8, 6)), max_pixels=10)


def test_workspace_paths_inside_are_resolved(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    assert resolve_workspace_path("runs/a.png") == tmp_path.resolve() / "runs" / "a.png"
    assert resolve_workspace_path(tmp_path / "x") == tmp_path.resolve() / "x"


@pytest.mark.parametrize("user_path", ["../outside.txt", "a/../../outside.txt", "/etc/passwd", ""])
def test_workspace_paths_outside_are_refused(tmp_path, monkeypatch, user_path):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(workspace))
    with pytest.raises(InputError):
        resolve_workspace_path(user_path)


def test_symlink_out_of_the_workspace_is_refused(tmp_path, monkeypatch):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (tmp_path / "secret").mkdir()
    (workspace / "link").symlink_to(tmp_path / "secret")
    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(workspace))
    with pytest.raises(InputError, match="outside the workspace"):
        resolve_workspace_path("link/key.txt")


def test_reading_reaches_the_shipped_assets_but_writing_does_not(tmp_path, monkeypatch):
    from core.paths import assets_dir

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    shipped = assets_dir().resolve() / "instructpe" / "train.jsonl"
    assert resolve_user_path("assets/instructpe/train.jsonl", "read") == shipped
    assert resolve_user_path(shipped, "read") == shipped
    with pytest.raises(InputError, match="outside the workspace"):
        resolve_user_path(shipped, "write")
    with pytest.raises(InputError, match="outside the workspace or the shipped assets/ folder"):
        resolve_user_path("/etc/passwd", "read")


@pytest.mark.parametrize("name", ["/etc", "../outside", "~/", "core/assets", "/tmp"])
def test_model_references_outside_the_workspace_are_refused(tmp_path, monkeypatch, name):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (tmp_path / "outside").mkdir()
    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(workspace))
    monkeypatch.chdir(workspace)  # "../outside" is a real folder from here
    with pytest.raises(InputError, match="outside the workspace"):
        resolve_model_reference(name)


def test_model_references_ids_and_inside_folders_pass(tmp_path, monkeypatch):
    from core.paths import assets_dir

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    (tmp_path / "runs" / "final").mkdir(parents=True)
    assert resolve_model_reference("org/model") == "org/model"  # a hub id, not a path
    assert resolve_model_reference("tiny-sd") == "tiny-sd"  # a registry name
    assert resolve_model_reference("runs/final") == str(tmp_path.resolve() / "runs" / "final")
    shipped = assets_dir().resolve() / "rewriter"
    assert resolve_model_reference(str(shipped)) == str(shipped)
    with pytest.raises(InputError, match="not a registry name, a Hugging Face id"):
        resolve_model_reference("a folder that is not there")


def test_path_options_by_kind(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    assert check_path_option("write", "labels.jsonl") == str(tmp_path.resolve() / "labels.jsonl")
    with pytest.raises(InputError, match="labels_file: /tmp/outside.jsonl is outside"):
        check_path_option("write", "/tmp/outside.jsonl", "labels_file")
    assert check_path_option("file-name", "model.gguf") == "model.gguf"
    with pytest.raises(InputError, match="bare file name"):
        check_path_option("file-name", "../../etc/passwd")


@pytest.mark.parametrize(
    "user_path",
    [
        "server.key",
        "votes.sqlite",
        "votes.sqlite-journal",
        "votes.sqlite.damaged-20261201-120000",
        "public/run",
        "public",
        "sessions/abc/chat.json",
        "comparisons/c1/comparison.json",
        "runs/../public/eval",
    ],
)
def test_the_apps_own_workspace_files_are_refused_for_reading_and_writing(
    tmp_path, monkeypatch, user_path
):
    # The server key, the vote database, the served folder, session records, comparisons: a
    # stage writing there would overwrite them or put its files where a browser can fetch them.
    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    for access in ("read", "write"):
        with pytest.raises(InputError, match="the app's own"):
            resolve_user_path(user_path, access)
        with pytest.raises(InputError, match="the app's own"):
            resolve_user_path(tmp_path / user_path, access)


def test_a_link_to_the_apps_own_files_and_the_workspace_itself_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    (tmp_path / "server.key").write_bytes(b"k" * 32)
    (tmp_path / "sessions").mkdir()
    (tmp_path / "key.jsonl").symlink_to(tmp_path / "server.key")
    (tmp_path / "runs").symlink_to(tmp_path / "sessions")
    for user_path in ("key.jsonl", "runs/x", "sessions"):
        with pytest.raises(InputError, match="the app's own"):
            resolve_user_path(user_path, "read")
    with pytest.raises(InputError, match="the app's own"):
        resolve_model_reference("sessions")
    with pytest.raises(InputError, match="a folder inside the workspace, not the workspace"):
        resolve_user_path(".", "write")
    # Names that only begin like them are ordinary workspace paths.
    assert resolve_user_path("sessions-old/a.jsonl") == tmp_path.resolve() / "sessions-old/a.jsonl"
    assert resolve_user_path("runs-public/x") == tmp_path.resolve() / "runs-public" / "x"


def test_the_app_keeps_its_files_under_the_refused_names(tmp_path):
    from types import SimpleNamespace

    from core.paths import APP_OWNED_ENTRIES
    from diffchat_ui.context import AppContext

    context = AppContext(SimpleNamespace(workspace=tmp_path))
    owned = {
        context.sessions.images_root.relative_to(tmp_path).parts[0],
        context.sessions.records_root.relative_to(tmp_path).parts[0],
        context.votes.path.relative_to(tmp_path).parts[0],
        context.comparisons_dir().relative_to(tmp_path).parts[0],
    } | {path.name for path in tmp_path.iterdir()}
    assert owned <= set(APP_OWNED_ENTRIES), owned - set(APP_OWNED_ENTRIES)


def test_a_users_folder_confines_their_paths_and_keeps_the_shipped_assets(tmp_path, monkeypatch):
    """With --auth every path a user sets is confined to their own folder in the workspace:
    the Train and Evaluate tabs had one shared folder, so one user read another's runs."""
    from core.paths import assets_dir

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    alice, bob = tmp_path / "users" / "alice", tmp_path / "users" / "bob"
    (bob / "train-runs" / "sft" / "final").mkdir(parents=True)
    (bob / "evaluations").mkdir()
    alice.mkdir()
    # Relative paths are taken in the user's folder.
    assert resolve_user_path("train-runs/x", "write", alice) == alice.resolve() / "train-runs/x"
    assert check_path_option("write", "labels.jsonl", root=alice) == str(
        alice.resolve() / "labels.jsonl"
    )
    # Another user's folder, the shared workspace and its files are out of reach.
    for user_path in (bob / "evaluations", "../bob/evaluations", tmp_path / "notes.jsonl"):
        for access in ("read", "write"):
            with pytest.raises(InputError, match="outside your folder"):
                resolve_user_path(user_path, access, alice)
    with pytest.raises(InputError, match="outside your folder"):
        resolve_model_reference(str(bob / "train-runs" / "sft" / "final"), alice)
    with pytest.raises(InputError, match="outside your folder"):
        check_path_option("read-or-id", "../bob/train-runs/sft/final", root=alice)
    with pytest.raises(InputError, match="not your folder itself"):
        resolve_user_path(".", "write", alice)
    # Bob reaches his own run; both read the shipped assets; ids stay ids.
    final = bob.resolve() / "train-runs" / "sft" / "final"
    assert resolve_model_reference("train-runs/sft/final", bob) == str(final)
    shipped = assets_dir().resolve() / "instructpe" / "train.jsonl"
    assert resolve_user_path("assets/instructpe/train.jsonl", "read", alice) == shipped
    assert resolve_model_reference("org/model", alice) == "org/model"
    # Without a user folder (no --auth) the workspace is the root, as before.
    assert resolve_user_path(bob / "evaluations", "read") == (bob / "evaluations").resolve()
    with pytest.raises(ValueError, match="must lie in the workspace"):
        resolve_user_path("x", "write", tmp_path.parent)


def test_refusals_name_no_server_path(tmp_path, monkeypatch):
    """Refusals said "outside the workspace /home/.../workspace or the shipped /srv/.../assets"
    and "outside your folder .../users/alice-<hash>": every browser learnt where the server
    keeps its files. They name the path as given and the folders by role."""
    from pathlib import Path

    from core.paths import REPO_ROOT, assets_dir, workspace_dir

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.chdir(REPO_ROOT)  # "train" below exists relative to the working directory
    workspace = workspace_dir()
    alice = workspace / "users" / "alice-0123"
    alice.mkdir(parents=True)
    (workspace / "server.key").write_bytes(b"k" * 32)
    refusals = {
        ("/etc", "read", None): "/etc is outside the workspace or the shipped assets/ folder",
        ("../elsewhere", "write", None): "../elsewhere is outside the workspace;",
        ("../../x", "write", alice): "../../x is outside your folder;",
        ("server.key", "read", None): "server.key points into server.key, one of the app's",
        (".", "write", alice): ".: give a folder inside your folder, not your folder itself.",
    }
    said = []
    for (user_path, access, root), message in refusals.items():
        with pytest.raises(InputError) as refused:
            resolve_user_path(user_path, access, root)
        assert message in str(refused.value), refused.value
        said.append(str(refused.value))
    # A model name found as a folder of the working directory is named as it was given.
    for name in ("train", "~/no-such-model-folder"):
        with pytest.raises(InputError, match=f"^{name} is outside") as refused:
            resolve_model_reference(name)
        said.append(str(refused.value))
    for message in said:
        for server_path in (workspace, alice, assets_dir(), REPO_ROOT, Path.home()):
            assert str(server_path) not in message, message


def test_messages_name_a_resolved_path_inside_the_callers_root(tmp_path, monkeypatch):
    from core.paths import assets_dir, workspace_dir
    from core.validation import shown_path

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path / "workspace"))
    workspace = workspace_dir()
    alice = workspace / "users" / "alice-0123"
    alice.mkdir(parents=True)
    # What messages call a path the app resolved: inside the caller's root, else its name.
    assert shown_path(alice / "evaluations" / "run1", alice) == "evaluations/run1"
    assert shown_path(workspace / "train-runs" / "sft") == "train-runs/sft"
    assert (
        shown_path(assets_dir() / "instructpe" / "train.jsonl") == "assets/instructpe/train.jsonl"
    )
    assert shown_path("/srv/elsewhere/data.jsonl", alice) == "data.jsonl"


def test_a_childs_output_names_no_server_path(tmp_path, monkeypatch):
    from core.paths import assets_dir, workspace_dir
    from core.validation import without_server_paths

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path / "workspace"))
    workspace = workspace_dir()
    alice = workspace / "users" / "alice-0123"
    alice.mkdir(parents=True)
    said = f"no checkpoint to resume from in {workspace}/train-runs/sft-run."
    assert without_server_paths(said) == "no checkpoint to resume from in train-runs/sft-run."
    said = f"resuming from {alice}/train-runs/sft/checkpoint-2; data {assets_dir()}/x.jsonl"
    assert without_server_paths(said, alice) == (
        "resuming from train-runs/sft/checkpoint-2; data assets/x.jsonl"
    )
    # The folder itself is "."; a sibling whose name starts with the folder's stays whole.
    assert (
        without_server_paths(f"in {workspace}, not {workspace}2/x") == f"in ., not {workspace}2/x"
    )


def test_a_message_names_every_server_folder_by_its_role(tmp_path, monkeypatch):
    """Loader messages ("The DiffChat adapter is not in /srv/app/assets/...", "not installed
    in /home/me/.cache/diffchat/models/tiny-sdxl") told every caller where the app, its
    cache and the Hugging Face cache live."""
    from huggingface_hub import constants

    from core.paths import REPO_ROOT
    from core.validation import shown_message

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DIFFCHAT_HOME", str(home / ".cache" / "diffchat"))
    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.setattr(constants, "HF_HOME", str(home / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-1234567890")
    table = {
        f"not in {REPO_ROOT}/assets/rewriter/lora;": "not in assets/rewriter/lora;",
        f"see {REPO_ROOT}/core/rewrite.py": "see app/core/rewrite.py",
        f"in {home}/.cache/diffchat/models/tiny-sdxl": "in DIFFCHAT_HOME/models/tiny-sdxl",
        f"{tmp_path}/hub-cache/models--a--b is empty": "HF_HUB_CACHE/models--a--b is empty",
        f"{home}/hf/token": "HF_HOME/token",
        f"{home}/notes.txt and {home}": "~/notes.txt and ~",
        f"/srv{home}/x and {home}2/y": f"/srv{home}/x and {home}2/y",  # only where paths start
        f"{tmp_path}/workspace/runs/x": "runs/x",
        "key sk-test-key-1234567890 refused": "key *** refused",
    }
    for said, shown in table.items():
        assert shown_message(said) == shown, said
    # With --auth, the other server folders keep their names around the user's own.
    alice = tmp_path / "workspace" / "users" / "alice-0123"
    alice.mkdir(parents=True)
    assert shown_message(f"{alice}/runs and {tmp_path}/workspace/x", alice) == (
        "runs and workspace/x"
    )
