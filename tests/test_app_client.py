"""The running app on the offline set, driven through gradio_client like a remote user.

One app per module (launch takes seconds); each test opens its own Client, i.e. its own
browser session. Turns use the "append" rewriter except one real SmolLM2 turn.
"""

from __future__ import annotations

import csv
import re
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("gradio_client")

from app_fixtures import local_launch_options  # noqa: E402
from gradio_client import Client  # noqa: E402

from core.rewrite import Rewriter  # noqa: E402

SEND = "/send"
APP: dict = {}  # the running app's AppContext, for tests that look behind the API


@pytest.fixture(scope="module")
def app_url(offline_assets, tmp_path_factory, monkeypatch_module):
    workspace = tmp_path_factory.mktemp("workspace")
    monkeypatch_module.setenv("DIFFCHAT_WORKSPACE", str(workspace))
    from diffchat_ui.context import AppContext
    from diffchat_ui.layout import build_demo, launch_options, queue
    from diffchat_ui.settings import detect_settings

    settings = detect_settings(force_offline=True, concurrency=4)
    assert settings.offline and settings.workspace == workspace.resolve()
    context = AppContext(settings)
    APP["context"] = context
    demo = queue(build_demo(context), settings.concurrency)
    _, url, _ = demo.launch(**local_launch_options(), **launch_options(context))
    yield url
    demo.close()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def secret_of(client: Client) -> str:
    """The client's chat session secret (from /open_session, once): every chat call takes it."""
    if not hasattr(client, "diffchat_secret"):
        client.diffchat_secret = client.predict(api_name="/open_session")
    return client.diffchat_secret


def send_inputs(
    client: Client,
    text: str,
    model: str = "tiny-sd",
    custom_model: str = "",
    rewriter: str = "append",
    mode: str = "rewrite only",
    start_mode: str = "start from text",
    start_image=None,
    seed: int = 7,
    variations: int = 1,
    steps: int = 2,
    candidates: int = 4,
    speed: str = "quality",
) -> tuple:
    """The inputs of one /send call, in the endpoint's order."""
    return (
        text,
        secret_of(client),
        start_mode,
        start_image,
        model,
        custom_model,
        rewriter,
        mode,
        0.6,
        1.5,
        7.5,
        seed,
        steps,
        "",
        "native size",
        variations,
        candidates,
        speed,
    )


def send(client: Client, text: str, **inputs):
    """One chat message; returns (chat, image, prompt diff, scores, gallery, download)."""
    return client.predict(*send_inputs(client, text, **inputs), api_name=SEND)


def segments_of(diff) -> list[dict]:
    """The HighlightedText segments of the prompt diff (an update: it also sets the legend)."""
    return diff["value"] if isinstance(diff, dict) else diff


def prompt_of(diff) -> str:
    """The current prompt: the kept and added segments of the HighlightedText value."""
    return "".join(
        s["token"] for s in segments_of(diff) if s.get("class_or_confidence") != "removed"
    ).strip()


def test_banner_says_offline(app_url):
    import urllib.request

    page = urllib.request.urlopen(app_url).read().decode()
    assert "Offline model set" in page


