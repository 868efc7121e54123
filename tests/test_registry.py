"""The model registry table, name lookup, custom folders, and unavailable weights offline."""

from __future__ import annotations

import json

import pytest

from core import pipelines, registry
from core.errors import InputError, ModelUnavailableError, UnknownModelError
from core.registry import MODELS, ModelSpec, get_model_spec, list_models


def test_every_row_is_named_by_its_key_and_has_a_known_kind():
    for name, spec in MODELS.items():
        assert spec.name == name
        assert spec.kind in registry.KINDS


def test_real_rows_point_at_the_expected_repos():
    assert MODELS["sd15"].repo_id == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert MODELS["deliberate"].single_file.endswith(".safetensors")
    assert MODELS["deliberate"].config_repo == MODELS["sd15"].repo_id
    assert MODELS["sdxl"].kind == "sdxl"
    assert MODELS["instruct-pix2pix"].kind == "instruct_pix2pix"


def test_list_models_filters_by_kind_and_offline_set():
    assert list_models("instruct_pix2pix") == ["instruct-pix2pix", "tiny-ip2p"]
    assert list_models(registry.IMAGE_KINDS, offline_only=True) == ["tiny-sd", "tiny-sdxl"]
    assert "append" in list_models("rewriter")
    with pytest.raises(ValueError):
        list_models("painter")


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(UnknownModelError) as raised:
        get_model_spec("sd-1.5")
    message = str(raised.value)
    assert "'sd-1.5'" in message
    for name in ("sd15", "deliberate", "tiny-sd", "append"):
        assert name in message


@pytest.mark.parametrize(
    "class_name, kind",
    [
        ("StableDiffusionPipeline", "text2image"),
        ("StableDiffusionXLPipeline", "sdxl"),
        ("StableDiffusionInstructPix2PixPipeline", "instruct_pix2pix"),
    ],
)
def test_local_diffusers_folder_is_a_custom_model(tmp_path, class_name, kind):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
    spec = get_model_spec(str(tmp_path))
    assert spec.kind == kind
    assert spec.local_path() == tmp_path.resolve()


def test_folder_without_model_index_is_unknown(tmp_path):
    with pytest.raises(UnknownModelError):
        get_model_spec(str(tmp_path))


def test_rewriter_is_not_an_image_model():
    with pytest.raises(InputError, match="not an image model"):
        pipelines.load_pipeline("append")


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec("absent-repo", "text2image", "diffchat-tests/no-such-model", "test row"),
        ModelSpec(
            "absent-single-file",
            "text2image",
            "diffchat-tests/no-such-model",
            "test row",
            single_file="weights.safetensors",
            config_repo="diffchat-tests/no-such-config",
        ),
    ],
    ids=["from_pretrained", "from_single_file"],
)
def test_uncached_hub_model_offline_says_how_to_get_it(monkeypatch, spec):
    # conftest sets HF_HUB_OFFLINE=1, so nothing here can reach the network.
    monkeypatch.setitem(MODELS, spec.name, spec)
    with pytest.raises(ModelUnavailableError) as raised:
        pipelines.load_pipeline(spec.name, pipelines.RuntimeSettings(device="cpu"))
    message = str(raised.value)
    assert spec.name in message
    assert "tiny-sd" in message  # points at the offline stand-ins


def test_missing_tiny_folder_says_to_run_fetch(monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFCHAT_HOME", str(tmp_path))
    pipelines.unload()  # another test may hold the real tiny-sd
    with pytest.raises(ModelUnavailableError, match="python -m core.assets fetch"):
        pipelines.load_pipeline("tiny-sd", pipelines.RuntimeSettings(device="cpu"))
