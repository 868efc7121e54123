"""A1111-style `parameters` PNG chunk: formatting, parsing, file round trip."""

from __future__ import annotations

import pytest
from PIL import Image

from core.errors import InputError
from core.png_metadata import format_parameters, parse_parameters, read_parameters, save_png

PARAMETERS = {
    "prompt": "a cat wearing a red hat, oil painting",
    "negative_prompt": "blurry, low quality",
    "num_inference_steps": 25,
    "sampler": "DDIM",
    "guidance_scale": 7.5,
    "seed": 42,
    "width": 512,
    "height": 384,
    "model": "sd15",
}


def test_format_matches_the_a1111_layout():
    assert format_parameters(PARAMETERS) == (
        "a cat wearing a red hat, oil painting\n"
        "Negative prompt: blurry, low quality\n"
        "Steps: 25, Sampler: DDIM, CFG scale: 7.5, Seed: 42, Size: 512x384, Model: sd15"
    )


def test_parse_reads_a_hand_written_a1111_text():
    text = (
        "masterpiece, a castle\non a hill\n"
        "Negative prompt: ugly\n"
        "Steps: 30, Sampler: Euler a, CFG scale: 6, Seed: 7, Size: 768x512, Model hash: abc123"
    )
    assert parse_parameters(text) == {
        "prompt": "masterpiece, a castle\non a hill",
        "negative_prompt": "ugly",
        "num_inference_steps": 30,
        "sampler": "Euler a",
        "guidance_scale": 6.0,
        "seed": 7,
        "width": 768,
        "height": 512,
        "Model hash": "abc123",
    }


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"strength": 0.6, "mode": "keep"},
        {"image_guidance_scale": 1.5, "instruction": 'make it "winter", please: snow'},
        {"rewriter": "append", "source_prompt": "a cat, sitting"},
    ],
)
def test_round_trip(extra):
    parameters = {**PARAMETERS, **extra}
    assert parse_parameters(format_parameters(parameters)) == parameters


def test_text_without_settings_line_is_a_prompt():
    assert parse_parameters("just a prompt, with a comma") == {
        "prompt": "just a prompt, with a comma"
    }


def test_file_round_trip(tmp_path):
    path = save_png(Image.new("RGB", (8, 8), "blue"), tmp_path / "out" / "a.png", PARAMETERS)
    assert read_parameters(path) == PARAMETERS
    assert read_parameters(Image.open(path)) == PARAMETERS


def test_png_without_chunk_has_no_parameters(tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(path)
    assert read_parameters(path) is None


def test_non_png_name_is_refused(tmp_path):
    with pytest.raises(InputError, match=".png"):
        save_png(Image.new("RGB", (8, 8)), tmp_path / "a.jpg", PARAMETERS)
