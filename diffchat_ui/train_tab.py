"""The Train tab: run a training stage (data, SFT, RM, PPO) as a child process.

Hyperparameters are prefilled from the stage's config dataclass (whose defaults cite the
paper's Table 3). SFT, RM and PPO run through `train.runner.StageRun` (through `accelerate
launch` when more than one process is asked for); the data stage deduplicates and splits a
data file (`python -m train data split`). The tab streams the log, follows the progress bar,
plots the metrics rows the stage writes, and offers Stop (SIGINT: the stage saves a
checkpoint) and Resume. A finished run appears in the rewriter dropdowns.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import time
import typing
from pathlib import Path

import gradio as gr

from core.errors import DiffChatError, InputError
from core.validation import shown_message
from diffchat_ui.context import TRAIN_RUNS, AppContext
from diffchat_ui.sessions import page_session_secret
from diffchat_ui.tab_stop import idle_stop_button, rejoin_when_opened, run_with_stop, stop_handler
from train.__main__ import STAGES as TRAIN_STAGES
from train.runner import ChildProcess, StageRun

# The stages the tab runs (train.__main__ also has evaluate-rewriter, not a training stage).
STAGES = {name: module for name, module in TRAIN_STAGES.items() if name != "evaluate-rewriter"}
# The option the "Data file" widget fills: SFT and PPO train on triplets; the reward model
# labels the triplets' prompts (render + score, into OUTPUT/labels.jsonl) and trains on those.
DATA_OPTION = {"sft": "train_file", "ppo": "train_file", "rm": "prompts_file"}
# Options with their own widgets; the table holds the rest.
OWN_WIDGETS = ("model_name_or_path", *DATA_OPTION.values(), "output_dir", "resume_from_checkpoint")
# Stages whose output is a rewriter (the reward model is not).
REWRITER_STAGES = ("sft", "ppo")


# A run that finishes on a small CPU, beside the paper defaults (hours here). Timing from
# ../shared/FACTS.md: LoRA r16 on SmolLM2-135M, fp32, about 250 tokens/s on 2 cores, i.e.
# about 4 s per step of 8 x 128 tokens, plus about 30 s to load the model.
QUICK_RUNS = {
    "sft": {
        "options": {
            "max_steps": "30",
            "batch_size": "8",
            "per_device_batch_size": "8",
            "max_length": "128",
            "use_lora": "True",
            "save_steps": "10",
            "logging_steps": "1",
        },
        "expected": "about 3 minutes on a 2-core CPU: 30 LoRA steps of 8 x 128 tokens",
    },
}
# The options table says which preset fills it (the status line says it once, then moves on).
OPTIONS_LABELS = {
    "paper": "Hyperparameters (paper defaults, DiffChat Table 3)",
    "quick": "Hyperparameters (quick run on this CPU)",
}


def quick_options(stage: str) -> list[list]:
    """Return the option rows of the stage's quick CPU run (the defaults with QUICK_RUNS'
    changes); refuses (InputError) a stage without one."""
    if stage not in QUICK_RUNS:
        raise InputError(
            f"There is a quick CPU preset for {', '.join(QUICK_RUNS)} only; for {stage}, "
            "lower max_steps, batch_size and max_length in the table yourself."
        )
    changes = QUICK_RUNS[stage]["options"]
    return [
        [name, changes.get(name, value), help_] for name, value, help_ in default_options(stage)
    ]


def read_curves(output_dir: Path) -> list[dict]:
    """Return the plot rows of every metrics row a run folder holds so far (all of
    metrics.jsonl: after Resume the curve starts at step 1, not at the resumed step)."""
    import json

    from train.common import METRICS_JSONL

    path = output_dir / METRICS_JSONL
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows += curve_rows(json.loads(line))
        except json.JSONDecodeError:
            continue  # a half-written last line
    return rows


def merge_curves(curves: list[dict], new_rows: list[dict]) -> list[dict]:
    """Return `curves` extended by `new_rows`; rows of steps the new rows repeat (a resumed
    run redoing steps after its checkpoint) are replaced, not drawn twice."""
    if not new_rows:
        return curves
    first_new = min(row["step"] for row in new_rows)
    return [row for row in curves if row["step"] < first_new] + new_rows


# What the curve draws of a run: a run logging every step has thousands of points, and
# redrawing them all every half second kept a busy 2-core machine's browser from painting.
MAX_CURVE_POINTS = 400
PLOT_EVERY_S = 2.0


def thinned_curves(curves: list[dict], max_points: int = MAX_CURVE_POINTS) -> list[dict]:
    """Return `curves` with at most `max_points` rows per metric: evenly spaced steps, each
    metric's first and last row always kept (the latest value stays on screen)."""
    by_metric: dict[str, list[dict]] = {}
    for row in curves:
        by_metric.setdefault(row["metric"], []).append(row)
    kept = []
    for rows in by_metric.values():
        if len(rows) <= max_points:
            kept += rows
            continue
        stride = (len(rows) - 1) / (max_points - 1)
        kept += [rows[round(index * stride)] for index in range(max_points)]
    return kept


