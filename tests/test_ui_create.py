"""Create-tab logic without a browser: live queue messages, no-op rewrites, the controls that
apply per edit mode, the branch tree, missing images, sizes and model availability."""

from __future__ import annotations

import threading

import pytest

from core.errors import InputError
from core.rewrite import Rewriter
from diffchat_ui.worker import Worker


class EchoRewriter(Rewriter):
    """A rewriter that gives the prompt back unchanged (what a weak model sometimes does)."""

    name = "echo-test"

    def rewrite_batch(self, pairs):
        return [prompt for prompt, _ in pairs]

    def sample(self, prompt, instruction, num_candidates, typical_p=0.97, seed=0):
        return [f"{prompt}, sample {seed}"] * num_candidates


class FakeHfCache:
    """A local Hugging Face cache under `root`: the files `add`ed are in it."""

    def __init__(self, root):
        self.root = root

    def add(self, repo_id: str, *filenames: str) -> None:
        for filename in filenames:
            path = self.root / repo_id / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()

    def cached_file(self, repo_id: str, filename: str):
        path = self.root / repo_id / filename
        return path if path.is_file() else None


SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SD15_FILES = ("model_index.json", "unet/diffusion_pytorch_model.safetensors")
LCM_SD15 = ("latent-consistency/lcm-lora-sdv1-5", "pytorch_lora_weights.safetensors")


@pytest.fixture
def hf_cache(monkeypatch, tmp_path):
    """An empty local Hugging Face cache that core.assets.download reads."""
    cache = FakeHfCache(tmp_path / "hf-cache")
    monkeypatch.setattr("core.assets.download.cached_file", cache.cached_file)
    return cache


@pytest.fixture
def echo_rewriter(monkeypatch):
    import core.rewrite

    monkeypatch.setitem(core.rewrite._cache, EchoRewriter.name, EchoRewriter())
    return EchoRewriter.name


def test_queued_event_says_how_many_jobs_are_ahead():
    worker = Worker()
    assert worker.submit(lambda p, c: 1, "alone").wait().value == 1
    alone = worker.submit(lambda p, c: 2, "alone")
    first_event = next(alone.iter_events())
    assert first_event.kind == "queued" and first_event.ahead == 0  # nobody else: no "waiting"
    alone.wait()
    release = threading.Event()
    running = worker.submit(lambda p, c: release.wait(5), "someone else")
    mine = worker.submit(lambda p, c: "mine", "mine")
    assert next(mine.iter_events()).ahead == 1
    release.set()
    assert running.wait().kind == "result" and mine.wait().value == "mine"


def test_a_rewrite_that_changes_nothing_renders_nothing(echo_rewriter):
    from core.images import EditRequest
    from diffchat_ui.turns import run_turn, same_prompt

    # Plain greedy decoding (verified decoding would repair the copy with a literal edit).
    request = EditRequest(
        image=None,
        instruction="make it night",
        prompt="a cat",
        rewriter=echo_rewriter,
        rewrite_candidates=1,
    )
    result = run_turn(request, lambda *a: None, threading.Event(), score=False)
    assert result.unchanged and result.image is None and result.prompt == "a cat"
    assert same_prompt("A  cat ", "a cat") and not same_prompt("a cat", "a cat, night")


def test_the_rewrite_phase_shows_its_name_not_a_step_count(echo_rewriter):
    from types import SimpleNamespace

    from core.images import EditRequest
    from diffchat_ui.create_tab import _render
    from diffchat_ui.turns import run_turn
    from diffchat_ui.worker import JobEvent

    request = EditRequest(
        image=None, instruction="make it night", prompt="a cat", rewriter=echo_rewriter,
        rewrite_candidates=1,
    )  # fmt: skip
    reported = []
    run_turn(request, lambda *event: reported.append(event), threading.Event(), score=False)
    assert reported[0] == (0, 0, f"rewriting the prompt with {echo_rewriter}")

    # The chat shows a phase without steps as its name alone, and a denoising step as n / N.
    class Job:
        def iter_events(self):
            yield JobEvent("progress", step=0, total=0, description="rewriting the prompt")
            yield JobEvent("progress", step=1, total=4, description="denoising")
            yield JobEvent("result", value="done")

    worker = SimpleNamespace(submit=lambda *args: Job())
    context = SimpleNamespace(settings=SimpleNamespace(offline=True), worker=worker)
    shown = []
    request = EditRequest(image=None, instruction="x", prompt="a cat", rewriter="append")
    final = _render(context, request, None, threading.Event(), lambda *a, **k: shown.append((a, k)))
    assert final.value == "done"
    assert shown == [
        ((0.0,), {"desc": "rewriting the prompt"}),
        (((1, 4),), {"desc": "denoising"}),
    ]


