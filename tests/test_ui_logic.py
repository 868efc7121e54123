"""Tab logic without a browser: clarification, prompt-diff highlighting, the job worker."""

from __future__ import annotations

import threading

import pytest

from core.errors import GenerationCancelled, InputError
from core.instructions import CONTENT_CHOICES, QUALITY_CHOICES, clarify, resolve_answer
from diffchat_ui.prompt_diff import ADDED, REMOVED, diff_markdown, diff_words
from diffchat_ui.worker import CancelFlags, Worker

# --- clarification (DialogPaint: ask instead of guessing on vague instructions)


@pytest.mark.parametrize(
    "instruction, choices",
    [
        ("change it", CONTENT_CHOICES),
        ("something else", CONTENT_CHOICES),
        ("Can you do something different?", CONTENT_CHOICES),
        ("make it better", QUALITY_CHOICES),
        ("improve it please", QUALITY_CHOICES),
        ("Make it look nicer!", QUALITY_CHOICES),
    ],
)
def test_vague_instructions_get_one_question_with_choices(instruction, choices):
    question = clarify(instruction)
    assert question is not None
    assert question.choices == choices
    assert question.instruction == instruction
    assert "1. " + choices[0] in question.as_markdown()


@pytest.mark.parametrize(
    "instruction",
    [
        "make it snow",
        "make the car blue",
        "replace the dog with a cat",
        "turn the horse into a zebra",
        "add a red hat",
        "improve the lighting",
        "change the sky to a sunset",
        "what if it were night",
    ],
)
def test_concrete_instructions_pass_through(instruction):
    assert clarify(instruction) is None


def test_change_without_destination_asks_what_the_object_becomes():
    question = clarify("change the sky")
    assert question is not None and question.target == "sky"
    assert question.question == "What should the sky become? For example:"
    assert "make the sky red" in question.choices


def test_answers_resolve_to_an_instruction():
    vague = clarify("make it better")
    assert resolve_answer(vague, "2") == QUALITY_CHOICES[1]
    assert resolve_answer(vague, QUALITY_CHOICES[2].upper()) == QUALITY_CHOICES[2]
    assert resolve_answer(vague, "Just do it!") == "make it better"
    assert resolve_answer(vague, "9") == "make it 9"  # out of range: taken as words
    assert resolve_answer(vague, "add a rainbow") == "add a rainbow"
    assert resolve_answer(vague, "more colorful") == "make it more colorful"
    sky = clarify("change the sky")
    assert resolve_answer(sky, "a stormy sky") == "change the sky to a stormy sky"
    assert resolve_answer(sky, "go ahead") == "change the sky"


# --- prompt diff


def test_diff_marks_replaced_and_inserted_words():
    segments = diff_words(
        "a horse in a meadow, golden light", "a zebra in a snowy meadow, golden light"
    )
    assert segments == [
        ("a ", None),
        ("horse ", REMOVED),
        ("zebra ", ADDED),
        ("in a ", None),
        ("snowy ", ADDED),
        ("meadow, golden light", None),
    ]
    assert "".join(text for text, label in segments if label != REMOVED) == (
        "a zebra in a snowy meadow, golden light"
    )


def test_diff_ignores_case_and_punctuation_moves():
    assert diff_words("a red car, 8k", "A red car 8k, night") == [
        ("A red car 8k, ", None),
        ("night", ADDED),
    ]


def test_first_prompt_has_no_changes_and_markdown_escapes():
    assert diff_words("", "a cat") == [("a cat", None)]
    assert diff_words("", "  ") == []
    assert diff_markdown("a cat", "a cat_1 *sleeping*") == "a ~~cat~~ **cat\\_1 \\*sleeping\\***"


