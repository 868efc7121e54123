"""Text-to-image, keep-composition and InstructPix2Pix on the tiny random-weight pipelines."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from core import images, pipelines
from core.errors import DiffChatError, GenerationCancelled, InputError
from core.images import (
    GenerationRequest,
    count_clip_tokens,
    edit_with_instruct_pix2pix,
    fit_size,
    generate,
    keep_composition,
)
from core.png_metadata import read_parameters

STEPS = 2
# 12 words x 12 = well over CLIP's 75-token window.
LONG_BASE = " ".join(["a small red cat sits on a blue mat in the sun."] * 12)


@pytest.fixture(scope="module", autouse=True)
def tiny_pipelines():
    from core.assets import fetch_all

    fetch_all(steps=("tiny_pipelines",))
    yield
    pipelines.unload()


def pixels(result) -> np.ndarray:
    return np.asarray(result.image, dtype=np.int16)


def render(prompt="a cat in a hat", model="tiny-sd", **fields):
    return generate(GenerationRequest(prompt, model=model, num_inference_steps=STEPS, **fields))


@pytest.mark.parametrize("model", ["tiny-sd", "tiny-sdxl"])
def test_tiny_text_to_image_end_to_end(model):
    result = render(model=model, seed=3)
    assert result.image.size == (64, 64)
    assert result.parameters["model"] == model
    assert result.parameters["seed"] == 3
    assert read_parameters(result.image)["prompt"] == "a cat in a hat"


@pytest.mark.parametrize("model", ["tiny-sd", "tiny-sdxl"])
def test_same_seed_same_image_other_seed_other_image(model):
    first, again, other = render(model=model), render(model=model), render(model=model, seed=1)
    assert np.array_equal(pixels(first), pixels(again))
    assert np.abs(pixels(first) - pixels(other)).max() > 0


def test_requested_size_is_rendered():
    assert render(width=48, height=80).image.size == (48, 80)


def test_count_clip_tokens_excludes_start_and_end_markers():
    assert count_clip_tokens("a red cat") == 3
    assert count_clip_tokens("") == 0
    assert count_clip_tokens(LONG_BASE) > images.CLIP_PROMPT_TOKEN_LIMIT


@pytest.mark.parametrize("model", ["tiny-sd", "tiny-sdxl"])
def test_long_prompt_is_encoded_whole_not_truncated(model):
    # Both prompts share their first 75 tokens: truncation would render them identically.
    with_dog = render(LONG_BASE + " a dog barks at the moon", model=model)
    with_bird = render(LONG_BASE + " a bird sings in a tree", model=model)
    assert np.abs(pixels(with_dog) - pixels(with_bird)).max() > 0


def test_long_negative_prompt_is_padded_to_the_prompt():
    result = render("a cat", negative_prompt=LONG_BASE)
    assert result.image.size == (64, 64)


def test_progress_reports_every_step():
    calls = []
    generate(
        GenerationRequest("a cat", model="tiny-sd", num_inference_steps=3),
        progress=lambda step, total: calls.append((step, total)),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_cancel_before_start_and_during_run():
    stop = threading.Event()
    stop.set()
    with pytest.raises(GenerationCancelled):
        generate(GenerationRequest("a cat", model="tiny-sd"), cancel_event=stop)
    stop = threading.Event()
    steps_seen = []

    def press_stop_after_first_step(step, total):
        steps_seen.append(step)
        stop.set()

    with pytest.raises(GenerationCancelled):
        generate(
            GenerationRequest("a cat", model="tiny-sd", num_inference_steps=4),
            progress=press_stop_after_first_step,
            cancel_event=stop,
        )
    assert steps_seen == [1]


def test_keep_composition_same_seed_same_size():
    source = render(seed=5).image
    request = GenerationRequest("a dog in a hat", model="tiny-sd", num_inference_steps=4, seed=5)
    calls = []
    kept = keep_composition(source, request, strength=0.5, progress=lambda s, t: calls.append(t))
    again = keep_composition(source, request, strength=0.5)
    assert kept.image.size == source.size
    assert np.array_equal(pixels(kept), pixels(again))
    assert calls == [2, 2]  # 4 steps x strength 0.5
    assert kept.parameters["strength"] == 0.5


def test_keep_composition_shares_the_text_to_image_components():
    img2img = pipelines.load_img2img_pipeline("tiny-sd")
    assert img2img.unet is pipelines.load_pipeline("tiny-sd").unet


def test_keep_composition_refuses_bad_strength():
    with pytest.raises(InputError, match="Strength"):
        keep_composition(Image.new("RGB", (64, 64)), GenerationRequest("a", model="tiny-sd"), 1.5)


@pytest.mark.parametrize(
    "size, max_side, expected",
    [
        ((100, 61), 768, (96, 56)),
        ((1000, 610), 768, (768, 464)),
        ((512, 512), 768, (512, 512)),
        ((3, 900), 768, (8, 768)),
    ],
)
def test_fit_size_keeps_aspect_in_multiples_of_8(size, max_side, expected):
    assert fit_size(size, max_side) == expected


def test_instruct_pix2pix_keeps_aspect_in_multiples_of_8():
    photo = Image.new("RGB", (100, 61), "red")
    edited = edit_with_instruct_pix2pix(
        photo, "make it blue", model="tiny-ip2p", num_inference_steps=STEPS, seed=2
    )
    assert edited.image.size == (96, 56)
    assert edited.parameters["image_guidance_scale"] == 1.5
    again = edit_with_instruct_pix2pix(
        photo, "make it blue", model="tiny-ip2p", num_inference_steps=STEPS, seed=2
    )
    assert np.array_equal(pixels(edited), pixels(again))
    capped = edit_with_instruct_pix2pix(
        Image.new("RGB", (1000, 610)), "snow", model="tiny-ip2p", num_inference_steps=1, max_side=96
    )
    assert capped.image.size == (96, 56)


def test_instruct_pix2pix_model_cannot_do_text_to_image():
    with pytest.raises(InputError, match="ip2p"):
        render(model="tiny-ip2p")


def test_text_to_image_model_cannot_do_instruct_pix2pix():
    with pytest.raises(InputError, match="InstructPix2Pix"):
        edit_with_instruct_pix2pix(Image.new("RGB", (64, 64)), "snow", model="tiny-sd")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"prompt": "  "}, "prompt is empty"),
        ({"width": 60}, "multiple of 8"),
        ({"num_inference_steps": 0}, "Steps"),
        ({"seed": -1}, "Seed"),
    ],
)
def test_bad_requests_are_refused(fields, message):
    request = GenerationRequest(**{"prompt": "a cat", "model": "tiny-sd", **fields})
    with pytest.raises(InputError, match=message):
        generate(request)


def test_out_of_memory_without_offload_gives_a_readable_error():
    def exhausted(**arguments):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    # On a CPU-only machine there is no offload to fall back to; the message must say so.
    with pytest.raises(DiffChatError, match="ran out of memory"):
        images._run(exhausted, None, None)


def test_out_of_memory_retries_once_after_switching_to_offload(monkeypatch):
    calls = []

    class FlakyPipeline:
        def __call__(self, **arguments):
            calls.append(1)
            if len(calls) == 1:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory")
            return type("Output", (), {"images": [Image.new("RGB", (8, 8))]})()

    monkeypatch.setattr(pipelines, "switch_to_cpu_offload", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    assert images._run(FlakyPipeline(), None, None).size == (8, 8)
    assert len(calls) == 2