def test_a_model_load_is_a_named_phase_before_the_first_step(offline_assets):
    from core import pipelines
    from core.images import GenerationRequest
    from diffchat_ui.turns import run_turn

    request = GenerationRequest("a cat", model="tiny-sd", num_inference_steps=2)
    pipelines.unload()  # as on a fresh start: the first turn loads the model
    reported = []
    run_turn(request, lambda *event: reported.append(event), threading.Event(), score=False)
    assert reported[0] == (0, 0, "loading tiny-sd")
    assert reported[1:] == [(1, 2, "denoising"), (2, 2, "denoising")]
    reported.clear()  # loaded now: straight to the steps
    run_turn(request, lambda *event: reported.append(event), threading.Event(), score=False)
    assert [description for *_, description in reported] == ["denoising", "denoising"]


@pytest.mark.parametrize(
    "mode, strength_visible, s_i_visible, guidance_label",
    [
        ("rewrite only", False, False, "Guidance scale"),
        ("keep composition", True, False, "Guidance scale"),
        ("InstructPix2Pix", False, True, "InstructPix2Pix text guidance s_T"),
    ],
)
def test_only_the_sliders_of_the_edit_mode_are_shown(
    mode, strength_visible, s_i_visible, guidance_label
):
    from diffchat_ui.create_tab import mode_controls

    strength, s_i, guidance = mode_controls(mode)
    assert strength["visible"] is strength_visible and s_i["visible"] is s_i_visible
    assert guidance["label"] == guidance_label


def _state_with_branches(tmp_path):
    from diffchat_ui.state import ChatState

    state = ChatState.new(seed=3)
    for name in ("1", "2", "3"):
        (tmp_path / f"{name}.png").write_bytes(b"png")
    root = state.session.add_turn("a cat", "a cat", image_path=str(tmp_path / "1.png"))
    night = state.session.add_turn(
        "make it night", "a cat, night", image_path=str(tmp_path / "2.png"), mode="rewrite"
    )
    state.session.branch_from(root.id)
    hat = state.session.add_turn(
        "add a hat", "a cat, hat", image_path=str(tmp_path / "3.png"), mode="keep"
    )
    return state, root, night, hat


def test_tree_and_captions_show_branches_and_the_current_turn(tmp_path):
    from diffchat_ui.create_tab import gallery_caption, turn_tree

    state, root, night, hat = _state_with_branches(tmp_path)
    assert turn_tree(state).split("  \n") == [
        "#1 text to image: a cat",
        "&emsp;↳ #2 rewrite: make it night",
        "&emsp;↳ **#3 keep composition: add a hat** ← current",
    ]
    assert gallery_caption(state, hat) == "▶ #3 (from #1): add a hat"
    assert gallery_caption(state, night) == "#2 (from #1): make it night"


def test_a_missing_image_is_said_with_the_turn_to_branch_from(tmp_path):
    from diffchat_ui.create_tab import _missing_image, _view, turns_with_images

    state, root, night, hat = _state_with_branches(tmp_path)
    assert _missing_image(state, hat) is None
    (tmp_path / "3.png").unlink()
    message = _missing_image(state, hat)
    assert "image of turn #3 is gone" in message and "branch from turn #1" in message
    assert [turn.id for turn in turns_with_images(state)] == [1, 2]

    class Context:
        class settings:  # noqa: N801 — stands in for AppSettings
            offline = True

    _, image, *_ = _view(state, Context)
    assert image is None  # no broken image on the page


def test_the_prompt_diff_legend_shows_only_with_changed_words(tmp_path):
    from diffchat_ui.create_tab import _view
    from diffchat_ui.state import ChatState

    class Context:
        class settings:  # noqa: N801 — stands in for AppSettings
            offline = True

    def prompt_diff(state):
        return _view(state, Context)[2]

    state = ChatState.new(seed=3)
    assert prompt_diff(None) == {"__type__": "update", "value": [], "show_legend": False}
    assert prompt_diff(state)["show_legend"] is False  # no turn yet
    (tmp_path / "1.png").write_bytes(b"png")
    state.session.add_turn("a cat", "a cat", image_path=str(tmp_path / "1.png"))
    first = prompt_diff(state)
    assert first["value"] == [("a cat", None)] and first["show_legend"] is False
    state.session.add_turn("make it night", "a cat at night", image_path=str(tmp_path / "1.png"))
    second = prompt_diff(state)
    assert second["value"] == [("a cat ", None), ("at night", "added")]
    assert second["show_legend"] is True


