"""Evaluate and Train tab helpers: the log a person sees, progress phases, plot links, curves."""

from __future__ import annotations

import json

import pytest

from core.errors import InputError
from diffchat_ui.processes import LogBuffer


def test_log_hides_library_warnings_and_names_the_bar():
    log = LogBuffer()
    for line in (
        "loading models",
        "/x/transformers/utils.py:12: FutureWarning: `foo` is deprecated",
        "  warnings.warn(",
        "WARNING:root:something about a tokenizer",
        "Loading weights: 100%|##########| 272/272 [00:01<00:00, 200it/s]",
    ):
        log.add(line)
    assert log.lines == ["loading models", log.lines[1]] and "272/272" in log.lines[1]
    assert log.hidden_warnings == 2 and log.bar_label == "Loading weights"

    log.add("evaluate:  50%|#####     | 3/6 [00:10<00:10, 3.3s/row]")
    assert log.bar_label == "evaluate" and log.done_total == (3, 6)


def test_the_evaluation_phases_say_what_the_child_is_doing():
    """A finished model-loading bar read "loading models (Loading weights) 100%" for the
    minutes the child then spent before its first row, and the rows' bar showed full while
    the summary was written."""
    from diffchat_ui.evaluate_tab import progress_phase, running_status

    log = LogBuffer()
    assert progress_phase(None) == progress_phase(log) == "starting (loading the libraries)"
    log.add("Loading weights:  40%|####      | 109/272 [00:01<00:01, 200it/s]")
    assert progress_phase(log) == "loading models (Loading weights: 109/272)"
    log.add("Loading weights: 100%|##########| 272/272 [00:01<00:00, 200it/s]")
    assert (
        progress_phase(log) == "loading models and data (Loading weights done; the rows come next)"
    )
    assert "100" not in progress_phase(log)
    log.add("evaluate:   0%|          | 0/6 [00:00<?, ?row/s]")
    assert progress_phase(log) == (
        "evaluating rows (0 of 6 done; the first ones also load the image model and the scorers)"
    )
    log.add("evaluate:  50%|#####     | 3/6 [00:10<00:10, 3.3s/row]")
    assert progress_phase(log) == "evaluating rows (3 of 6 done)"
    log.add("evaluate: 100%|##########| 6/6 [00:20<00:00, 3.3s/row]")
    assert progress_phase(log) == "writing the summary and plots (all 6 rows done)"
    assert running_status(log, "evaluations/x") == (
        "Running: writing the summary and plots (all 6 rows done)… Output folder: `evaluations/x`"
    )


def test_log_hides_a_warning_printed_right_after_a_bar_redraw():
    """tqdm ends a redraw without a newline, so the evaluation's first root WARNING joined
    the bar's line and showed in the log."""
    log = LogBuffer()
    log.add(
        "evaluate:   0%|          | 0/3 [00:00<?, ?row/s]WARNING:root:Local config loaded, "
        "but no CLIP weights found in /x/tiny-scorers/hps"
    )
    assert log.lines == ["evaluate:   0%|          | 0/3 [00:00<?, ?row/s]"]
    assert log.hidden_warnings == 1 and log.done_total == (0, 3) and log.bar_label == "evaluate"
    log.add("evaluate:  33%|###3      | 1/3 [00:38<01:16, 38.2s/row]")
    assert log.lines == ["evaluate:  33%|###3      | 1/3 [00:38<01:16, 38.2s/row]"]


def test_a_bar_the_child_redraws_at_once_shows_while_the_child_is_quiet():
    """Model loading's bar printed 0/272, then 272/272 a millisecond later, then nothing for
    a minute: the screen, redrawn at most twice a second and only when the child spoke,
    showed 0/272 all that time."""
    import sys
    import threading

    from diffchat_ui.processes import follow
    from train.runner import ChildProcess

    script = (
        "import sys, time\n"
        "sys.stderr.write('\\rLoading weights:   0%|  | 0/272 [00:00<?, ?it/s]')\n"
        "sys.stderr.write('\\rLoading weights: 100%|##| 272/272 [00:00<00:00]\\n')\n"
        "sys.stderr.flush()\n"
        "time.sleep(1.5)\n"
    )
    child = ChildProcess([sys.executable, "-c", script]).start()
    shown = [log.done_total for log, code, _ in follow(child, threading.Event()) if code is None]
    assert shown and shown[-1] == (272, 272), shown


