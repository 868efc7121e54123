"""The Train tab: run a training stage (data, SFT, RM, PPO) as a child process.

Hyperparameters are prefilled from the stage's config dataclass (whose defaults cite the
paper's Table 3); the run goes through `accelerate launch` when more than one process is
asked for. The tab streams the log, follows the progress bar, plots the metrics the stage
writes (metrics.jsonl, train/common.py) and offers Stop (SIGINT: the stage saves a
checkpoint) and Resume. A finished run appears in the rewriter dropdowns.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from pathlib import Path

import gradio as gr

from core.errors import DiffChatError, InputError
from diffchat_ui.context import AppContext
from diffchat_ui.processes import stream_process

STAGES = {
    "data": "train.data_cli",
    "sft": "train.sft",
    "rm": "train.reward_model",
    "ppo": "train.ppo",
}
# Options with their own widgets; the table holds the rest.
OWN_WIDGETS = ("model_name_or_path", "train_file", "output_dir", "resume_from_checkpoint")
METRICS_FILE = "metrics.jsonl"


def stage_config_class(stage: str):
    """Return the stage's config dataclass (the one named *StageConfig), or None."""
    try:
        module = importlib.import_module(STAGES[stage])
    except ImportError:
        return None
    for value in vars(module).values():
        if (
            dataclasses.is_dataclass(value)
            and isinstance(value, type)
            and value.__name__.endswith("StageConfig")
        ):
            return value
    return None


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


def stage_command(
    stage: str,
    base_model: str,
    data_file: str,
    output_dir: Path,
    options: list[list],
    num_processes: int,
    resume: bool,
) -> list[str]:
    """Return the argv that runs the stage; refuses (InputError) a bad process count."""
    if num_processes < 1:
        raise InputError("The number of processes must be at least 1.")
    if num_processes > 1:
        command = [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--num_processes",
            str(num_processes),
            "-m",
            "train",
            stage,
        ]
    else:
        command = [sys.executable, "-m", "train", stage]
    if base_model:
        command += ["--model_name_or_path", base_model]
    if data_file:
        command += ["--train_file", data_file]
    command += ["--output_dir", str(output_dir)]
    defaults = {row[0]: row[1] for row in default_options(stage)}
    for name, value, *_ in options:
        name, value = str(name).strip(), str(value).strip()
        if name and value != "" and value != defaults.get(name):
            command += [f"--{name}", value]
    if resume:
        command += ["--resume_from_checkpoint", "latest"]
    return command


def read_metrics(output_dir: Path):
    """Return a long-format DataFrame (step, value, metric) of loss/reward metrics, or None."""
    import pandas as pd

    path = output_dir / METRICS_FILE
    if not path.is_file():
        return None
    rows = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written right now
        step = record.get("step")
        for key, value in record.items():
            if (
                ("loss" in key or "reward" in key)
                and isinstance(value, int | float)
                and step is not None
            ):
                rows.append({"step": step, "value": float(value), "metric": key})
    return pd.DataFrame(rows) if rows else None


def build(context: AppContext) -> None:
    """Lay out the Train tab and wire its events (inside a gr.Tab)."""
    from core.validation import resolve_workspace_path

    runs = context.train_runs_dir()
    with gr.Row():
        stage = gr.Dropdown(list(STAGES), value="sft", label="Stage")
        base_model = gr.Textbox(
            value="smollm2-base", label="Base model (registry name, folder or id)"
        )
        data_file = gr.Textbox(value=str(Path("assets/instructpe/train.jsonl")), label="Data file")
    with gr.Row():
        output = gr.Textbox(
            value=str(runs / "sft-run"), label="Output folder (inside the workspace)"
        )
        processes = gr.Number(value=1, precision=0, label="Processes / GPUs")
    options = gr.Dataframe(
        value=default_options("sft"),
        headers=["option", "value", "help"],
        interactive=True,
        label="Hyperparameters (paper defaults)",
        wrap=True,
    )
    with gr.Row():
        start_button = gr.Button("Start", variant="primary")
        stop_button = gr.Button("Stop", variant="stop")
        resume_button = gr.Button("Resume")
    status = gr.Markdown()
    log = gr.Textbox(label="Log", lines=10, max_lines=14, autoscroll=True)
    curves = gr.LinePlot(x="step", y="value", color="metric", label="Loss / reward", height=260)

    stage.change(
        lambda s: (default_options(s), str(runs / f"{s}-run")),
        stage,
        [options, output],
        api_name=False,
    )

    def run(stage_v, base_v, data_v, output_v, processes_v, options_v, resume, request, progress):
        try:
            output_dir = resolve_workspace_path(output_v)
            rows = (
                options_v.values.tolist() if hasattr(options_v, "values") else list(options_v or [])
            )
            command = stage_command(
                stage_v,
                (base_v or "").strip(),
                (data_v or "").strip(),
                output_dir,
                rows,
                int(processes_v or 1),
                resume,
            )
        except DiffChatError as error:
            yield f"⚠️ {error}", "", None
            return
        flag = context.cancel_flags.fresh(f"train-{request.session_hash}")
        shown = " ".join(command[1:])
        for lines, done_total, returncode in stream_process(command, flag):
            if done_total and done_total[1]:
                progress(done_total, desc=stage_v)
            metrics = read_metrics(output_dir)
            if returncode is None:
                yield f"Running `{shown}`", "\n".join(lines), metrics
            elif returncode == 0:
                yield (
                    f"Finished. The result in `{output_dir}` is now in the rewriter dropdowns "
                    "(reload the page).",
                    "\n".join(lines),
                    metrics,
                )
            else:
                reason = (
                    "Stopped; press Resume to continue from the last checkpoint."
                    if flag.is_set()
                    else (lines[-1] if lines else f"exit code {returncode}")
                )
                yield f"⚠️ {reason}", "\n".join(lines), metrics

    inputs = [stage, base_model, data_file, output, processes, options]

    # Gradio injects gr.Request / gr.Progress only into positional parameters.
    def on_start(
        stage_v,
        base_v,
        data_v,
        output_v,
        processes_v,
        options_v,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008
    ):
        yield from run(
            stage_v, base_v, data_v, output_v, processes_v, options_v, False, request, progress
        )

    def on_resume(
        stage_v,
        base_v,
        data_v,
        output_v,
        processes_v,
        options_v,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008
    ):
        yield from run(
            stage_v, base_v, data_v, output_v, processes_v, options_v, True, request, progress
        )

    def on_stop(request: gr.Request):
        context.cancel_flags.stop(f"train-{request.session_hash}")

    start_button.click(on_start, inputs, [status, log, curves], api_name="train")
    resume_button.click(on_resume, inputs, [status, log, curves], api_name="train_resume")
    stop_button.click(on_stop, None, None, queue=False, api_name="train_stop")
