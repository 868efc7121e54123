"""The Evaluate tab: run `python -m core evaluate` on a data file and show its results.

The evaluation is the project's own command run as a child process: it is long, it writes
its resumable output folder itself, and Stop is a clean SIGINT. (It does not queue behind
the chat worker: on one GPU, expect chat turns to slow down while it runs.) The tab streams its log,
follows its progress bar, then shows summary.md (the paper-style table) and the plots.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from core.errors import DiffChatError, InputError
from core.paths import REPO_ROOT, assets_dir
from core.validation import shown_message
from diffchat_ui.context import AppContext
from diffchat_ui.serving import page_image
from diffchat_ui.sessions import page_session_secret
from diffchat_ui.tab_stop import idle_stop_button, rejoin_when_opened, run_with_stop, stop_handler
from train.runner import ChildProcess

# Where an evaluation without an output folder goes, in the person's root (AppContext.user_root).
EVALUATIONS = "evaluations"
METHODS = ("diffchat", "chatgpt", "smollm2-zero-shot", "append", "instructpix2pix", "best-of-n")


def default_data_file() -> str:
    """Return the shipped InstructPE test split (the default evaluation data) as the data
    box shows it: "assets/..." (core.validation.resolve_user_path finds it there), never its
    absolute path, which every page's config would carry."""
    return (assets_dir() / "instructpe" / "test.jsonl").relative_to(REPO_ROOT).as_posix()


def evaluation_command(
    data: str,
    methods: list[str],
    models: list[str],
    out_dir: Path,
    limit: int | None,
    tiny_scorers: bool,
    seed: int,
) -> list[str]:
    """Return the argv of the evaluation command. Refuses (InputError) empty choices."""
    if not methods:
        raise InputError("Choose at least one method to evaluate.")
    if not models:
        raise InputError("Choose at least one image model.")
    command = [
        sys.executable,
        "-m",
        "core",
        "evaluate",
        "--data",
        data,
        "--methods",
        ",".join(methods),
        "--tis-models",
        ",".join(models),
        "--seed",
        str(seed),
        "--out",
        str(out_dir),
    ]
    if limit:
        command += ["--limit", str(int(limit))]
    if tiny_scorers:
        command.append("--tiny-scorers")
    return command


def resolve_data_file(path: str, root: Path | None = None) -> str:
    """Return the data file to use, resolved inside `root` (default the workspace; with
    --auth the user's own folder) or the shipped assets/.

    Refuses (InputError) an empty path, a path outside those folders and a missing file.
    """
    from core.validation import resolve_user_path

    path = (path or "").strip()
    if not path:
        raise InputError(
            "Give a data file (JSONL or CSV of raw_prompt, instruction, target_prompt)."
        )
    resolved = resolve_user_path(path, "read", root)
    if not resolved.is_file():
        raise InputError(f"{path} is not a file.")
    return str(resolved)


# summary.md links its plots relatively (![name](name.png)); the page shows them below it.
_IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)")
# The evaluation's own progress bar (core.evaluate); any other bar is loading models.
EVALUATE_BAR = "evaluate"


def results_view(out_dir: Path):
    """Return (summary Markdown, plot paths) of a finished evaluation folder.

    The summary's relative image links would show as bare text on the page, so each becomes
    a pointer to the plot gallery, which shows the same files."""
    summary = out_dir / "summary.md"
    text = summary.read_text() if summary.is_file() else "_No summary.md was written._"
    text = _IMAGE_LINK.sub(lambda m: f"_(plot {m.group(2)}: shown under Plots below)_", text)
    plots = sorted(str(path) for path in out_dir.glob("*.png"))  # the plots, not images/
    return text, plots


def progress_phase(log) -> str:
    """Return what the evaluation child is doing, read from its last progress bar: starting,
    loading a model (a bar of its own, e.g. 272/272 weights), evaluating rows, or writing the
    summary once the rows' bar is full.

    A finished loading bar is not "loading: 100 %": the child goes on loading and preparing
    without a bar (for minutes on a busy CPU), and the first rows load the image model and
    the scorers too, so those phases say so instead of showing a full or empty bar."""
    if log is None or log.done_total is None:  # None: the child has said nothing yet
        return "starting (loading the libraries)"
    done, total = log.done_total
    if log.bar_label != EVALUATE_BAR:
        what = log.bar_label or "a model"
        if done < total:
            return f"loading models ({what}: {done}/{total})"
        return f"loading models and data ({what} done; the rows come next)"
    if done == 0:
        return (
            f"evaluating rows (0 of {total} done; the first ones also load the image model "
            "and the scorers)"
        )
    if done < total:
        return f"evaluating rows ({done} of {total} done)"
    return f"writing the summary and plots (all {total} rows done)"


def running_status(log, out_dir: Path | str) -> str:
    """Return the status line of a running evaluation: its phase (progress_phase) and its
    output folder."""
    return f"Running: {progress_phase(log)}… Output folder: `{out_dir}`"


@dataclass(frozen=True)
class EvaluationJob:
    """Where a running evaluation writes (to show its results), how the page names it, and
    the form it started from (data, limit, seed, models, methods, tiny scorers, output)."""

    out_dir: Path
    shown: str
    form: tuple = ()