def test_a_bar_redraw_arrives_before_the_next_one_begins(tmp_path):
    """tqdm writes "\\r" + bar and no line end: read line by line, the evaluation's "0/3" bar
    arrived only when row 1 was done, so the whole first row showed model loading at 100 %.
    The child here draws its bar, then waits (without a deadline) until the test saw it."""
    import sys

    from train.runner import ChildProcess

    seen = tmp_path / "seen"
    script = (
        "import os, sys, time\n"
        "sys.stderr.write('Loading weights: 100%|##| 272/272 [00:00<00:00]\\n')\n"
        "sys.stderr.write('\\revaluate:   0%|  | 0/3 [00:00<?, ?row/s]')\n"
        "sys.stderr.flush()\n"
        f"while not os.path.exists({str(seen)!r}):\n"
        "    time.sleep(0.05)\n"
        "sys.stderr.write('\\nall rows done\\n')\n"
    )
    child = ChildProcess([sys.executable, "-c", script]).start()
    lines, idle_polls = [], 0
    for event in child.events(poll_seconds=0.1):
        if event.kind == "line":
            lines.append(event.text)
            if event.text.startswith("evaluate:") and not seen.exists():
                lines.append("(seen while the child waits)")
                seen.touch()
        elif event.kind == "idle" and not seen.exists():
            idle_polls += 1
            if idle_polls >= 300:  # 30 s and still nothing: let the child end, then fail
                seen.touch()
    assert lines == [
        "Loading weights: 100%|##| 272/272 [00:00<00:00]",
        "evaluate:   0%|  | 0/3 [00:00<?, ?row/s]",
        "(seen while the child waits)",
        "all rows done",
    ]


def test_output_read_in_pieces_arrives_whole_and_ends():
    """Text with no line end in one read (a long line cut by the pipe, the last words before
    the exit) must neither be lost nor stop the reading: the Evaluate tab then said
    "Running" forever for a child that had exited."""
    import sys

    from train.runner import ChildProcess

    script = (
        "import os\n"
        "os.write(2, b'no line end yet')\n"
        "os.write(2, b', a line ends\\n\\xc3')\n"  # a UTF-8 character cut in two
        "os.write(2, b'\\xa9t\\xc3\\xa9\\nthe last words')\n"
    )
    child = ChildProcess([sys.executable, "-c", script]).start()
    lines, idle_polls = [], 0
    for event in child.events(poll_seconds=0.1):
        if event.kind == "line":
            lines.append(event.text)
        idle_polls += event.kind == "idle"
        assert idle_polls < 300, f"30 s without an end after {lines}"  # the reader died
    assert lines == ["no line end yet, a line ends", "été", "the last words"]


def test_evaluate_and_train_runs_show_their_progress_on_the_status_line(tmp_path, monkeypatch):
    """The Evaluate run's progress overlay covered its log, summary and plots for the whole
    run; like Train's, it sits on the status line."""
    from diffchat_ui.context import AppContext
    from diffchat_ui.layout import build_demo
    from diffchat_ui.settings import detect_settings

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    config = build_demo(AppContext(detect_settings(force_offline=True))).config
    elem_ids = {c["id"]: c["props"].get("elem_id") for c in config["components"]}
    shown_on = {
        d["api_name"]: [elem_ids[i] for i in d["show_progress_on"] or []]
        for d in config["dependencies"]
        if d["api_name"] in ("evaluate", "train", "train_resume")
    }
    assert shown_on == {
        "evaluate": ["evaluation-status"],
        "train": ["train-status"],
        "train_resume": ["train-status"],
    }