def stage_config_class(stage: str):
    """Return the stage's config dataclass (what its `parse_config` returns), or None for a
    stage without one (data)."""
    try:
        module = importlib.import_module(STAGES[stage])
    except ImportError:
        return None
    if not hasattr(module, "parse_config"):
        return None
    return typing.get_type_hints(module.parse_config)["return"]


def default_options(stage: str) -> list[list]:
    """Return [option, value, help] rows prefilled with the stage config's defaults."""
    config_class = stage_config_class(stage)
    if config_class is None:
        return []
    rows = []
    for field in dataclasses.fields(config_class):
        if field.name in OWN_WIDGETS:
            continue
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = ""
        rows.append(
            [field.name, "" if default is None else str(default), field.metadata.get("help", "")]
        )
    return rows


def path_kinds(stage: str) -> dict[str, str]:
    """Return {option: path kind} for the stage config's path-valued fields: those whose
    dataclass field carries metadata["path"] (a core.validation.PATH_KINDS value)."""
    config_class = stage_config_class(stage)
    if config_class is None:
        return {}
    return {
        field.name: field.metadata["path"]
        for field in dataclasses.fields(config_class)
        if "path" in field.metadata
    }


def stage_arguments(
    stage: str, base_model: str, data_file: str, options: list[list], root: Path | None = None
) -> list[str]:
    """Return the stage's command-line options: model, data, and the changed table rows.

    Every path-valued value (known by its config field, see `path_kinds`) passes
    core.validation.check_path_option: paths stay inside `root` (default the workspace; with
    --auth the user's own folder) or assets/ for reading, models are registry names, hub ids
    or such folders. Each option is one `--name=value` argument, so a value is never read as
    an option of its own (`label_only` = "--labels_file=/elsewhere" after a flag that takes
    an optional value would pass an unchecked path). Refuses (InputError) what
    check_path_option refuses, and a table row that is not an option of the stage's table.
    """
    from core.validation import check_path_option

    kinds = path_kinds(stage)
    arguments = []
    if base_model:
        model = check_path_option(kinds["model_name_or_path"], base_model, "Base model", root)
        arguments.append(f"--model_name_or_path={model}")
    if data_file:
        option = DATA_OPTION[stage]
        checked = check_path_option(kinds[option], data_file, "Data file", root)
        arguments.append(f"--{option}={checked}")
    defaults = {row[0]: row[1] for row in default_options(stage)}
    for name, value, *_ in options:
        name, value = str(name).strip(), str(value).strip()
        if not name:
            continue
        if name not in defaults:
            own = " (it has its own box above the table)" if name in OWN_WIDGETS else ""
            raise InputError(f"{name} is not an option of the {stage} table{own}.")
        if value != "" and value != defaults[name]:
            if name in kinds:
                value = check_path_option(kinds[name], value, name, root)
            arguments.append(f"--{name}={value}")
    return arguments


def data_command(data_file: str, output_dir: Path, root: Path | None = None) -> list[str]:
    """Return the data stage's command: deduplicate `data_file` (inside `root`, default the
    workspace, or assets/) and split it into train/test. Refuses (InputError) a missing or
    outside file."""
    from core.validation import resolve_user_path

    if not data_file:
        raise InputError("Give the data file to deduplicate and split.")
    source = str(resolve_user_path(data_file, "read", root))
    return [sys.executable, "-m", "train", "data", "split", source, "--out", str(output_dir)]


@dataclasses.dataclass(frozen=True)
class TrainJob:
    """What the tab shows of a training run besides its output: the stage, the output folder
    (and how the page names it), whether it resumed (the curve then starts at step 1), and
    the form it started from (stage, base model, data file, output, processes, the options
    table with the label of its preset, the preset)."""

    stage: str
    output_dir: Path
    shown: str
    resume: bool
    form: tuple = ()


def running_status(job: TrainJob, log) -> str:
    """Return the status line of a running stage: the stage, its progress bar's count and
    its output folder."""
    done_total = f" ({log.done_total[0]}/{log.done_total[1]})" if log.done_total else ""
    return f"Running {job.stage}{done_total} → `{job.shown}`"