def build(context: AppContext, tab: gr.Tab) -> None:
    """Lay out the Evaluate tab and wire its events (inside `tab`, its gr.Tab)."""
    settings = context.settings
    with gr.Row():
        data = gr.Textbox(
            value=default_data_file(), label="Data file (shipped sample or inside the workspace)"
        )
        limit = gr.Number(value=2 if settings.offline else None, precision=0, label="Limit (rows)")
        seed = gr.Number(value=0, precision=0, label="Seed")
        output = gr.Textbox(
            label="Output folder in the workspace, with a login in your own folder (empty: a "
            "new one; an old one resumes)"
        )
    with gr.Row():
        models = gr.Dropdown(
            settings.image_models(),
            value=[settings.text2image_model],
            multiselect=True,
            label="Image models",
        )
        methods = gr.Dropdown(
            list(METHODS),
            value=["diffchat", "append", "instructpix2pix"],
            multiselect=True,
            label="Methods",
        )
        tiny = gr.Checkbox(
            value=settings.offline, label="Tiny scorers (offline; numbers meaningless)"
        )
    with gr.Row():
        run_button = gr.Button("Run evaluation", variant="primary")
        stop_button = idle_stop_button("evaluate")
        show_button = gr.Button("Show the results of the output folder")
    status = gr.Markdown(elem_id="evaluation-status")
    log = gr.Textbox(
        label="Log (library warnings left out)", lines=8, max_lines=12, autoscroll=True
    )
    summary = gr.Markdown(elem_id="evaluation-summary")
    plots = gr.Gallery(label="Plots", columns=3, height=300, elem_id="evaluation-plots")

    session_secret = page_session_secret()

    def on_run(
        secret,
        data_v,
        limit_v,
        seed_v,
        models_v,
        methods_v,
        tiny_v,
        output_v,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008 — Gradio's way to ask for a progress bar
    ):
        from core.validation import resolve_workspace_path, shown_path

        root = context.user_root(request)
        try:
            stop_key = context.stop_key("evaluate", secret, request)
            data_file = resolve_data_file(data_v, root)
            if (output_v or "").strip():
                out_dir = resolve_workspace_path(output_v.strip(), root)
            else:
                out_dir = root / EVALUATIONS / time.strftime("%Y%m%d-%H%M%S")
            command = evaluation_command(
                data_file,
                list(methods_v or []),
                list(models_v or []),
                out_dir,
                int(limit_v) if limit_v else None,
                bool(tiny_v),
                int(seed_v or 0),
            )
            shown = shown_path(out_dir, root)  # the page never sees the server's own path
            # The output folder as used: run again with it, a stopped evaluation resumes.
            form = (data_v, limit_v, seed_v, models_v, methods_v, tiny_v, shown)
            job = context.tab_jobs.start(
                stop_key,
                lambda: ChildProcess(command).start(),
                context.cancel_flags,
                EvaluationJob(out_dir, shown, form),
                stop_timeout=30,
                root=root,
            )
        except DiffChatError as error:
            yield f"⚠️ {shown_message(error, root)}", "", "", []
            return
        yield from watch(job, progress)

    def watch(job, progress):
        """Yield (status, log, summary, plots) updates of a followed evaluation until its end."""
        shown = job.about.shown
        for log, returncode, _ in job.updates():
            if log.bar_label == EVALUATE_BAR and log.done_total[1]:
                progress(log.done_total, desc="evaluating", unit="rows")  # only rows have a bar
            if returncode is None:
                yield running_status(log, shown), log.text(), "", []
                continue
            if returncode != 0:
                reason = (
                    f"Stopped. Run again with the output folder `{shown}` to resume."
                    if job.stop_flag.is_set()
                    else (log.lines[-1] if log.lines else f"exit code {returncode}")
                )
                yield f"⚠️ The evaluation did not finish: {reason}", log.text(), "", []
                return
            table, plot_paths = results_view(job.about.out_dir)
            plots = [page_image(path) for path in plot_paths]  # the evaluation is not served
            yield (f"Done. Output folder: `{shown}`", log.text(), table, plots)

    # The progress bar sits on the status line: the log stays readable while the run goes on.
    form = [data, limit, seed, models, methods, tiny, output]
    following = gr.State(False)  # True while this page shows a run (rejoin_when_opened)
    run_with_stop(
        run_button.click,
        stop_button,
        [run_button],
        on_run,
        [session_secret, *form],
        [status, log, summary, plots],
        following,
        api_name="evaluate",
        show_progress_on=[status],
    )
    # A page reloaded while its evaluation goes shows it again, to its end, once opened.
    rejoin_when_opened(
        context,
        "evaluate",
        tab,
        session_secret,
        following,
        stop_button,
        [run_button],
        watch,
        [status, log, summary, plots],
        form,
    )

    def on_show(output_v, request: gr.Request):
        """Show a finished (or stopped) evaluation folder without running anything."""
        from core.validation import resolve_workspace_path, shown_path

        root = context.user_root(request)
        try:
            if not (output_v or "").strip():
                raise InputError("Give the output folder of an earlier evaluation.")
            out_dir = resolve_workspace_path(output_v.strip(), root)
            if not (out_dir / "summary.md").is_file():
                raise InputError(f"{output_v.strip()} has no summary.md: run (or resume) it first.")
        except DiffChatError as error:
            return f"⚠️ {shown_message(error, root)}", "", []
        table, plot_paths = results_view(out_dir)
        plots_shown = [page_image(path) for path in plot_paths]  # the evaluation is not served
        return f"Results of `{shown_path(out_dir, root)}`", table, plots_shown

    show_button.click(on_show, output, [status, summary, plots], api_name="evaluation_results")

    stop_button.click(
        stop_handler(context, "evaluate"),
        session_secret,
        None,
        queue=False,
        api_name="evaluate_stop",
    )
