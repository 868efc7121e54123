"""The Compare tab: one raw prompt (or image), one instruction, one seed, several methods.

DiffChat (any rewriter), a chat LLM (OpenAI-compatible endpoint or a local instruct model)
and InstructPix2Pix side by side, each with its prompt and scores, across one or more TIS
models. Every run is saved in the workspace so the Vote tab can show it blind.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gradio as gr

from core.errors import DataError, DiffChatError, GenerationCancelled, InputError
from core.files import atomic_write_text
from core.validation import shown_message
from diffchat_ui.context import AppContext
from diffchat_ui.serving import as_uploaded, page_gallery
from diffchat_ui.sessions import page_session_secret
from diffchat_ui.tab_stop import idle_stop_button, rejoin_when_opened, run_with_stop, stop_handler
from diffchat_ui.turns import score_images, shared_scorer
from diffchat_ui.worker import JobEvent, ProgressFn

IP2P = "instructpix2pix"
COMPARISON_FILE = "comparison.json"


@dataclass(frozen=True)
class ComparePlan:
    """One compare run, by name."""

    raw_prompt: str
    instruction: str
    models: tuple[str, ...]
    rewriters: tuple[str, ...]  # each becomes a method, named by `method_name`
    include_ip2p: bool
    ip2p_model: str
    seed: int = 0
    num_inference_steps: int = 25
    guidance_scale: float = 7.5
    image_guidance_scale: float = 1.5
    raw_image: str | None = None  # the user's image instead of rendering the raw prompt
    score: bool = True
    tiny_scorers: bool = False
    best_of_n: int = 0  # > 1: also draw N rewrites from rewriters[0] and keep the best
    best_of_n_weights: str = "pickscore=1,aesthetic=1,content_integrity=1"
    # {rewriter: its method's name} for rewriters not named by themselves (folders)
    method_names: dict[str, str] = field(default_factory=dict)

    def method_name(self, rewriter: str) -> str:
        """Return the name `rewriter`'s method goes by in the table, the record and the votes."""
        return self.method_names.get(rewriter, rewriter)

    def without_folders(self, text: str) -> str:
        """Return `text` (a method's error) with each rewriter folder said by its method name."""
        for folder, name in self.method_names.items():
            text = text.replace(folder, name)
        return text

    def record(self) -> dict:
        """Return the plan as a comparison record keeps it: methods by name, and no path of
        the server's (the uploaded image's, a rewriter folder's): records and vote tallies
        are shared by every user."""
        plan = asdict(self)
        del plan["method_names"]
        plan["rewriters"] = [self.method_name(rewriter) for rewriter in self.rewriters]
        plan["raw_image"] = "raw.png" if self.raw_image else None
        return plan

    def generation_request(self, model: str, prompt: str):
        """Return the text-to-image request every method of this plan renders with."""
        from core.images import GenerationRequest

        return GenerationRequest(
            prompt=prompt,
            model=model,
            seed=self.seed,
            num_inference_steps=self.num_inference_steps,
            guidance_scale=self.guidance_scale,
        )


@dataclass
class Candidate:
    """One method's output: prompt, image file, scores, or the reason it failed."""

    method: str
    prompt: str = ""
    image: str | None = None  # file name inside the comparison folder
    scores: dict[str, float] = field(default_factory=dict)
    error: str = ""


def folder_method_name(folder: str, root: Path, key: bytes) -> str:
    """Return the method name of a rewriter folder (an absolute path, as
    core.validation.resolve_model_reference gives it): its path inside the caller's `root`
    or the shipped assets, and a keyed hash of the whole path, so two users' own
    "train-runs/sft-run/final" stay two methods. Never the absolute path: comparisons and
    vote tallies are shown to every user, and it names the owner's folder (with --auth,
    WORKSPACE/users/<name>-<hash>)."""
    from core.paths import REPO_ROOT
    from diffchat_ui.sessions import keyed_hash

    path = Path(folder)
    shown = path.name
    for base in (Path(root).resolve(), REPO_ROOT.resolve()):
        if path.is_relative_to(base):
            shown = path.relative_to(base).as_posix()
            break
    return f"{shown} (folder {keyed_hash(key, 'method', str(path))[:8]})"