def finished_status(job: TrainJob, stopped: bool, returncode: int, log) -> str:
    """Return the status line of a stage that ended: stopped, finished or failed (its last
    log line)."""
    in_dropdowns = job.stage in REWRITER_STAGES and (job.output_dir / "final").is_dir()
    if stopped:  # a stopped stage saves a checkpoint and exits 0
        done = "Stopped; press Resume to continue from the last checkpoint."
        if returncode == 0 and in_dropdowns:
            done += " The model as trained so far is in the rewriter dropdowns."
        return f"⏸️ {done} Output: `{job.shown}`"
    if returncode == 0:
        done = "Finished."
        if in_dropdowns:
            done += " The model is now in the rewriter dropdowns of Create and Compare."
        return f"{done} Output: `{job.shown}`"
    reason = log.lines[-1] if log.lines else f"exit code {returncode}"
    return f"⚠️ {reason}"


def curve_rows(metrics: dict) -> list[dict]:
    """Return long-format plot rows (step, value, metric) for the loss/reward values of one
    metrics.jsonl row (train.common.RunLogger)."""
    step = metrics.get("step")
    if step is None:
        return []
    return [
        {"step": step, "value": float(value), "metric": key}
        for key, value in metrics.items()
        if ("loss" in key or "reward" in key) and isinstance(value, int | float)
    ]