def test_non_english_edit_instructions_are_refused_with_a_reason():
    from diffchat_ui.create_tab import checked_instruction

    with pytest.raises(InputError, match="Only English is supported by the rewriter"):
        checked_instruction("mach den Himmel bitte dunkelblau und voller Sterne", True, "append")
    # a first prompt is only a note; a chat API rewriter reads other languages
    assert checked_instruction("ein Hund im Schnee auf der Wiese", False, "append").warnings
    assert checked_instruction("mach den Himmel bitte dunkelblau", True, "openai").warnings


def test_size_presets_follow_the_model_family():
    from diffchat_ui.create_tab import SIZE_NATIVE, parse_size, size_presets

    assert size_presets("sd15")[1] == "512x512 square"
    assert size_presets("sdxl")[1] == "1024x1024 square"
    assert parse_size("832x1216 portrait") == (832, 1216)
    assert parse_size(SIZE_NATIVE) == (None, None)


def test_models_without_weights_are_marked_and_refused_offline(monkeypatch, hf_cache):
    from huggingface_hub import constants

    from diffchat_ui.create_tab import model_note_text
    from diffchat_ui.settings import model_label

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert model_label("sd15") == "sd15 (not downloaded, offline)"
    assert "not downloaded and this app runs offline" in model_note_text("sd15")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert "the first turn downloads it" in model_note_text("sd15")


def test_a_hub_that_did_not_answer_at_start_makes_models_not_here_offline(monkeypatch, hf_cache):
    """`make run` without network (HF_HUB_OFFLINE unset): picking sd15 said "the first turn
    downloads it", and the turn failed only at the render, after the rewrite."""
    from huggingface_hub import constants

    from diffchat_ui.create_tab import START_TEXT, model_note_text, model_refusal
    from diffchat_ui.settings import AppSettings, model_label

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    settings = AppSettings(True, "tiny-sd", "tiny-ip2p", "diffchat-offline", hf_cache.root)
    cut_off = AppSettings(
        True, "tiny-sd", "tiny-ip2p", "diffchat-offline", hf_cache.root, hub_reachable=False
    )
    assert ("sd15 (not downloaded)", "sd15") in settings.image_model_choices()
    assert ("sd15 (not downloaded, offline)", "sd15") in cut_off.image_model_choices()
    assert ("tiny-sd", "tiny-sd") in cut_off.image_model_choices()
    assert model_label("sd15", hub_reachable=False) == "sd15 (not downloaded, offline)"
    note = model_note_text("sd15", hub_reachable=False)
    assert note.startswith("⚠️ The image model sd15 is not downloaded and this app runs offline")
    assert "the Hugging Face Hub did not answer when it started" in note
    refused = model_refusal(
        None, START_TEXT, "sd15", "", "rewrite only", "tiny-ip2p", hub_reachable=False
    )
    assert "not downloaded and this app runs offline" in refused
    assert model_refusal(None, START_TEXT, "sd15", "", "rewrite only", "tiny-ip2p") is None
    # the draft speed's few-step model is checked the same way
    assert "runs offline" in model_note_text("sd15", "draft", hub_reachable=False)


def test_a_turn_checks_the_model_it_would_render_with(monkeypatch, tmp_path, hf_cache):
    from huggingface_hub import constants

    from diffchat_ui.create_tab import (
        CUSTOM_MODEL,
        START_IMAGE,
        START_TEXT,
        model_refusal,
        refusal,
    )
    from diffchat_ui.state import ChatState

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    fresh = ChatState.new(seed=1, folder=tmp_path)
    offline = "not downloaded and this app runs offline"
    assert offline in model_refusal(None, START_TEXT, "sd15", "", "rewrite only", "tiny-ip2p")
    assert model_refusal(fresh, START_TEXT, "tiny-sd", "", "rewrite only", "tiny-ip2p") is None
    # the first turn from an upload renders nothing; a custom "sd15" is still sd15
    assert model_refusal(fresh, START_IMAGE, "sd15", "", "rewrite only", "tiny-ip2p") is None
    assert offline in model_refusal(fresh, START_TEXT, CUSTOM_MODEL, " sd15 ", "", "tiny-ip2p")
    edited = ChatState.new(seed=1, folder=tmp_path)
    edited.session.add_turn("a cat", "a cat")
    # InstructPix2Pix edits with the ip2p model; a prompt typed by hand renders with sd15
    assert model_refusal(edited, START_TEXT, "sd15", "", "InstructPix2Pix", "tiny-ip2p") is None
    assert offline in model_refusal(
        edited, START_TEXT, "tiny-sd", "", "InstructPix2Pix", "instruct-pix2pix"
    )
    assert offline in model_refusal(
        edited, START_TEXT, "sd15", "", "InstructPix2Pix", "tiny-ip2p", hand=True
    )
    # the message is refused (kept in the box) even as the answer to a question
    edited.unchanged = "make it night"
    assert refusal("try again", edited, "append") is None
    assert offline in refusal(
        "try again",
        edited,
        "append",
        model_refusal(edited, START_TEXT, "sd15", "", "rewrite only", "tiny-ip2p"),
    )