def test_three_turns_with_clarification_undo_and_branch(app_url):
    client = Client(app_url, verbose=False)
    chat, image, diff, _, gallery, download = send(client, "a red fox in a snowy forest")
    assert prompt_of(diff) == "a red fox in a snowy forest"
    assert Path(image).is_file() and Path(download).suffix == ".png"

    chat, _, diff, _, gallery, _ = send(client, "make it night")
    assert prompt_of(diff) == "a red fox in a snowy forest, make it night"
    assert {"token": "make it night", "class_or_confidence": "added"} in segments_of(diff)
    assert diff["show_legend"] is True  # the legend explains the marked words
    assert len(gallery) == 2

    # A vague instruction gets a question with choices instead of a render.
    chat, *_, gallery, _ = send(client, "make it better")
    assert "Better in what way?" in str(chat[-1]["content"])
    assert len(gallery) == 2
    chat, _, diff, _, gallery, _ = send(client, "3")
    assert (
        prompt_of(diff) == "a red fox in a snowy forest, make it night, make the colors more vivid"
    )
    assert len(gallery) == 3

    _, _, diff, *_ = client.predict(secret_of(client), api_name="/undo")
    assert prompt_of(diff) == "a red fox in a snowy forest, make it night"
    # Branch from the first turn: the next edit starts from its prompt; nothing is lost.
    first_id = int(re.match(r"▶? ?#(\d+)", gallery[0]["caption"]).group(1))
    _, _, diff, *_ = client.predict(secret_of(client), first_id, api_name="/branch")
    assert prompt_of(diff) == "a red fox in a snowy forest"
    _, _, diff, _, gallery, _ = send(client, "add a full moon")
    assert prompt_of(diff) == "a red fox in a snowy forest, add a full moon"
    assert len(gallery) == 4
    _, _, diff, _, gallery, _ = client.predict(secret_of(client), api_name="/forget")
    assert prompt_of(diff) == "a red fox in a snowy forest" and len(gallery) == 3


def test_export_then_import_a_session(app_url):
    from gradio_client import handle_file

    client = Client(app_url, verbose=False)
    send(client, "a castle on a hill")
    send(client, "make it sunset")
    exported = client.predict(secret_of(client), api_name="/export_session")
    other = Client(app_url, verbose=False)
    chat, image, diff, _, gallery, _ = other.predict(
        handle_file(exported), secret_of(other), 3, api_name="/import_session"
    )
    assert "Imported a session with 2 turns" in str(chat[-1]["content"])
    assert "a castle on a hill" in str(chat[0]["content"])  # the exported transcript came too
    assert prompt_of(diff) == "a castle on a hill, make it sunset"
    assert Path(image).is_file() and len(gallery) == 2


def test_real_smollm2_turn(app_url):
    client = Client(app_url, verbose=False)
    send(client, "a lighthouse on a cliff, oil painting")
    chat, image, diff, *_ = send(client, "make it winter", rewriter="smollm2-base")
    prompt = prompt_of(diff)
    assert prompt and "\n" not in prompt and Path(image).is_file()


def test_stop_cancels_the_turn_cleanly(app_url):
    client = Client(app_url, verbose=False)
    send(client, "a quiet harbour at dawn")
    job = client.submit(*send_inputs(client, "make it stormy", steps=100), api_name=SEND)
    while not job.status().progress_data and not job.done():
        time.sleep(0.05)  # wait until the diffusion steps are under way
    client.predict(secret_of(client), api_name="/stop")
    chat, _, diff, _, gallery, _ = job.result()
    assert "⏹" in str(chat[-1]["content"]) and "Stopped" in str(chat[-1]["content"])
    assert prompt_of(diff) == "a quiet harbour at dawn" and len(gallery) == 1


def test_errors_are_chat_messages_and_keep_the_session(app_url):
    client = Client(app_url, verbose=False)
    send(client, "a small boat")
    chat, _, diff, *_ = send(client, "x" * 1200)
    last = str(chat[-1]["content"])
    assert "⚠️" in last and "Traceback" not in last
    assert prompt_of(diff) == "a small boat"