def build(context: AppContext, tab: gr.Tab) -> None:
    """Lay out the Train tab and wire its events (inside `tab`, its gr.Tab)."""
    from core.validation import resolve_workspace_path, shown_path

    # Relative: taken in the person's root (the workspace, or with --auth their own folder).
    runs = Path(TRAIN_RUNS)
    with gr.Row():
        stage = gr.Dropdown(list(STAGES), value="sft", label="Stage")
        base_model = gr.Textbox(
            value="smollm2-base", label="Base model (registry name, folder or id)"
        )
        data_file = gr.Textbox(value=str(Path("assets/instructpe/train.jsonl")), label="Data file")
    with gr.Row():
        output = gr.Textbox(
            value=str(runs / "sft-run"),
            label="Output folder (inside the workspace; with a login, inside your own folder)",
        )
        processes = gr.Number(value=1, precision=0, label="Processes / GPUs")
    with gr.Row():
        paper_button = gr.Button("Paper defaults (DiffChat Table 3; hours on a CPU)", size="sm")
        quick_button = gr.Button(
            f"Quick run on this CPU ({QUICK_RUNS['sft']['expected']})", size="sm"
        )
    options = gr.Dataframe(
        value=default_options("sft"),
        headers=["option", "value", "help"],
        interactive=True,
        static_columns=[0, 2],  # names and help are read-only; only values change
        label=OPTIONS_LABELS["paper"],
        wrap=True,
        elem_id="train-options",
    )
    with gr.Row():
        start_button = gr.Button("Start", variant="primary")
        stop_button = idle_stop_button("train")
        resume_button = gr.Button("Resume")
    status = gr.Markdown(elem_id="train-status")
    log = gr.Textbox(label="Log", lines=10, max_lines=14, autoscroll=True, elem_id="train-log")
    curves = gr.LinePlot(
        x="step",
        y="value",
        color="metric",
        label="Loss / reward",
        x_title="step",
        y_title="value",
        color_title="curve",
        x_axis_format="d",  # steps are whole numbers
        height=260,
        elem_id="train-curves",
    )

    # Which preset filled the table (an OPTIONS_LABELS key): a page that rejoins the run
    # labels the table as the page that started it did.
    preset = gr.State("paper")
    stage.change(
        lambda s: (
            gr.update(value=default_options(s), label=OPTIONS_LABELS["paper"]),
            str(runs / f"{s}-run"),
            "paper",
        ),
        stage,
        [options, output, preset],
        api_name=False,
    )

    def run(
        secret,
        stage_v,
        base_v,
        data_v,
        output_v,
        processes_v,
        options_v,
        preset_v,
        resume,
        request,
        progress,
    ):
        root = context.user_root(request)
        try:
            key = context.stop_key("train", secret, request)
            output_dir = resolve_workspace_path(output_v, root)
            rows = options_v.values.tolist() if hasattr(options_v, "values") else options_v or []
            base, data = (base_v or "").strip(), (data_v or "").strip()
            if stage_v == "data":
                command = data_command(data, output_dir, root)

                def start_child():
                    return ChildProcess(command).start()
            else:
                child = StageRun(
                    stage_v,
                    stage_arguments(stage_v, base, data, rows, root),
                    output_dir=output_dir,
                    num_processes=int(processes_v or 1),
                )

                def start_child():
                    return child.resume() if resume else child.start()

            # The page never sees the server's own path. The table comes back with the label
            # of the preset that filled it.
            table = gr.update(value=rows, label=OPTIONS_LABELS[preset_v])
            form = (stage_v, base_v, data_v, output_v, processes_v, table, preset_v)
            about = TrainJob(stage_v, output_dir, shown_path(output_dir, root), resume, form)
            job = context.tab_jobs.start(key, start_child, context.cancel_flags, about, root=root)
        except DiffChatError as error:
            yield f"⚠️ {shown_message(error, root)}", "", None
            return
        yield from watch(job, progress)

    def watch(job, progress):
        """Yield (status, log, curve) updates of a followed training run until its end."""
        import pandas as pd

        about = job.about
        curves: list[dict] = read_curves(about.output_dir) if about.resume else []
        shown_text, plot_changed, plot_sent_at = None, True, None
        for log, returncode, new_metrics in job.updates():
            if log.done_total and log.done_total[1]:
                progress(log.done_total, desc=about.stage)
            curves = merge_curves(curves, [row for m in new_metrics for row in curve_rows(m)])
            plot_changed = plot_changed or bool(new_metrics)
            if returncode is None:
                # Only what changed, the curve at most every PLOT_EVERY_S: a value sent again
                # is drawn again by the browser.
                text, plot = log.text(), gr.update()
                due = plot_sent_at is None or time.monotonic() - plot_sent_at >= PLOT_EVERY_S
                if plot_changed and due:
                    plot = pd.DataFrame(thinned_curves(curves)) if curves else None
                    plot_changed, plot_sent_at = False, time.monotonic()
                yield (
                    running_status(about, log),
                    text if text != shown_text else gr.update(),
                    plot,
                )
                shown_text = text
                continue
            yield (
                finished_status(about, job.stop_flag.is_set(), returncode, log),
                log.text(),
                (pd.DataFrame(thinned_curves(curves)) if curves else None),
            )

    session_secret = page_session_secret()
    inputs = [session_secret, stage, base_model, data_file, output, processes, options, preset]
    following = gr.State(False)  # True while this page shows a run (rejoin_when_opened)

    # Gradio injects gr.Request / gr.Progress only into positional parameters.
    def runner(resume: bool):
        def on_click(
            secret,
            stage_v,
            base_v,
            data_v,
            output_v,
            processes_v,
            options_v,
            preset_v,
            request: gr.Request,
            progress=gr.Progress(),  # noqa: B008
        ):
            yield from run(
                secret,
                stage_v,
                base_v,
                data_v,
                output_v,
                processes_v,
                options_v,
                preset_v,
                resume,
                request,
                progress,
            )

        return on_click

    # The progress bar sits on the status line: the log and the curve stay visible.
    for button, resume, api_name in (
        (start_button, False, "train"),
        (resume_button, True, "train_resume"),
    ):
        run_with_stop(
            button.click,
            stop_button,
            [start_button, resume_button],
            runner(resume=resume),
            inputs,
            [status, log, curves],
            following,
            api_name=api_name,
            show_progress_on=[status],
        )
    # A page reloaded while its run goes shows that run again, to its end, once opened.
    rejoin_when_opened(
        context,
        "train",
        tab,
        session_secret,
        following,
        stop_button,
        [start_button, resume_button],
        watch,
        [status, log, curves],
        inputs[1:],
    )

    def on_quick(stage_v):
        try:
            rows = quick_options(stage_v)
        except DiffChatError as error:
            return gr.update(), gr.update(), f"⚠️ {shown_message(error)}", gr.update()
        expected = QUICK_RUNS[stage_v]["expected"]
        return (
            gr.update(value=rows, label=OPTIONS_LABELS["quick"]),
            str(runs / f"{stage_v}-quick"),
            f"Quick run preset: {expected}.",
            "quick",
        )

    quick_button.click(on_quick, stage, [options, output, status, preset], api_name=False)
    paper_button.click(
        lambda s: (
            gr.update(value=default_options(s), label=OPTIONS_LABELS["paper"]),
            "Paper defaults (DiffChat Table 3).",
            "paper",
        ),
        stage,
        [options, status, preset],
        api_name=False,
    )
    stop_button.click(
        stop_handler(context, "train"),
        session_secret,
        None,
        queue=False,
        api_name="train_stop",
    )
