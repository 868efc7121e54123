"""`python -m core generate` and `python -m core edit` on the tiny models, through core.cli."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core import cli, pipelines
from core.png_metadata import read_parameters


@pytest.fixture(scope="module", autouse=True)
def tiny_pipelines():
    from core.assets import fetch_all

    fetch_all(steps=("tiny_pipelines",))
    yield
    pipelines.unload()


@pytest.fixture(autouse=True)
def only_image_commands(monkeypatch):
    # Parse with the real CLI but without importing other areas' command modules.
    monkeypatch.setattr(cli, "COMMANDS", ("generate", "edit"))


def generate_png(path, prompt="a cat in a hat", seed=4):
    argv = ["generate", "--prompt", prompt, "--model", "tiny-sd", "--seed", str(seed)]
    assert cli.main([*argv, "--steps", "2", "--out", str(path)]) == 0
    return path


def test_generate_writes_png_with_parameters(tmp_path, capsys):
    path = generate_png(tmp_path / "cat.png")
    parameters = read_parameters(path)
    assert parameters["prompt"] == "a cat in a hat"
    assert parameters["seed"] == 4
    assert parameters["model"] == "tiny-sd"
    assert (parameters["width"], parameters["height"]) == (64, 64)
    assert "wrote" in capsys.readouterr().out


def test_generate_unknown_model_lists_valid_names(tmp_path, capsys):
    status = cli.main(
        ["generate", "--prompt", "a", "--model", "sd-xl", "--out", str(tmp_path / "x.png")]
    )
    assert status == 2
    error = capsys.readouterr().err
    assert "Unknown model 'sd-xl'" in error and "tiny-sd" in error


def test_edit_ip2p_needs_only_the_image(tmp_path):
    source = tmp_path / "photo.png"
    Image.new("RGB", (100, 61), "green").save(source)
    out = tmp_path / "edited.png"
    argv = ["edit", "--image", str(source), "--instruction", "make it snowy", "--mode", "ip2p"]
    assert cli.main([*argv, "--ip2p-model", "tiny-ip2p", "--steps", "2", "--out", str(out)]) == 0
    assert Image.open(out).size == (96, 56)
    assert read_parameters(out)["instruction"] == "make it snowy"


def test_edit_rewrite_without_prompt_says_what_is_missing(tmp_path, capsys):
    source = tmp_path / "photo.png"
    Image.new("RGB", (64, 64)).save(source)
    argv = ["edit", "--image", str(source), "--instruction", "add a hat", "--mode", "rewrite"]
    assert cli.main([*argv, "--out", str(tmp_path / "out.png")]) == 2
    assert "--prompt" in capsys.readouterr().err


def test_edit_refuses_a_corrupt_image(tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    argv = ["edit", "--image", str(broken), "--instruction", "snow", "--mode", "ip2p"]
    assert cli.main([*argv, "--out", str(tmp_path / "out.png")]) == 2
    assert "broken.png" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["rewrite", "keep"])
def test_edit_rewrites_the_stored_prompt_and_keeps_the_seed(tmp_path, mode):
    source = generate_png(tmp_path / "cat.png", seed=9)
    out = tmp_path / f"{mode}.png"
    argv = ["edit", "--image", str(source), "--instruction", "wearing a hat", "--mode", mode]
    argv += ["--rewriter", "append", "--model", "tiny-sd", "--steps", "2", "--out", str(out)]
    assert cli.main(argv) == 0
    parameters = read_parameters(out)
    # The append baseline: prompt + ", " + instruction (read from the PNG's metadata).
    assert parameters["prompt"] == "a cat in a hat, wearing a hat"
    assert parameters["seed"] == 9
    assert parameters["mode"] == mode
    if mode == "rewrite":
        # Same result as rendering the target prompt directly with the same seed.
        direct = generate_png(
            tmp_path / "direct.png", prompt="a cat in a hat, wearing a hat", seed=9
        )
        assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(direct)))