def test_an_unknown_custom_model_is_refused_before_anything_runs(tmp_path, monkeypatch):
    """'nosuchmodel' in the custom model box was found only at the render: the rewrite had
    run, a failed turn joined the tree and the text had left the box."""
    from diffchat_ui.create_tab import CUSTOM_MODEL, START_TEXT, model_refusal
    from diffchat_ui.state import ChatState

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    edited = ChatState.new(seed=1, folder=tmp_path)
    edited.session.add_turn("a cat", "a cat")

    def refused(custom):
        return model_refusal(edited, START_TEXT, CUSTOM_MODEL, custom, "rewrite only", "tiny-ip2p")

    unknown = refused("nosuchmodel")
    assert unknown.startswith("Unknown model 'nosuchmodel'. Valid image models: ")
    assert "smollm2" not in unknown and "tiny-sd" in unknown  # image models only
    assert "outside" in refused("/etc")
    # a diffusers folder in the workspace and a registry name pass (the folder loads later)
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    assert refused(str(folder)) is None and refused(" tiny-sd ") is None


def test_a_lora_model_is_available_with_its_file_and_its_base(hf_cache):
    from diffchat_ui.settings import model_available

    hf_cache.add(*LCM_SD15)
    assert not model_available("lcm-sd15")  # the base model sd15 is not here
    hf_cache.add(SD15, *SD15_FILES)
    assert model_available("lcm-sd15") and not model_available("sdxl-lightning")


def test_model_available_asks_the_download_module(hf_cache):
    from diffchat_ui.settings import model_available

    # one home (is_downloaded): model_index.json alone is a download cut off before the weights
    hf_cache.add(SD15, "model_index.json")
    assert not model_available("sd15")
    hf_cache.add(SD15, *SD15_FILES)
    assert model_available("sd15")
    # nothing to download: API rewriters; custom ids and folders are checked when they load
    assert model_available("openai") and model_available("someone/custom-model")


def test_a_missing_offline_set_model_says_how_to_install_it(monkeypatch, tmp_path):
    from diffchat_ui.settings import unavailable_reason

    monkeypatch.setenv("DIFFCHAT_HOME", str(tmp_path))
    assert "python -m core.assets fetch" in unavailable_reason("tiny-sd")


def test_an_upload_is_previewed_once_it_passes_the_check(tmp_path):
    from PIL import Image

    from diffchat_ui.create_tab import PREVIEW_SIDE, upload_preview

    photo = tmp_path / "upload-1234" / "photo.png"
    photo.parent.mkdir()
    Image.new("RGB", (1024, 600), (200, 30, 30)).save(photo)
    preview, note = upload_preview(str(photo))
    assert preview.size == (PREVIEW_SIDE, 300) and preview.getpixel((0, 0)) == (200, 30, 30)
    assert "1024 × 600 pixels" in note

    broken = tmp_path / "upload-1234" / "holiday.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    preview, note = upload_preview(str(broken))
    assert preview is None and note.startswith("⚠️ This file cannot be used:")
    assert "holiday.png" in note and str(tmp_path) not in note  # not the server's path
    icon = tmp_path / "upload-1234" / "cat.ico"
    Image.new("RGB", (16, 16)).save(icon)
    assert "cat.ico is a ICO image; supported formats" in upload_preview(str(icon))[1]
    assert upload_preview(None) == (None, "")