def check_plan(plan: ComparePlan, decoded=None):
    """Return the plan's raw image decoded (a PIL image; None when the plan renders it).

    Refuses (InputError) a plan that cannot run: no raw prompt, no image model, or a raw
    image `core.validation.load_user_image` refuses. The Compare handler calls it before it
    asks any chat API, so a bad upload costs no network call and no model work. `decoded`
    is that image as an earlier check_plan returned it: its size is checked again, the file
    is not decoded twice (nor read again: the job renders exactly the image checked).
    """
    from core.validation import load_user_image

    if not plan.raw_prompt.strip():
        raise InputError("Type the raw prompt (for your own image: a short description of it).")
    if not plan.models:
        raise InputError("Choose at least one image model.")
    if not plan.raw_image:
        return None
    return load_user_image(plan.raw_image if decoded is None else decoded)


# remote_rewrites' key for the Best-of-N samples of a chat API (the first rewriter)
BEST_OF_N_SAMPLES = "best-of-N samples"


def remote_rewrites(
    plan: ComparePlan, cancel_event, progress, lane=None
) -> dict[str, str | list[str] | DiffChatError]:
    """Return {rewriter: its rewrite, or the DiffChatError it raised} for the plan's chat-API
    rewriters, asked here in the caller's thread (the Compare handler), not on the model worker;
    with Best-of-N from a chat API, also {BEST_OF_N_SAMPLES: its N samples, or the error}.

    A chat API can take its whole timeout to answer: meanwhile the worker renders everyone
    else's images, and Stop (`cancel_event`) ends the wait with GenerationCancelled.
    `progress(fraction, desc=...)` is told what is awaited (gr.Progress); `lane(rewriter)`
    (AppContext.network_wait) holds a place for each wait or refuses it (that method's row).
    """
    from core.rewrite import (
        is_network_rewriter,
        load_rewriter,
        rewrite_cancellable,
        sample_cancellable,
    )

    lane = lane or contextlib.nullcontext
    answers: dict[str, str | list[str] | DiffChatError] = {}
    for name in plan.rewriters:
        if not is_network_rewriter(name):
            continue
        progress(0.0, desc=f"waiting for the {name} rewriter")
        try:
            rewriter = load_rewriter(name)
            with lane(name):
                answers[name] = rewrite_cancellable(
                    rewriter, plan.raw_prompt, plan.instruction, cancel_event
                )
        except GenerationCancelled:
            raise
        except DiffChatError as error:  # that method's row says why; the others still run
            answers[name] = error
    if plan.best_of_n > 1 and plan.rewriters and is_network_rewriter(plan.rewriters[0]):
        name = plan.rewriters[0]
        progress(0.0, desc=f"waiting for {plan.best_of_n} samples from the {name} rewriter")
        try:
            with lane(name):
                answers[BEST_OF_N_SAMPLES] = sample_cancellable(
                    load_rewriter(name),
                    plan.raw_prompt,
                    plan.instruction,
                    plan.best_of_n,
                    cancel_event,
                    seed=plan.seed,
                )
        except GenerationCancelled:
            raise
        except DiffChatError as error:  # the Best-of-N row says why
            answers[BEST_OF_N_SAMPLES] = error
    return answers


def _rewrite_and_render(
    plan: ComparePlan, model: str, rewriter: str, rewritten, cancel_event, progress
):
    from core import images
    from core.rewrite import load_rewriter

    if isinstance(rewritten, DiffChatError):
        raise rewritten
    if rewritten is None:
        rewritten = load_rewriter(rewriter).rewrite(plan.raw_prompt, plan.instruction)
    prompt = rewritten
    request = plan.generation_request(model, prompt)
    return prompt, images.generate(request, progress=progress, cancel_event=cancel_event).image


def _scores(plan: ComparePlan, image, prompt: str, raw_image) -> dict[str, float]:
    from core.scoring import EditContext

    edit = EditContext(plan.raw_prompt, plan.instruction, raw_image=raw_image)
    per_image, _ = score_images([image], [prompt], [edit], tiny=plan.tiny_scorers)
    return per_image[0]


