"""The fast path (core/fast_path.py): its settings, its fallback to eager, and the same image.

Tolerance for "the same image": the fast path's PNG pixels differ from eager's by at most
MAX_PIXEL_DIFF levels (of 255) per channel. Fused QKV and inductor kernels reorder float
sums, so bit-equality is not expected; 2 levels is well below what a viewer sees and well
above fp32 reordering noise. Measured by the slow test (inductor on the CPU, fp32, fused
QKV, 4 steps): tiny-sd 0 levels at 64x64 and 1 level at 48x80 (a recompiled size).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from core import fast_path, pipelines
from core.errors import InputError
from core.fast_path import FastPathSettings
from core.images import GenerationRequest, generate

MAX_PIXEL_DIFF = 2
STEPS = 4


@pytest.fixture(scope="module", autouse=True)
def tiny_pipelines():
    from core.assets import fetch_all

    fetch_all(steps=("tiny_pipelines",))
    yield
    pipelines.unload()


@pytest.fixture(autouse=True)
def fresh_pipeline():
    # Every test loads its own pipeline: the fast path changes the loaded modules in place.
    pipelines.unload()
    yield
    pipelines.unload()


def pixels(result) -> np.ndarray:
    return np.asarray(result.image, dtype=np.int16)


def processor_names(pipeline) -> set[str]:
    return {type(processor).__name__ for processor in pipeline.unet.attn_processors.values()}


def render(width=None, height=None, model="tiny-sd"):
    request = GenerationRequest(
        "a cat in a hat", model=model, seed=5, num_inference_steps=STEPS, width=width,
        height=height,
    )  # fmt: skip
    return generate(request)


def eager_pixels(monkeypatch, **size) -> np.ndarray:
    monkeypatch.delenv("DIFFCHAT_COMPILE", raising=False)
    result = pixels(render(**size))
    pipelines.unload()
    return result


@pytest.mark.parametrize(
    ("environ", "enabled", "mode"),
    [
        ({}, False, None),
        ({"DIFFCHAT_COMPILE": ""}, False, None),
        ({"DIFFCHAT_COMPILE": "0"}, False, None),
        ({"DIFFCHAT_COMPILE": "off"}, False, None),
        ({"DIFFCHAT_COMPILE": "1"}, True, None),
        ({"DIFFCHAT_COMPILE": " True "}, True, None),
        ({"DIFFCHAT_COMPILE": "1", "DIFFCHAT_COMPILE_MODE": "reduce-overhead"}, True, "reduce-overhead"),
    ],
)  # fmt: skip
def test_settings_from_environment(environ, enabled, mode):
    assert FastPathSettings.from_environment(environ) == FastPathSettings(enabled, mode)


@pytest.mark.parametrize(
    "environ",
    [{"DIFFCHAT_COMPILE": "fast"}, {"DIFFCHAT_COMPILE": "1", "DIFFCHAT_COMPILE_MODE": "turbo"}],
)
def test_settings_refuse_unknown_values(environ):
    with pytest.raises(InputError, match="DIFFCHAT_COMPILE"):
        FastPathSettings.from_environment(environ)


def test_default_mode_depends_on_the_device():
    assert FastPathSettings(True).resolved_mode("cuda:0") == "max-autotune-no-cudagraphs"
    assert FastPathSettings(True).resolved_mode("cpu") == "default"
    assert FastPathSettings(True, "max-autotune").resolved_mode("cpu") == "max-autotune"


def test_off_by_default_nothing_is_changed(monkeypatch):
    monkeypatch.delenv("DIFFCHAT_COMPILE", raising=False)
    render()
    pipeline = pipelines.load_pipeline("tiny-sd")
    assert not fast_path.is_compiled(pipeline)
    assert processor_names(pipeline) == {"AttnProcessor2_0"}


def test_compile_that_raises_at_load_leaves_the_model_eager(monkeypatch, caplog):
    expected = eager_pixels(monkeypatch)

    def no_compiler(*args, **kwargs):
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(torch, "compile", no_compiler)
    monkeypatch.setenv("DIFFCHAT_COMPILE", "1")
    with caplog.at_level(logging.INFO, logger="core.fast_path"):
        result = render()
    pipeline = pipelines.load_pipeline("tiny-sd")
    assert not fast_path.is_compiled(pipeline)
    assert "torch.compile unavailable (no C++ compiler found); running eagerly" in caplog.text
    assert processor_names(pipeline) == {"FusedAttnProcessor2_0"}  # the rest still applies
    assert np.abs(pixels(result) - expected).max() <= MAX_PIXEL_DIFF


def test_compile_failure_mid_image_renders_eagerly_with_the_same_noise(monkeypatch, caplog):
    """A size that fails to compile (after the warm-up compiled the native size) falls back."""
    expected = eager_pixels(monkeypatch, width=48, height=80)
    from torch._dynamo.exc import TorchDynamoException

    def fake_compile(function, **options):
        assert options == {"mode": "default", "dynamic": False}

        def compiled(sample, *args, **kwargs):
            if tuple(sample.shape[-2:]) != (32, 32):  # latents of any size but the native 64x64
                raise TorchDynamoException("backend failed for this shape")
            return function(sample, *args, **kwargs)

        return compiled

    monkeypatch.setattr(torch, "compile", fake_compile)
    monkeypatch.setenv("DIFFCHAT_COMPILE", "1")
    render()  # loads, warms up at 64x64 (compiled), renders 64x64 compiled
    assert fast_path.is_compiled(pipelines.load_pipeline("tiny-sd"))
    with caplog.at_level(logging.WARNING, logger="core.fast_path"):
        result = render(width=48, height=80)
    assert (
        "compilation failed (backend failed for this shape); this model now runs eagerly"
        in caplog.text
    )
    assert not fast_path.is_compiled(pipelines.load_pipeline("tiny-sd"))
    # The generator restarts from the seed: the retry draws the same starting noise.
    assert np.abs(pixels(result) - expected).max() <= MAX_PIXEL_DIFF


def test_model_errors_are_not_mistaken_for_compile_failures(monkeypatch):
    def fake_compile(function, **options):
        def compiled(*args, **kwargs):
            raise ValueError("a bug in the model")

        return compiled

    monkeypatch.setattr(torch, "compile", fake_compile)
    monkeypatch.setattr(fast_path, "warm_up", lambda *args, **kwargs: None)
    monkeypatch.setenv("DIFFCHAT_COMPILE", "1")
    with pytest.raises(ValueError, match="a bug in the model"):
        render()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny-sd", "tiny-sdxl"])
def test_compiled_image_equals_the_eager_image(monkeypatch, caplog, model):
    """Real torch.compile (inductor, CPU): same image within MAX_PIXEL_DIFF; a new size recompiles."""
    expected = eager_pixels(monkeypatch, model=model)
    expected_other_size = eager_pixels(monkeypatch, model=model, width=48, height=80)
    monkeypatch.setenv("DIFFCHAT_COMPILE", "1")
    with caplog.at_level(logging.INFO, logger="core.fast_path"):
        fast = pixels(render(model=model))
        assert fast_path.is_compiled(pipelines.load_pipeline(model))
        fast_other_size = pixels(render(model=model, width=48, height=80))
    assert "compiling the UNet for input 2x4x40x24" in caplog.text
    assert fast_path.is_compiled(pipelines.load_pipeline(model))  # recompiled, not fallen back
    print(f"{model}: max pixel diff {np.abs(fast - expected).max()}, other size {np.abs(fast_other_size - expected_other_size).max()}")  # fmt: skip
    assert np.abs(fast - expected).max() <= MAX_PIXEL_DIFF
    assert np.abs(fast_other_size - expected_other_size).max() <= MAX_PIXEL_DIFF