def test_trained_rewriters_are_listed_by_run_name(tmp_path):
    from diffchat_ui.context import AppContext
    from diffchat_ui.settings import AppSettings

    context = AppContext(AppSettings(True, "tiny-sd", "tiny-ip2p", "append", tmp_path))
    final = context.train_runs_dir() / "sft-run" / "final"
    final.mkdir(parents=True)
    (final / "adapter_config.json").write_text("{}")
    label, value = context.rewriter_choices()[-1]
    assert (label, value) == ("sft-run/final (trained here)", "./train-runs/sft-run/final")
    assert str(tmp_path) not in value  # the page holds no server path
    assert (context.user_root() / value).resolve() == final.resolve()  # found in the root


def test_with_a_login_each_user_lists_only_their_own_trained_rewriters(tmp_path):
    from types import SimpleNamespace

    from diffchat_ui.context import AppContext, user_folder_name
    from diffchat_ui.settings import AppSettings

    context = AppContext(AppSettings(True, "tiny-sd", "tiny-ip2p", "append", tmp_path))
    alice, bob = SimpleNamespace(username="alice"), SimpleNamespace(username="bob")
    final = context.train_runs_dir(alice) / "sft-run" / "final"
    final.mkdir(parents=True)
    (final / "adapter_config.json").write_text("{}")
    assert final.is_relative_to(tmp_path / "users" / user_folder_name("alice"))
    value = "./train-runs/sft-run/final"  # inside alice's own folder
    assert context.rewriter_choices(alice)[-1] == ("sft-run/final (trained here)", value)
    assert value not in {value for _, value in context.rewriter_choices(bob)}
    assert value not in {value for _, value in context.rewriter_choices()}  # no login
    # The page built at start-up (no user yet) lists no run of the shared workspace either.
    shared = context.settings.workspace / "train-runs" / "shared" / "final"
    shared.mkdir(parents=True)
    (shared / "adapter_config.json").write_text("{}")
    shared_value = "./train-runs/shared/final"
    assert shared_value in {value for _, value in context.rewriter_choices()}  # without --auth
    context.login_required = True
    assert shared_value not in {value for _, value in context.rewriter_choices()}
    assert ("append", "append") in context.rewriter_choices()
    assert context.user_root(SimpleNamespace(username=None)) == tmp_path  # without --auth
    # A user name is never a path, and names that read alike stay apart.
    assert "/" not in user_folder_name("../etc") and not user_folder_name("../etc").startswith(".")
    assert user_folder_name("a.b") != user_folder_name("a b")


def test_a_saved_chat_comes_back_after_a_restart(tmp_path):
    from diffchat_ui.saved_chats import chat_title, load_chat
    from diffchat_ui.sessions import SessionStore, new_secret

    key = b"k" * 32
    store = SessionStore(tmp_path, key)
    secret = new_secret()
    state = store.new_state(secret, None, seed=4)
    (state.folder / "turn-001.png").write_bytes(b"png")
    state.session.add_turn("a cat", "a cat", image_path=str(state.folder / "turn-001.png"))
    state.say("user", "a cat")
    state.say("assistant", {"path": str(state.folder / "turn-001.png")})
    store.put(secret, None, state)

    restarted = SessionStore(tmp_path, key)  # a new process: nothing in memory
    restored = restarted.get(secret, None)
    assert restored is not state and restored.session.current.prompt == "a cat"
    assert restored.messages == state.messages and restored.session.seed == 4
    assert restored.session.add_turn("b", "a cat, b").id == 2  # ids go on where they were
    assert chat_title(restarted.record_folder(restarted.session_id(secret))).startswith("a cat ·")

    # a damaged file is no chat (a fresh one starts), and foreign image paths are dropped
    record = restarted.record_folder(restarted.session_id(secret))
    (record / "chat.json").write_text("{not json")
    assert load_chat(record, state.folder) is None


def test_saved_chats_keep_only_their_own_images(tmp_path):
    from diffchat_ui.saved_chats import load_chat, save_chat
    from diffchat_ui.state import ChatState

    folder = tmp_path / "images"
    folder.mkdir()
    state = ChatState.new(1, folder=folder)
    state.session.add_turn("x", "x", image_path="/etc/passwd")
    state.say("assistant", {"path": "/etc/passwd"})
    save_chat(state, tmp_path / "record")
    restored = load_chat(tmp_path / "record", folder)
    assert restored.session.current.image_path is None and restored.messages == []