def test_diff_highlights_whole_words_in_one_run():
    """A long added run is one segment of whole words (where the browser may break its lines
    is the stylesheet's: layout.CSS, #prompt-diff; it broke "detai|led" inside a word)."""
    added = "snow covered pine trees under a pale sky, soft diffuse light, highly detailed"
    assert diff_words(
        "a cabin in spring, watercolor", f"a cabin in winter, watercolor, {added}"
    ) == [
        ("a cabin in ", None),
        ("spring, ", REMOVED),
        ("winter, ", ADDED),
        ("watercolor, ", None),
        (added, ADDED),
    ]


def test_diff_of_removed_tail():
    assert diff_words("a cat, at night", "a cat,") == [("a cat, ", None), ("at night", REMOVED)]


# --- worker


def test_worker_runs_jobs_in_order_and_reports_progress():
    worker = Worker()
    order = []

    def task(name):
        def run(progress, cancel_event):
            for step in range(1, 3):
                progress(step, 2, "denoising")
            order.append(name)
            return name.upper()

        return run

    jobs = [worker.submit(task(name), name) for name in ("a", "b", "c")]
    finals = [job.wait() for job in jobs]
    assert [final.value for final in finals] == ["A", "B", "C"]
    assert order == ["a", "b", "c"]
    kinds = [event.kind for event in worker.submit(task("d"), "d").iter_events()]
    assert kinds == ["queued", "progress", "progress", "result"]


def test_worker_turns_errors_into_readable_messages():
    worker = Worker()

    def bad_input(progress, cancel_event):
        raise InputError("The instruction is empty.")

    def bug(progress, cancel_event):
        raise KeyError("unet")

    assert worker.submit(bad_input, "turn").wait().message == "The instruction is empty."
    final = worker.submit(bug, "Rendering").wait()
    assert final.kind == "error" and final.message == "Rendering failed: KeyError: 'unet'"
    assert "Traceback" not in final.message


def test_a_jobs_progress_and_error_name_no_server_folder(tmp_path, monkeypatch):
    """A custom model folder's progress line ("loading /srv/.../workspace/my-model") and a
    loader's error reached the page with the workspace's absolute path."""
    from core.paths import workspace_dir

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path / "workspace"))
    folder = workspace_dir() / "my-model"

    def load(progress, cancel_event):
        progress(0, 0, f"loading {folder}")
        raise InputError(f"{folder} holds neither a model nor a LoRA adapter.")

    events = list(Worker().submit(load, "This turn").iter_events())
    assert [event.description for event in events if event.kind == "progress"] == [
        "loading my-model"
    ]
    assert events[-1].message == "my-model holds neither a model nor a LoRA adapter."


def test_a_jobs_messages_name_paths_inside_the_callers_root_relative_to_it(tmp_path, monkeypatch):
    """With --auth a job's progress and errors about a folder in the user's own root named
    it "users/alice-<hash>/my-model": she gave "my-model", relative to her folder."""
    from core.paths import workspace_dir

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path / "workspace"))
    root = workspace_dir() / "users" / "alice-0123456789ab"
    folder = root / "my-model"

    def load(progress, cancel_event):
        progress(0, 0, f"loading {folder}")
        raise KeyError(str(folder))

    events = list(Worker().submit(load, "This turn", root=root).iter_events())
    assert [event.description for event in events if event.kind == "progress"] == [
        "loading my-model"
    ]
    assert events[-1].message == "This turn failed: KeyError: 'my-model'"


def test_stop_cancels_only_that_sessions_job():
    worker = Worker()
    flags = CancelFlags()
    started = threading.Event()

    def long_task(progress, cancel_event):
        started.set()
        for _ in range(1000):
            if cancel_event.wait(0.01):
                raise GenerationCancelled("Stopped after a few steps.")
        return "finished"

    job_a = worker.submit(long_task, "a", flags.fresh("session-a"))
    job_b = worker.submit(lambda progress, cancel: "b done", "b", flags.fresh("session-b"))
    started.wait(5)
    assert flags.stop("session-a") is True
    assert flags.stop("nobody") is False
    final_a = job_a.wait()
    assert final_a.cancelled and final_a.message == "Stopped after a few steps."
    assert job_b.wait().value == "b done"