def test_the_train_options_table_names_the_preset_that_filled_it(tmp_path, monkeypatch):
    """After Quick run the table's header still read "Hyperparameters (paper defaults)"."""
    from diffchat_ui.context import AppContext
    from diffchat_ui.layout import build_demo
    from diffchat_ui.settings import detect_settings
    from diffchat_ui.train_tab import OPTIONS_LABELS

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    demo = build_demo(AppContext(detect_settings(force_offline=True)))
    (table,) = [b for b in demo.blocks.values() if getattr(b, "elem_id", "") == "train-options"]
    assert table.label == OPTIONS_LABELS["paper"]
    (on_quick,) = [f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "on_quick"]
    options, output, status, preset = on_quick("sft")
    assert options["label"] == OPTIONS_LABELS["quick"] and output.endswith("sft-quick")
    assert preset == "quick"  # what the run files, so a page that rejoins it labels it so
    assert (
        status
        == "Quick run preset: about 3 minutes on a 2-core CPU: 30 LoRA steps of 8 x 128 tokens."
    )


def test_summary_plot_links_point_to_the_gallery(tmp_path):
    from diffchat_ui.evaluate_tab import results_view

    (tmp_path / "summary.md").write_text("| a | b |\n\n![distributions.png](distributions.png)\n")
    (tmp_path / "distributions.png").write_bytes(b"png")
    text, plots = results_view(tmp_path)
    assert "![" not in text and "distributions.png: shown under Plots below" in text
    assert plots == [str(tmp_path / "distributions.png")]