def test_compare_then_vote_then_export(app_url, tmp_path):
    client = Client(app_url, verbose=False)
    status, gallery, table = client.predict(
        secret_of(client),
        "a cabin in the woods, watercolor",
        None,
        "make it autumn",
        ["tiny-sd"],
        "append",
        "(none)",  # the chat-LLM slot takes the same path; SmolLM2 runs once, in its own test
        True,
        5,
        2,
        2,
        "clip_score=1",
        api_name="/compare",
    )
    assert status.startswith("Done"), status
    methods = [row[0] for row in table["data"]]
    assert methods == ["append", "best-of-2", "instructpix2pix"]
    assert len(gallery) == 4  # raw + three candidates
    assert "content_integrity (0-100)" in table["headers"]

    status, *_ = client.predict(
        secret_of(client),
        "a cabin in the woods, watercolor",
        None,
        "make it winter",
        ["tiny-sd"],
        "append",
        "(none)",
        True,
        5,
        2,
        2,
        "clip_score=1",
        api_name="/compare",
    )
    assert status.startswith("Done"), status

    raw_image, instruction, candidates, _, status = client.predict(
        secret_of(client), api_name="/next_ballot"
    )
    assert Path(raw_image).is_file() and "make it" in instruction and "1 more" in status
    assert [item["caption"] for item in candidates] == [f"Candidate {x}" for x in "ABC"]
    assert "append" not in str(candidates) and "instructpix2pix" not in str(candidates)  # blind
    # After a vote the other comparison loads by itself; none is shown twice.
    _, second, candidates, _, status, _, _ = client.predict(
        secret_of(client), "Candidate B", api_name="/vote"
    )
    assert "1 votes so far" in status and "make it" in second and second != instruction
    assert len(candidates) == 3
    *_, status, _, pairs = client.predict(secret_of(client), "tie", api_name="/vote")
    assert "2 votes so far" in status and "All done" in status
    assert "All done" in client.predict(secret_of(client), api_name="/next_ballot")[-1]
    # The two votes name their voter by a keyed hash, never the session hash or the secret.
    voters = [row["voter"] for row in APP["context"].votes.rows()]
    assert len(voters) >= 2 and all(re.fullmatch(r"[0-9a-f]{64}", v) for v in voters if v)
    assert sum(bool(v) for v in voters) >= 2
    assert not {client.session_hash, secret_of(client)} & set(voters)
    ties = {(row[0], row[1]): row[3] for row in pairs["data"]}
    shown = sorted(["append", "best-of-2", "instructpix2pix"])
    assert ties == {(a, b): 1 for i, a in enumerate(shown) for b in shown[i + 1 :]}
    assert pairs["headers"][-1] == "win rate (95% CI)"
    rows = list(csv.DictReader(open(client.predict(api_name="/export_votes"))))
    assert len(rows) == 2 and rows[1]["choice"] == "tie"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", rows[0]["created_at"])