def _best_of_n(plan: ComparePlan, model: str, raw_image, cancel_event, sampled=None):
    """The best of N rewrites by the score mix; `sampled`: a chat API's samples (or the
    error it raised), drawn before the job by `remote_rewrites`."""
    from core.best_of_n import best_of_n, parse_weights
    from core.rewrite import load_rewriter

    if isinstance(sampled, DiffChatError):
        raise sampled
    weights = parse_weights(plan.best_of_n_weights)
    request = plan.generation_request(model, plan.raw_prompt)
    candidates = best_of_n(
        load_rewriter(plan.rewriters[0]) if sampled is None else None,
        plan.raw_prompt,
        plan.instruction,
        plan.best_of_n,
        weights,
        request,
        seed=plan.seed,
        scorers={name: shared_scorer(name, plan.tiny_scorers) for name in weights},
        raw_image=raw_image,
        cancel_event=cancel_event,
        sampled=sampled,
    )
    return candidates[0]


def _candidates(
    plan: ComparePlan,
    model: str,
    folder: Path,
    raw_image,
    step_progress,
    cancel_event,
    finished: list[int],
    running: list[str],
    rewritten: dict,
) -> list[Candidate]:
    """Render every method for one TIS model into `folder`; return the candidates in order.
    `rewritten` holds the rewrites asked before the job (see `remote_rewrites`)."""
    from core import images

    candidates: list[Candidate] = []

    def add(method: str, produce) -> None:
        # produce() -> (prompt, image, scores or None); a method's DiffChatError (no API
        # key, missing weights) is its row's message, while Stop ends the whole run.
        candidate = Candidate(method=method)
        running[0] = method  # the progress bar names the method being run
        try:
            candidate.prompt, image, scores = produce()
            candidate.image = f"{len(candidates)}.png"
            image.save(folder / candidate.image)
            if scores is None and plan.score:
                scores = _scores(plan, image, candidate.prompt, raw_image)
            candidate.scores = scores or {}
        except GenerationCancelled:
            raise
        except DiffChatError as error:
            # saved in comparison.json, which every user's votes read
            candidate.error = shown_message(plan.without_folders(str(error)))
        candidates.append(candidate)
        finished[0] += 1

    # 2. rewriters, same seed
    for rewriter in plan.rewriters:
        add(
            plan.method_name(rewriter),
            lambda rewriter=rewriter: (
                *_rewrite_and_render(
                    plan, model, rewriter, rewritten.get(rewriter), cancel_event, step_progress
                ),
                None,
            ),
        )
    # 3. best-of-N (beyond the paper): N typical-sampled rewrites, the best by the score mix
    if plan.best_of_n > 1 and plan.rewriters:

        def best() -> tuple:
            samples = rewritten.get(BEST_OF_N_SAMPLES)
            chosen = _best_of_n(plan, model, raw_image, cancel_event, samples)
            return chosen.prompt, chosen.image, dict(chosen.scores)

        add(f"best-of-{plan.best_of_n}", best)
    # 4. InstructPix2Pix edits the raw image itself (scored against the raw prompt)
    if plan.include_ip2p:

        def instruct_pix2pix() -> tuple:
            image = images.edit_with_instruct_pix2pix(
                raw_image,
                plan.instruction,
                model=plan.ip2p_model,
                seed=plan.seed,
                num_inference_steps=plan.num_inference_steps,
                guidance_scale=plan.guidance_scale,
                image_guidance_scale=plan.image_guidance_scale,
                progress=step_progress,
                cancel_event=cancel_event,
            ).image
            scores = _scores(plan, image, plan.raw_prompt, raw_image) if plan.score else {}
            return f"(edits the image: {plan.instruction})", image, scores

        add(IP2P, instruct_pix2pix)
    return candidates


