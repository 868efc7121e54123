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


def _unknown(name, kinds):
    with pytest.raises(UnknownModelError) as raised:
        get_model_spec(name, kinds)
    return str(raised.value)


def test_unknown_image_model_lists_only_image_models():
    message = _unknown("sd-1.5", registry.IMAGE_KINDS)
    assert "Valid image models: " in message
    listed = message.split("Valid image models: ")[1].split(";")[0].split(", ")
    assert listed == list_models(registry.IMAGE_KINDS)
    for other in ("instruct-pix2pix", "tiny-ip2p", "blip", "append", "diffchat-offline"):
        assert other not in listed
    assert "single-file .safetensors checkpoint" in message


def test_unknown_model_of_one_kind_lists_that_kind():
    rewriters = _unknown("gpt-5", "rewriter")
    assert rewriters.startswith("Unknown model 'gpt-5'. Valid rewriters: diffchat-offline, ")
    assert "sd15" not in rewriters and "diffusers folder" not in rewriters
    ip2p = _unknown("pix2pix", ("instruct_pix2pix",))
    assert "Valid InstructPix2Pix models: instruct-pix2pix, tiny-ip2p;" in ip2p
    assert "single-file" not in ip2p  # an SD 1.x checkpoint is no InstructPix2Pix model
    assert "Valid captioners: blip." in _unknown("git-large", "captioner")


def test_a_folder_that_is_no_model_lists_the_kind_asked_for(tmp_path):
    message = _unknown(str(tmp_path), registry.IMAGE_KINDS)
    assert "neither a diffusers pipeline" in message and "image models: sd15," in message
    assert "append" not in message


def test_loading_an_unknown_image_model_lists_image_models_only():
    from PIL import Image

    from core import images

    request = images.GenerationRequest(prompt="a cat", model="sd-1.5", num_inference_steps=1)
    with pytest.raises(UnknownModelError) as raised:
        images.generate(request)
    assert "Valid image models: sd15," in str(raised.value)
    assert "append" not in str(raised.value) and "tiny-ip2p" not in str(raised.value)
    with pytest.raises(UnknownModelError, match="Valid InstructPix2Pix models: instruct-pix2pix"):
        images.edit_with_instruct_pix2pix(
            Image.new("RGB", (8, 8)), "make it night", model="pix2pix"
        )


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