def test_eight_concurrent_clients_do_not_cross_talk(app_url):
    results, errors = {}, []

    def user(n: int) -> None:
        try:
            # httpx's default 5 s read timeout is shorter than eight handshakes may take on a
            # busy 2-core machine; the test is about cross-talk, not speed.
            client = Client(app_url, verbose=False, httpx_kwargs={"timeout": 300})
            send(client, f"a painting of object number {n}")
            _, _, diff, _, gallery, _ = send(client, f"add label {n}")
            results[n] = (prompt_of(diff), len(gallery))
        except Exception as error:  # collected; a thread's exception would vanish
            errors.append(error)

    threads = [threading.Thread(target=user, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == {n: (f"a painting of object number {n}, add label {n}", 2) for n in range(8)}


def test_short_sft_run_from_the_train_tab(app_url, tmp_path):
    from train_fixtures import save_tiny_llama, tiny_triplets, write_triplets_jsonl

    from core.paths import workspace_dir
    from diffchat_ui.context import finished_rewriters
    from diffchat_ui.train_tab import default_options

    # The Train tab reads only inside the workspace (or assets/).
    base = save_tiny_llama(workspace_dir() / "tiny-llama")
    data = write_triplets_jsonl(workspace_dir() / "train.jsonl", tiny_triplets(8))
    overrides = {
        "max_steps": "2",
        "batch_size": "2",
        "per_device_batch_size": "2",
        "max_length": "64",
        "save_steps": "1",
    }
    rows = [
        [name, overrides.get(name, value), help_] for name, value, help_ in default_options("sft")
    ]
    assert {"learning_rate": "2e-05", "num_train_epochs": "3"}.items() <= {
        row[0]: row[1] for row in default_options("sft")
    }.items()  # the paper's Table 3 values
    output = workspace_dir() / "train-runs" / "sft-test"
    client = Client(app_url, verbose=False)
    status, log, curves = client.predict(
        secret_of(client),
        "sft",
        str(base),
        str(data),
        str(output),
        1,
        {"headers": ["option", "value", "help"], "data": rows},
        api_name="/train",
    )
    assert status.startswith("Finished"), f"{status}\n{log}"
    assert curves is not None and "loss" in str(curves)
    # The finished model is offered as a rewriter; intermediate checkpoints are not.
    assert finished_rewriters(output.parent) == [output / "final"]


def test_train_tab_stop_then_resume(app_url, tmp_path):
    from train_fixtures import save_tiny_llama, tiny_triplets, write_triplets_jsonl

    from core.paths import workspace_dir
    from diffchat_ui.train_tab import default_options

    base = save_tiny_llama(workspace_dir() / "tiny-llama-resume")
    data = write_triplets_jsonl(workspace_dir() / "train-resume.jsonl", tiny_triplets(8))
    output = workspace_dir() / "train-runs" / "sft-stop-resume"

    def options(max_steps: int) -> dict:
        overrides = {"max_steps": str(max_steps), "batch_size": "2", "save_steps": "1"}
        overrides |= {"per_device_batch_size": "2", "max_length": "64"}
        rows = [[n, overrides.get(n, v), h] for n, v, h in default_options("sft")]
        return {"headers": ["option", "value", "help"], "data": rows}

    client = Client(app_url, verbose=False)
    job = client.submit(
        secret_of(client),
        "sft",
        str(base),
        str(data),
        str(output),
        1,
        options(100000),
        api_name="/train",
    )
    deadline = time.time() + 300
    while not list(output.glob("checkpoint-*")) and time.time() < deadline:
        time.sleep(0.5)
    assert list(output.glob("checkpoint-*")), "no checkpoint before the deadline"
    client.predict(secret_of(client), api_name="/train_stop")
    status, log, _ = job.result(timeout=300)
    assert status.startswith("⏸️ Stopped"), f"{status}\n{log}"

    # Resume continues from the saved checkpoint; a step budget already reached ends at once.
    status, log, _ = client.predict(
        secret_of(client),
        "sft",
        str(base),
        str(data),
        str(output),
        1,
        options(1),
        api_name="/train_resume",
    )
    assert status.startswith("Finished"), f"{status}\n{log}"
    assert "resuming from" in log and "checkpoint-" in log


def test_train_tab_says_a_childs_refusal_without_server_paths(app_url):
    """A stage's own refusal (Resume with nothing saved) came back from the child as "no
    checkpoint to resume from in /home/.../workspace/train-runs/...": the status line and
    the log named the server's folders. They name the path inside the caller's folder."""
    from train_fixtures import save_tiny_llama, tiny_triplets, write_triplets_jsonl

    from core.paths import workspace_dir

    base = save_tiny_llama(workspace_dir() / "tiny-llama-refusal")
    write_triplets_jsonl(workspace_dir() / "train-refusal.jsonl", tiny_triplets(4))
    client = Client(app_url, verbose=False)
    status, log, _ = client.predict(
        secret_of(client),
        "sft",
        "tiny-llama-refusal",
        "train-refusal.jsonl",
        "train-runs/never-saved",
        1,
        {"headers": ["option", "value", "help"], "data": []},
        api_name="/train_resume",
    )
    assert status.startswith("⚠️") and "resume from in train-runs/never-saved" in status, status
    assert str(workspace_dir()) not in status + log and str(base) not in log, log


def test_train_tab_refuses_output_outside_the_workspace(app_url, tmp_path):
    client = Client(app_url, verbose=False)
    status, _, _ = client.predict(
        secret_of(client),
        "sft",
        "smollm2-base",
        "x.jsonl",
        str(tmp_path / "elsewhere"),
        1,
        {"headers": ["option", "value", "help"], "data": []},
        api_name="/train",
    )
    assert status.startswith("⚠️") and "workspace" in status


def test_train_tab_refuses_paths_outside_the_workspace_and_writes_nothing(app_url, tmp_path):
    outside = tmp_path / "outside.jsonl"
    client = Client(app_url, verbose=False)
    for stage, row in [
        ("rm", ["labels_file", str(outside), ""]),
        ("sft", ["eval_file", str(outside), ""]),
    ]:
        status, log, _ = client.predict(
            secret_of(client),
            stage,
            "smollm2-base",
            "assets/instructpe/train.jsonl",
            "train-runs/refused",
            1,
            {"headers": ["option", "value", "help"], "data": [row]},
            api_name="/train",
        )
        assert status.startswith("⚠️") and f"{row[0]}: {outside} is outside" in status
        assert log == ""
    status, *_ = client.predict(
        secret_of(client),
        "sft",
        "/etc",
        "",
        "train-runs/refused",
        1,
        {"headers": ["option", "value", "help"], "data": []},
        api_name="/train",
    )
    assert status.startswith("⚠️") and "Base model: /etc is outside" in status
    assert not outside.exists()
    from core.paths import workspace_dir

    assert not (workspace_dir() / "train-runs" / "refused").exists()


def test_custom_model_and_rewriter_folders_outside_the_workspace_are_refused(app_url):
    client = Client(app_url, verbose=False)
    chat, image, *_ = send(client, "a red fox", model="custom path or id", custom_model="/etc")
    assert "⚠️" in str(chat[-1]["content"]) and "/etc is outside" in str(chat[-1]["content"])
    assert image is None
    send(client, "a red fox")
    chat, *_ = send(client, "make it night", rewriter="/etc")
    assert "/etc is outside" in str(chat[-1]["content"])
    status, gallery, _ = client.predict(
        secret_of(client),
        "a cabin",
        None,
        "make it autumn",
        ["tiny-sd"],
        "/etc",
        "(none)",
        True,
        5,
        2,
        0,
        "",
        api_name="/compare",
    )
    assert status.startswith("⚠️") and "/etc is outside" in status and gallery == []
    # The refusals name the folders by role, not by where the server keeps them.
    from core.paths import assets_dir, workspace_dir

    for said in (str(chat[-1]["content"]), status):
        assert "the workspace or the shipped assets/ folder" in said, said
        assert str(workspace_dir()) not in said and str(assets_dir()) not in said, said


def test_a_loaders_refusal_names_no_server_folder(app_url):
    """A folder inside the workspace or assets/ that holds no model passes the confinement,
    and the loader's refusal ("/srv/.../workspace/empty-model is a folder, but ...") reached
    the chat with the server's absolute path (workspace, install folder). The caller reads
    the folder relative to the workspace or as assets/..."""
    from core.paths import REPO_ROOT, diffchat_home, workspace_dir

    (workspace_dir() / "empty-model").mkdir(exist_ok=True)
    (workspace_dir() / "empty-rewriter").mkdir(exist_ok=True)
    client = Client(app_url, verbose=False)
    said = {}
    chat, *_ = send(client, "a red fox", model="custom path or id", custom_model="empty-model")
    said["image model"] = str(chat[-1]["content"])
    send(client, "a red fox")
    chat, *_ = send(client, "make it night", rewriter="empty-rewriter")
    said["rewriter in the workspace"] = str(chat[-1]["content"])
    chat, *_ = send(client, "make it day", rewriter="assets/instructpe")
    said["rewriter in assets/"] = str(chat[-1]["content"])

    assert "empty-model is a folder, but neither" in said["image model"], said
    assert "empty-rewriter holds neither a model" in said["rewriter in the workspace"], said
    assert "assets/instructpe holds neither a model" in said["rewriter in assets/"], said
    for what, message in said.items():
        for server_folder in (workspace_dir(), REPO_ROOT, diffchat_home(), Path.home()):
            assert str(server_folder) not in message, (what, message)


@pytest.mark.slow  # a fresh process loads every model and scorer: over a minute here
def test_evaluation_run_from_the_evaluate_tab(app_url, tmp_path):
    from train_fixtures import tiny_triplets, write_triplets_jsonl

    from core.paths import workspace_dir

    data = write_triplets_jsonl(workspace_dir() / "eval.jsonl", tiny_triplets(2))
    client = Client(app_url, verbose=False)
    status, log, summary, plots = client.predict(
        secret_of(client),
        str(data),
        1,
        0,
        ["tiny-sd"],
        ["append", "instructpix2pix"],
        True,
        "",
        api_name="/evaluate",
    )
    assert status.startswith("Done"), f"{status}\n{log}"
    assert "append" in summary and "instructpix2pix" in summary
    assert plots and all(Path(item["image"]).is_file() for item in plots)


def fetch_status(app_url: str, path) -> int:
    import urllib.error
    import urllib.request

    try:
        return urllib.request.urlopen(f"{app_url}gradio_api/file={path}").status
    except urllib.error.HTTPError as error:
        return error.code


def test_only_session_images_are_served(app_url):
    from core.paths import workspace_dir

    client = Client(app_url, verbose=False)
    _, image, *_ = send(client, "a lantern on a table")
    send(client, "a lantern on a table")  # the vote database and a comparison exist by now
    workspace = workspace_dir()
    comparison = workspace / "comparisons" / "c1" / "comparison.json"
    comparison.parent.mkdir(parents=True, exist_ok=True)
    comparison.write_text("{}")
    run_file = workspace / "train-runs" / "r1" / "metrics.jsonl"
    run_file.parent.mkdir(parents=True, exist_ok=True)
    run_file.write_text("{}")
    for private in ("votes.sqlite", "server.key", comparison, run_file):
        assert fetch_status(app_url, workspace / private) in (403, 404), private
    assert fetch_status(app_url, image) == 200
    stored = APP["context"].sessions.images_root
    turn_images = list(stored.glob("*/*.png"))
    assert turn_images and fetch_status(app_url, turn_images[0]) == 200
    assert oct((workspace / "server.key").stat().st_mode & 0o777) == "0o600"


def test_the_page_config_names_no_server_folder(app_url):
    """Every browser gets the page config: the Evaluate tab's default data file carried the
    install folder's absolute path there."""
    import json

    from core.paths import REPO_ROOT, diffchat_home, workspace_dir

    config = json.dumps(Client(app_url, verbose=False).config)
    assert "assets/instructpe/test.jsonl" in config
    for folder in (REPO_ROOT, workspace_dir(), diffchat_home(), Path.home()):
        assert str(folder) not in config, folder


def test_a_session_hash_does_not_open_another_clients_chat(app_url):
    from gradio_client.exceptions import AppError

    victim = Client(app_url, verbose=False)
    send(victim, "a secret garden")
    send(victim, "make it night")
    intruder = Client(app_url, verbose=False)
    intruder.session_hash = victim.session_hash  # known or guessed: it is not a secret
    with pytest.raises(AppError, match="no valid session"):
        intruder.predict(None, api_name="/export_session")
    with pytest.raises(AppError, match="Nothing to export"):
        intruder.predict(secret_of(intruder), api_name="/export_session")
    _, _, diff, _, gallery, _ = intruder.predict(secret_of(intruder), api_name="/undo")
    assert gallery == [] and segments_of(diff) == []
    # The victim's chat is untouched.
    _, _, diff, _, gallery, _ = victim.predict(secret_of(victim), api_name="/undo")
    assert prompt_of(diff) == "a secret garden" and len(gallery) == 2


def test_a_turn_cancelled_by_the_client_never_joins_the_session(app_url):
    client = Client(app_url, verbose=False)
    send(client, "a windmill in a field")
    job = client.submit(*send_inputs(client, "make it foggy", steps=60), api_name=SEND)
    while not job.status().progress_data and not job.done():
        time.sleep(0.05)
    job.cancel()
    worker = APP["context"].worker
    deadline = time.time() + 60
    while (worker.pending() or not worker._jobs.empty()) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # the cancelled job ends at its next step
    state = APP["context"].sessions.get(secret_of(client), None)
    assert [turn.instruction for turn in state.session.turns.values()] == ["a windmill in a field"]


def test_shutdown_removes_api_client_sessions(app_url):
    context = APP["context"]
    client = Client(app_url, verbose=False)
    send(client, "a paper boat")
    session_id = context.sessions.session_id(secret_of(client), None)
    assert context.sessions.image_folder(session_id).is_dir()
    assert session_id in context.sessions.close()
    assert not context.sessions.image_folder(session_id).exists()
    assert not context.sessions.record_folder(session_id).exists()


def test_a_rewrite_that_changes_nothing_is_announced(app_url, monkeypatch):
    from test_ui_create import EchoRewriter

    import core.rewrite

    monkeypatch.setitem(core.rewrite._cache, EchoRewriter.name, EchoRewriter())
    client = Client(app_url, verbose=False)
    send(client, "a quiet lake")
    # Plain greedy decoding: verified decoding would repair the copy with a literal edit.
    chat, _, diff, _, gallery, _ = send(
        client, "make it night", rewriter=EchoRewriter.name, candidates=1
    )
    assert "gave back the prompt unchanged" in str(chat[-1]["content"])
    assert "try again" in str(chat[-1]) and "edit the prompt yourself" in str(chat[-1])
    assert prompt_of(diff) == "a quiet lake" and len(gallery) == 1  # nothing rendered
    # "try again" draws a sample of the rewriter instead of its greedy answer
    chat, _, diff, _, gallery, _ = send(client, "try again", rewriter=EchoRewriter.name)
    assert prompt_of(diff).startswith("a quiet lake, sample") and len(gallery) == 2
    assert "rewrite, rewriter echo-test" in str(chat[-2]["content"])


class CountingRewriter(Rewriter):
    """Appends the instruction, and lists every (prompt, instruction) it was asked in
    `asked`: the refusal tests check that no rewrite ran."""

    def __init__(self, name: str):
        self.name = name
        self.asked: list[tuple[str, str]] = []

    def rewrite_batch(self, pairs):
        self.asked.extend(pairs)
        return [f"{prompt}, {instruction}" for prompt, instruction in pairs]

    def sample(self, prompt, instruction, num_candidates, typical_p=0.97, seed=0):
        self.asked.append((prompt, instruction))
        return [f"{prompt}, {instruction}"] * num_candidates


def test_an_image_model_that_cannot_run_offline_is_refused_before_any_rewrite(app_url, monkeypatch):
    import core.rewrite

    rewriter = CountingRewriter("counting-test")
    rewrites = rewriter.asked
    monkeypatch.setitem(core.rewrite._cache, rewriter.name, rewriter)
    # HF_HUB_OFFLINE is set (conftest) and no sd15 file is in the cache
    monkeypatch.setattr("core.assets.download.cached_file", lambda repo, name: None)
    client = Client(app_url, verbose=False)
    send(client, "a quiet lake")
    for instruction in ("make it night", "make it better"):  # an edit, a vague one (a question)
        chat, _, diff, _, gallery, _ = send(
            client, instruction, model="sd15", rewriter=rewriter.name
        )
        assert "sd15 is not downloaded and this app runs offline" in str(chat[-1]["content"])
        assert instruction not in str(chat)  # not taken: the text stays in the box to resend
        assert prompt_of(diff) == "a quiet lake" and len(gallery) == 1
    assert rewrites == []  # the rewriter never ran
    # the same edit with a model that is here runs as usual
    _, _, diff, _, gallery, _ = send(client, "make it night", rewriter=rewriter.name)
    assert prompt_of(diff) == "a quiet lake, make it night" and len(rewrites) == 1


def test_a_hand_edited_prompt_renders_as_a_new_turn(app_url):
    client = Client(app_url, verbose=False)
    send(client, "a castle on a hill")
    chat, image, diff, _, gallery, _ = client.predict(
        "a castle on a hill at dawn, watercolor",
        secret_of(client),
        "start from text",
        None,
        "tiny-sd",
        "",
        "append",
        "InstructPix2Pix",  # a prompt typed by hand is rendered, not an image edit
        0.6,
        1.5,
        7.5,
        7,
        2,
        "",
        "native size",
        1,
        api_name="/render_prompt",
    )
    assert prompt_of(diff) == "a castle on a hill at dawn, watercolor"
    assert "edited by hand" in str(chat[-2]["content"]) and Path(image).is_file()
    assert len(gallery) == 2 and gallery[-1]["caption"].endswith(": (edited by hand)")


def test_rendering_the_current_prompt_unchanged_is_refused_not_duplicated(app_url):
    def render(prompt: str, seed: int = 7, variations: int = 1):
        return client.predict(
            prompt, secret_of(client), "start from text", None, "tiny-sd", "", "append",
            "rewrite only", 0.6, 1.5, 7.5, seed, 2, "", "native size", variations,
            api_name="/render_prompt",
        )  # fmt: skip

    client = Client(app_url, verbose=False)
    send(client, "a lantern on a pier")  # seed 7, 2 steps: what render() sends
    chat, _, diff, _, gallery, _ = render("  A lantern on a pier ")
    assert "would draw the same picture again" in str(chat[-1]["content"])
    assert len(gallery) == 1 and prompt_of(diff) == "a lantern on a pier"
    state = APP["context"].sessions.get(secret_of(client), None)
    assert len(state.session.turns) == 1
    # another seed draws another picture: a new turn
    chat, _, _, _, gallery, _ = render("a lantern on a pier", seed=8)
    assert len(gallery) == 2 and "edited by hand" in str(chat[-2]["content"])


def test_the_draft_speed_renders_with_the_few_step_model_and_records_it(app_url, monkeypatch):
    from dataclasses import replace

    import core.registry as registry
    from core.png_metadata import read_parameters

    # The registry has no offline few-step model: a stand-in on tiny-sd's folder with a
    # few-step model's own settings, as SD 1.x's draft model.
    draft = replace(
        registry.MODELS["tiny-sd"], name="tiny-draft-test", num_inference_steps=3, guidance_scale=0
    )
    monkeypatch.setitem(registry.MODELS, draft.name, draft)
    monkeypatch.setitem(registry._DRAFT_OF_KIND, "text2image", draft.name)
    client = Client(app_url, verbose=False)
    chat, *_, download = send(client, "a red house", steps=2, speed="draft")
    parameters = read_parameters(download)  # the PNG with its parameters chunk
    assert parameters["model"] == "tiny-draft-test"
    assert (parameters["num_inference_steps"], parameters["guidance_scale"]) == (3, 0)
    assert "draft speed with tiny-draft-test" in str(chat[-2]["content"])
    # the edit at the quality speed renders with the model picked, the sliders' steps
    *_, download = send(client, "make it night", steps=2)
    assert read_parameters(download)["model"] == "tiny-sd"
    state = APP["context"].sessions.get(secret_of(client), None)
    first, second = state.session.path_to()
    assert (first.model, first.settings["speed"], first.settings["num_inference_steps"]) == (
        "tiny-draft-test",
        "draft",
        3,
    )
    assert (second.model, second.settings["speed"]) == ("tiny-sd", "quality")


def test_a_draft_model_that_cannot_run_offline_is_refused_before_any_rewrite(app_url, monkeypatch):
    import core.rewrite

    rewriter = CountingRewriter("counting-draft-test")
    rewrites = rewriter.asked
    monkeypatch.setitem(core.rewrite._cache, rewriter.name, rewriter)
    # HF_HUB_OFFLINE is set (conftest); tiny-sd drafts with lcm-sd15, whose files are not here
    monkeypatch.setattr("core.assets.download.cached_file", lambda repo, name: None)
    client = Client(app_url, verbose=False)
    chat, *_, gallery, _ = send(client, "a quiet lake", speed="draft")
    refusal = str(chat[-1]["content"])
    assert "The draft speed renders with lcm-sd15" in refusal
    assert "not downloaded and this app runs offline" in refusal and gallery == []
    send(client, "a quiet lake")
    chat, _, diff, _, gallery, _ = send(
        client, "make it night", rewriter=rewriter.name, speed="draft"
    )
    assert "The draft speed renders with lcm-sd15" in str(chat[-1]["content"])
    assert prompt_of(diff) == "a quiet lake" and len(gallery) == 1 and rewrites == []