def test_quick_cpu_preset_and_curves_across_resume(tmp_path):
    from diffchat_ui.train_tab import merge_curves, quick_options, read_curves

    quick = {name: value for name, value, _ in quick_options("sft")}
    assert quick["max_steps"] == "30" and quick["use_lora"] == "True"
    assert quick["learning_rate"] == "2e-05"  # the rest stays the paper's
    with pytest.raises(InputError, match="quick CPU preset"):
        quick_options("ppo")
    rows = [{"step": step, "loss": 1.0 / step} for step in (1, 2, 3)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"st')
    curves = read_curves(tmp_path)
    assert [row["step"] for row in curves] == [1, 2, 3]  # the half-written line is skipped
    # resumed from the checkpoint of step 2: step 3 is redone, not drawn twice
    resumed = merge_curves(curves, [{"step": 3, "value": 0.2, "metric": "loss"}])
    assert [(row["step"], row["value"]) for row in resumed] == [(1, 1.0), (2, 0.5), (3, 0.2)]


def test_a_long_curve_is_thinned_keeping_first_and_last_step():
    from diffchat_ui.train_tab import thinned_curves

    loss = [{"step": step, "value": 1 / step, "metric": "loss"} for step in range(1, 1001)]
    reward = [{"step": step, "value": 0.5, "metric": "reward"} for step in range(1, 4)]
    thinned = thinned_curves(loss + reward, max_points=10)
    steps = [row["step"] for row in thinned if row["metric"] == "loss"]
    assert steps == [1, 112, 223, 334, 445, 556, 667, 778, 889, 1000]  # round(i * 999 / 9) + 1
    assert [row for row in thinned if row["metric"] == "reward"] == reward  # short: all kept


# A child that shows a progress bar, then runs until Stop (SIGINT).
_LONG_CHILD = (
    "import time\nprint('evaluate:   0%|          | 0/3 [00:00<?, ?row/s]')\ntime.sleep(120)"
)


def _job_tab_handlers(tmp_path, monkeypatch):
    """Return (context, {handler name: fn}) of an app whose job tabs run _LONG_CHILD (a
    comparison: a render that goes on until Stop)."""
    import sys

    from core.errors import GenerationCancelled
    from diffchat_ui import compare_tab, evaluate_tab, train_tab
    from diffchat_ui.context import AppContext
    from diffchat_ui.layout import build_demo
    from diffchat_ui.settings import detect_settings

    def long_comparison(plan, out_root, progress, cancel_event, *_):  # renders until Stop
        progress(0, 3, "raw image on tiny-sd (1 of 3)")
        cancel_event.wait(120)
        raise GenerationCancelled("Stopped.")

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    long_child = [sys.executable, "-c", _LONG_CHILD]
    monkeypatch.setattr(evaluate_tab, "evaluation_command", lambda *_: long_child)
    monkeypatch.setattr(train_tab, "data_command", lambda *_: long_child)
    monkeypatch.setattr(compare_tab, "run_comparison", long_comparison)
    context = AppContext(detect_settings(force_offline=True))
    handlers = {}
    for function in build_demo(context).fns.values():  # train's first on_click: Start
        handlers.setdefault(getattr(function.fn, "__name__", ""), function.fn)
    return context, handlers


def _is_no_change(update) -> bool:
    return update == {"__type__": "update"}


@pytest.mark.parametrize("tab", ["evaluate", "train", "compare"])
def test_a_reloaded_page_shows_its_browsers_running_job_to_its_end(tab, tmp_path, monkeypatch):
    """A page reloaded while its Compare, Evaluate or Train job went showed a grey Stop and an
    empty status: Gradio ends the handler of a page that goes, the job runs on. The reloaded
    page of that browser, once the tab is opened, shows it running (red Stop, Run disabled,
    the form it started from) and follows it to its end; a page of another browser sees
    nothing."""
    context, handlers = _job_tab_handlers(tmp_path, monkeypatch)
    request = type("Request", (), {"username": None})()
    mine, other = (context.sessions.open(None, None, browser=True) for _ in range(2))
    if tab == "evaluate":
        form = ("assets/instructpe/test.jsonl", 2, 0, ["tiny-sd"], ["append"], True, "")
        start, outputs, run_buttons = handlers["on_run"], 4, 1
    elif tab == "compare":  # the upload (None here) is not given back: its path is the server's
        form = ("a windmill", None, "make it night", ["tiny-sd"], "append", "(none)", True)
        form += (3, 2, 0, "pickscore=1")
        start, outputs, run_buttons = handlers["on_compare"], 3, 1
    else:
        form = ("data", "", "x.jsonl", "train-runs/reload", 1, [], "quick")  # quick preset
        start, outputs, run_buttons = handlers["on_click"], 3, 2
    started = start(mine, *form, request, lambda *_, **__: None)
    assert next(started)[0].startswith("Running")
    started.close()  # the page reloads: Gradio drops its handler

    def parts(update):  # (status, Stop, run buttons, form widgets); the page's following last
        buttons_end = outputs + 1 + run_buttons
        return update[0], update[outputs], update[outputs + 1 : buttons_end], update[buttons_end:-1]

    rejoin = handlers[f"{tab}_rejoin"]
    assert all(_is_no_change(update) for update in next(rejoin(other, False, request)))
    assert all(_is_no_change(u) for u in next(rejoin(None, False, request)))  # a new browser
    # a page that follows it already (it started it, or opened the tab before) follows once
    assert all(_is_no_change(update) for update in next(rejoin(mine, True, request)))
    follower = rejoin(mine, False, request, lambda *_, **__: None)
    first = next(follower)
    status, stop, buttons, widgets = parts(first)
    assert first[-1] is True  # the page follows it now
    assert status.startswith("Running")
    assert stop["variant"] == "stop" and all(b["interactive"] is False for b in buttons)
    # the form as the run started, so Resume goes on from the same folder; an evaluation
    # started without an output folder names the one it writes into
    filled = tuple(widget["value"] for widget in widgets)
    if tab == "evaluate":
        assert filled[:-1] == form[:-1] and filled[-1].startswith("evaluations/")
    elif tab == "compare":
        assert filled == form[:1] + form[2:]
    else:  # the table with the label of the preset that filled it
        from diffchat_ui.train_tab import OPTIONS_LABELS

        assert filled == form
        assert widgets[5]["label"] == OPTIONS_LABELS["quick"]
    # meanwhile a second start of this browser is refused: Stop would no longer reach the first
    refused = next(start(mine, *form, request, lambda *_, **__: None))[0]
    assert refused.startswith("⚠️ Your earlier run in this tab is still going")

    handlers[f"{tab}_stop"](mine, request)
    *_, last = follower
    status, stop, buttons, widgets = parts(last)
    assert last[-1] is False
    assert "Stopped" in status, status
    assert stop["variant"] == "secondary" and all(b["interactive"] for b in buttons)
    assert all(_is_no_change(widget) for widget in widgets)  # what the person typed since stays
    assert context.tab_jobs.running(context.stop_key(tab, mine, request)) is None