def test_an_export_carries_the_transcript(tmp_path):
    import json

    from diffchat_ui.create_tab import export_session
    from diffchat_ui.saved_chats import transcript_messages
    from diffchat_ui.state import ChatState

    state = ChatState.new(2, folder=tmp_path)
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "1.png")
    state.session.add_turn("a cat", "a cat", image_path=str(tmp_path / "1.png"))
    state.say("user", "a cat")
    state.say("assistant", {"path": str(tmp_path / "1.png")})
    state.say("assistant", "_Turn #1 · text to image_")
    data = json.loads(open(export_session(state)).read())
    assert transcript_messages(data) == [
        {"role": "user", "content": "a cat"},
        {"role": "assistant", "content": "_Turn #1 · text to image_"},
    ]


def test_the_draft_speed_renders_with_the_family_few_step_model_and_its_settings():
    from diffchat_ui.create_tab import CUSTOM_MODEL, TurnSettings, render_model, render_settings

    def turn(model, speed, custom=""):
        return TurnSettings(
            model=model,
            custom_model=custom,
            rewriter="append",
            edit_mode="rewrite only",
            strength=0.6,
            image_guidance_scale=1.5,
            guidance_scale=7.5,
            seed=1,
            num_inference_steps=30,
            negative_prompt="",
            speed=speed,
        )

    assert render_settings(turn("sd15", "quality")) == ("sd15", 30, 7.5)
    assert render_settings(turn("sd15", "draft")) == ("lcm-sd15", 4, 1.0)
    assert render_settings(turn("sdxl", "draft")) == ("sdxl-lightning", 4, 0.0)
    # a few-step model is its own draft, with its own settings, not the sliders'
    assert render_settings(turn("sd-turbo", "draft")) == ("sd-turbo", 1, 0.0)
    assert render_model("realistic-vision", "draft") == "lcm-sd15"
    with pytest.raises(InputError, match="family of 'someone/unknown-model' is not known"):
        turn(CUSTOM_MODEL, "draft", custom="someone/unknown-model").render_model()
    with pytest.raises(InputError, match="Unknown speed 'turbo'"):
        render_model("sd15", "turbo")


def test_a_turn_at_the_draft_speed_checks_the_draft_model(monkeypatch, tmp_path, hf_cache):
    from huggingface_hub import constants

    from diffchat_ui.create_tab import START_TEXT, model_note_text, model_refusal
    from diffchat_ui.state import ChatState

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hf_cache.add(SD15, *SD15_FILES)
    fresh = ChatState.new(seed=1, folder=tmp_path)
    assert model_refusal(fresh, START_TEXT, "sd15", "", "rewrite only", "tiny-ip2p") is None
    refused = model_refusal(
        fresh, START_TEXT, "sd15", "", "rewrite only", "tiny-ip2p", speed="draft"
    )
    assert refused.startswith("The draft speed renders with lcm-sd15. The image model lcm-sd15")
    assert "not downloaded and this app runs offline" in refused
    assert "Draft speed: turns render with **lcm-sd15** at 4 steps" in model_note_text(
        "sd15", "draft"
    )
    assert "⚠️" in model_note_text("sd15", "draft") and model_note_text("sd15") == ""
    # an InstructPix2Pix edit renders with the ip2p model at any speed
    edited = ChatState.new(seed=1, folder=tmp_path)
    edited.session.add_turn("a cat", "a cat")
    assert (
        model_refusal(edited, START_TEXT, "sd15", "", "InstructPix2Pix", "tiny-ip2p", speed="draft")
        is None
    )
    hf_cache.add(*LCM_SD15)
    assert (
        model_refusal(fresh, START_TEXT, "sd15", "", "rewrite only", "tiny-ip2p", speed="draft")
        is None
    )


def test_try_again_with_a_chat_api_rewriter_samples_with_the_seed(monkeypatch):
    import core.rewrite
    from core.images import EditRequest
    from diffchat_ui.create_tab import _rewrite_remotely

    class ChatApiEcho(EchoRewriter):  # answers as the chat API backend would, by its name
        name = core.rewrite.ChatAPIRewriter.name

    monkeypatch.setitem(core.rewrite._cache, ChatApiEcho.name, ChatApiEcho())
    request = EditRequest(
        image=None,
        instruction="make it night",
        prompt="a cat",
        rewriter=ChatApiEcho.name,
        rewrite_candidates=1,  # plain greedy: verified decoding would repair the copy
    )
    greedy, error = _rewrite_remotely(request, threading.Event(), lambda *a, **k: None)
    assert error is None and greedy.target_prompt == "a cat"
    sampled, _ = _rewrite_remotely(request, threading.Event(), lambda *a, **k: None, 5)
    assert sampled.target_prompt == "a cat, sample 5"