def run_comparison(
    plan: ComparePlan,
    out_root: Path,
    progress: ProgressFn,
    cancel_event: threading.Event,
    rewritten: dict[str, str | DiffChatError] | None = None,
    checked_image=None,
) -> list[Path]:
    """Render every method for every model; return the saved comparison folders.

    Per model: 1. the raw image (rendered from the raw prompt with the seed, or the user's
    image), 2. each rewriter's prompt rendered with the same seed, 3. InstructPix2Pix on the
    raw image, 4. scores. `rewritten` gives rewrites asked before this job (`remote_rewrites`:
    a chat API's answer, or its error); the other rewriters run here. A method that fails (no
    API key, missing weights) is recorded with its message and the others still run; Stop
    ends the whole run. `checked_image`: the plan's raw image as check_plan returned it to
    the caller (not decoded again). Refuses (InputError) what `check_plan` refuses (a bad raw
    image included) before anything is written; a run that stops or fails leaves no folder
    of its own behind (those of models already finished stay).
    """
    from core import images

    user_image = check_plan(plan, checked_image)
    rewritten = rewritten or {}
    folders = []
    methods = len(plan.rewriters) + int(plan.include_ip2p) + int(plan.best_of_n > 1)
    total = len(plan.models) * (methods + 1)
    finished = [0]  # renders done so far; a list so the progress callback sees updates
    running = ["raw image"]  # what is rendering now, for the progress text
    for model in plan.models:
        comparison_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        folder = out_root / comparison_id

        def step_progress(step, steps, model=model):
            what = f"{running[0]} on {model} ({finished[0] + 1} of {total})"
            progress(finished[0] * steps + step, total * steps, what)

        folder.mkdir(parents=True)
        try:
            # 1. the raw image
            running[0] = "raw image"
            if user_image is not None:
                raw_image = user_image
            else:
                request = plan.generation_request(model, plan.raw_prompt)
                raw_image = images.generate(
                    request, progress=step_progress, cancel_event=cancel_event
                ).image
            raw_image.save(folder / "raw.png")
            finished[0] += 1
            candidates = _candidates(
                plan,
                model,
                folder,
                raw_image,
                step_progress,
                cancel_event,
                finished,
                running,
                rewritten,
            )
            record = {
                "id": comparison_id,
                "created_at": time.time(),
                "model": model,
                "plan": plan.record(),
                "raw_prompt": plan.raw_prompt,
                "instruction": plan.instruction,
                "seed": plan.seed,
                "raw_image": "raw.png",
                "candidates": [asdict(c) for c in candidates],
            }
            # Atomic: a run stopped or killed while saving must not leave a truncated record.
            atomic_write_text(folder / COMPARISON_FILE, json.dumps(record, indent=2))
        except BaseException:  # Stop, a failed render, Ctrl-C: nothing half-made stays
            shutil.rmtree(folder, ignore_errors=True)
            raise
        folders.append(folder)
    return folders


# Each score's scale in a few characters, for the table header (the full wording is the
# scorer's own `scale` attribute, core.scoring).
SCORE_UNITS = {
    "pickscore": "logit·cos, ~18-23",
    "clip_score": "0-100",
    "aesthetic": "~1-10",
    "hps": "100·cos",
    "directional_clip": "-100..100",
    "content_integrity": "0-100",
}


def score_header(name: str) -> str:
    """Return a score column header with its scale: "clip_score (0-100)"."""
    unit = SCORE_UNITS.get(name)
    return f"{name} ({unit})" if unit else name


def load_comparison(folder: Path) -> dict:
    """Return a saved comparison record with absolute image paths.

    Refuses (DataError naming the file) a record that cannot be read, is not JSON, lacks
    the fields a ballot needs, or names an image that is not a file name in its folder.
    """
    path = folder / COMPARISON_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        record["raw_image"] = _image_in(folder, record["raw_image"])
        for key in ("id", "raw_prompt", "instruction"):
            if not isinstance(record[key], str):
                raise TypeError(f"{key} is not a string")
        for candidate in record["candidates"]:
            if not isinstance(candidate["method"], str):
                raise TypeError("a candidate's method is not a string")
            if candidate["image"]:
                candidate["image"] = _image_in(folder, candidate["image"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"damaged comparison record ({error!r})", path=str(path)) from error
    return record


def _image_in(folder: Path, name) -> str:
    """Return folder/name for an image name a record gives; refuses (ValueError) anything
    but a bare file name (run_comparison writes them so): a record must not point the Vote
    tab at files outside its folder."""
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise ValueError(f"image {name!r} is not a file name in the comparison's folder")
    return str(folder / name)


def comparison_view(folders: list[Path]):
    """Return (gallery items, table rows, score names) for the saved comparisons."""
    gallery, rows, score_names = [], [], []
    records = [load_comparison(folder) for folder in folders]
    for record in records:
        gallery.append((record["raw_image"], f"raw · {record['model']}"))
        for candidate in record["candidates"]:
            for name in candidate["scores"]:
                if name not in score_names:
                    score_names.append(name)
    for record in records:
        for candidate in record["candidates"]:
            if candidate["image"]:
                gallery.append((candidate["image"], f"{candidate['method']} · {record['model']}"))
            rows.append(
                [candidate["method"], record["model"], candidate["error"] or candidate["prompt"]]
                + [round(candidate["scores"].get(name, float("nan")), 4) for name in score_names]
            )
    return gallery, rows, score_names


@dataclass(frozen=True)
class CompareJob:
    """What the tab shows of a comparison besides its result: the upload's server path
    (None without one; messages name it by its file name, serving.as_uploaded) and the
    form it started from (raw prompt, instruction, models, rewriters, InstructPix2Pix,
    seed, steps, Best-of-N and its weights)."""

    upload: str | None
    form: tuple = ()


def comparison_job(
    context: AppContext, plan: ComparePlan, checked_image, say, cancel_event, root=None
):
    """Run one comparison, telling its JobEvents with `say` (processes.FollowedJob's work):
    first the chat-API rewrites, awaited here, not on the model worker, so a slow endpoint
    holds no one else's images (`remote_rewrites`), then `run_comparison` on the worker; the
    last event is the worker's "result" (the saved folders) or "error"."""

    def awaited(_fraction, desc):
        say(JobEvent("progress", description=desc))

    try:
        rewritten = remote_rewrites(plan, cancel_event, awaited, lane=context.network_wait)
    except GenerationCancelled as error:
        say(JobEvent("error", message=shown_message(error), cancelled=True))
        return
    job = context.worker.submit(
        lambda p, c: run_comparison(
            plan, context.comparisons_dir(), p, c, rewritten, checked_image
        ),
        "The comparison",
        cancel_event,
        root,  # its messages name the caller's paths as she gave them
    )
    for event in job.iter_events():
        say(event)


def build(context: AppContext, tab: gr.Tab) -> gr.Dropdown:
    """Lay out the Compare tab and wire its events (inside `tab`, its gr.Tab); return its
    DiffChat rewriter dropdown."""
    settings = context.settings
    with gr.Row():
        with gr.Column():
            raw_prompt = gr.Textbox(
                label="Raw prompt",
                lines=2,
                placeholder="a majestic horse in a misty meadow at dawn, digital painting",
            )
            # gr.File, not gr.Image: gr.Image opens and converts an upload before the app sees
            # it (a 13000x13000 grayscale PNG cost about 0.5 GB; a corrupt file, a bare "Error").
            # core.validation.load_user_image checks the header first and words the refusal.
            raw_image = gr.File(type="filepath", label="Or start from your image (optional)")
            instruction = gr.Textbox(label="Instruction", placeholder="make it winter")
        with gr.Column():
            models = gr.Dropdown(
                settings.image_models(),
                value=[settings.text2image_model],
                multiselect=True,
                label="Image models",
            )
            diffchat = gr.Dropdown(
                context.rewriter_choices(),
                value=settings.rewriter,
                label="DiffChat rewriter",
                allow_custom_value=True,
            )
            chat_llm = gr.Dropdown(
                ["smollm2-base", "openai", "append", "(none)"],
                value="smollm2-base",
                label="Chat LLM (OpenAI-compatible or local)",
            )
            include_ip2p = gr.Checkbox(value=True, label="InstructPix2Pix")
            with gr.Row():
                best_n = gr.Slider(
                    0, 16, value=0, step=1, label="Best-of-N with the DiffChat rewriter (0 = off)"
                )
                best_weights = gr.Textbox(
                    value="pickscore=1,aesthetic=1,content_integrity=1",
                    label="Best-of-N score weights",
                )
            with gr.Row():
                seed = gr.Number(value=0, precision=0, label="Seed")
                steps = gr.Slider(
                    1, 100, value=10 if settings.offline else 25, step=1, label="Steps"
                )
    with gr.Row():
        run_button = gr.Button("Compare", variant="primary")
        stop_button = idle_stop_button("compare")
    status = gr.Markdown()
    # Height "auto": at a fixed 360 px a row of four thumbnails was taller than the box, so
    # the captions naming each method were scrolled out of sight.
    gallery = gr.Gallery(label="Side by side", columns=4, height="auto", elem_id="compare-gallery")
    table = gr.Dataframe(
        label="Prompts and scores (higher is better; scales in the headers)",
        wrap=True,
        interactive=False,
        max_height=420,
        # The prompt column wraps at a fifth of the table, leaving the score columns room for
        # their headers' longest words (layout.CSS keeps those whole): at 1280 px all fit.
        column_widths=["auto", "auto", "20%"],
        elem_id="compare-table",
    )

    session_secret = page_session_secret()

    def on_compare(
        secret,
        raw_prompt_v,
        raw_image_v,
        instruction_v,
        models_v,
        diffchat_v,
        chat_v,
        ip2p_v,
        seed_v,
        steps_v,
        best_n_v,
        best_weights_v,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008 — Gradio's way to ask for a progress bar
    ):
        from core.validation import check_instruction, resolve_model_reference

        # A rewriter folder must be inside the user's root (the workspace without --auth) or
        # assets/; ids and names pass.
        root = context.user_root(request)
        try:
            stop_key = context.stop_key("compare", secret, request)
            rewriters = tuple(
                dict.fromkeys(
                    resolve_model_reference(r, root)
                    for r in (diffchat_v, chat_v)
                    if r and r != "(none)"
                )
            )
            plan = ComparePlan(
                raw_prompt=(raw_prompt_v or "").strip(),
                instruction=check_instruction(instruction_v).text,
                models=tuple(models_v or ()),
                rewriters=rewriters,
                include_ip2p=bool(ip2p_v),
                ip2p_model=settings.ip2p_model,
                seed=int(seed_v or 0),
                num_inference_steps=int(steps_v),
                raw_image=raw_image_v,
                tiny_scorers=settings.offline,
                best_of_n=int(best_n_v or 0),
                best_of_n_weights=best_weights_v or "",
                method_names={
                    rewriter: folder_method_name(rewriter, root, context.key)
                    for rewriter in rewriters
                    if Path(rewriter).is_absolute()
                },
            )
            checked_image = check_plan(plan)  # a bad upload is refused before any chat API
            # The form as a reloaded page gets it back (the upload is not: its path is the
            # server's).
            form = (raw_prompt_v, instruction_v, models_v, diffchat_v, chat_v, ip2p_v)
            form += (seed_v, steps_v, best_n_v, best_weights_v)
            about = CompareJob(raw_image_v, form)
            job = context.tab_jobs.start_job(
                stop_key,
                lambda say, flag: comparison_job(context, plan, checked_image, say, flag, root),
                context.cancel_flags,
                about,
            )
        except DiffChatError as error:
            yield f"⚠️ {shown_message(as_uploaded(str(error), raw_image_v), root)}", [], None
            return
        yield from watch(job, progress)

    def watch(job, progress):
        """Yield (status, gallery, table) updates of a followed comparison until its end."""
        shown = None
        for event in job.updates():
            if event.kind in ("queued", "progress"):
                if event.total:
                    progress((event.step, event.total), desc=event.description)
                elif event.kind == "progress":  # a chat API's answer awaited
                    progress(0.0, desc=event.description)
                # The status line says it too: a page that rejoined shows no progress bar.
                text = f"Running: {event.description}"
                if text != shown:
                    yield text, gr.update(), gr.update()
                    shown = text
                continue
            if event.kind == "error":
                message = as_uploaded(event.message, job.about.upload)
                yield ("⏹ " if event.cancelled else "⚠️ ") + message, [], None
                return
            items, rows, score_names = comparison_view(event.value)
            note = (
                " Scores come from tiny random-weight scorers: meaningless."
                if settings.offline and score_names
                else ""
            )
            headers = ["method", "model", "prompt"] + [score_header(name) for name in score_names]
            yield (
                f"Done: {len(event.value)} model(s). Saved for blind voting in the Vote tab.{note}",
                page_gallery(items),  # decoded: the comparison folders are not served
                {"headers": headers, "data": rows},
            )

    form = [raw_prompt, instruction, models, diffchat, chat_llm, include_ip2p, seed, steps]
    form += [best_n, best_weights]
    following = gr.State(False)  # True while this page shows a run (rejoin_when_opened)
    run_with_stop(
        run_button.click,
        stop_button,
        [run_button],
        on_compare,
        [
            session_secret,
            raw_prompt,
            raw_image,
            instruction,
            models,
            diffchat,
            chat_llm,
            include_ip2p,
            seed,
            steps,
            best_n,
            best_weights,
        ],
        [status, gallery, table],
        following,
        api_name="compare",
        concurrency_id="chat",
    )
    # A page reloaded while its comparison goes shows it again, to its end, once opened.
    rejoin_when_opened(
        context,
        "compare",
        tab,
        session_secret,
        following,
        stop_button,
        [run_button],
        watch,
        [status, gallery, table],
        form,
    )

    stop_button.click(
        stop_handler(context, "compare"),
        session_secret,
        None,
        queue=False,
        api_name="compare_stop",
    )
    return diffchat
