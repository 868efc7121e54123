"""Issue 11 through gradio_client against the running app (offline set): a chat API that
never answers stalls nobody else and Stop ends the wait; a refused session import keeps
the chat; uploads go through the app's own image checks.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("gradio_client")

from app_fixtures import local_launch_options  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from silent_server import SilentServer  # noqa: E402

SEND = "/send"


@pytest.fixture(scope="module")
def silent_server():
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def app_url(offline_assets, tmp_path_factory, silent_server):
    from core import rewrite

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path_factory.mktemp("workspace")))
        patch.setenv("OPENAI_API_KEY", "test-key")
        patch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{silent_server.port}/v1")
        # Long enough that only Stop can end user A's wait within the test.
        patch.setenv("DIFFCHAT_CHAT_TIMEOUT", "600")
        patch.setenv("DIFFCHAT_MAX_UPLOAD_MB", "1")
        rewrite._cache.pop("openai", None)
        from diffchat_ui.context import AppContext
        from diffchat_ui.layout import build_demo, max_upload_bytes, queue
        from diffchat_ui.settings import detect_settings

        settings = detect_settings(force_offline=True, concurrency=4)
        context = AppContext(settings)
        demo = queue(build_demo(context), settings.concurrency)
        _, url, _ = demo.launch(**local_launch_options(), max_file_size=max_upload_bytes())
        yield url
        demo.close()
        rewrite._cache.pop("openai", None)


def send_args(text, rewriter="append", start_mode="start from text", start_image=None, steps=2):
    return (
        text,
        start_mode,
        start_image,
        "tiny-sd",
        "",
        rewriter,
        "rewrite only",
        0.6,
        1.5,
        7.5,
        7,
        steps,
        "",
        "native size",
        1,
    )


class User:
    """One API client with its own chat session (the secret from /open_session)."""

    def __init__(self, url: str):
        self.client = Client(url, verbose=False)
        self.secret = self.client.predict(api_name="/open_session")

    def call(self, api_name: str, *args, secret_at: int = 0):
        args = list(args)
        args.insert(secret_at, self.secret)
        return self.client.predict(*args, api_name=api_name)

    def send(self, *args, **kwargs):
        return self.call(SEND, *send_args(*args, **kwargs), secret_at=1)

    def submit_send(self, *args, **kwargs):
        values = list(send_args(*args, **kwargs))
        values.insert(1, self.secret)
        return self.client.submit(*values, api_name=SEND)


def prompt_of(diff) -> str:
    segments = diff["value"] if isinstance(diff, dict) else diff
    return "".join(
        s["token"] for s in segments if s.get("class_or_confidence") != "removed"
    ).strip()


def last_message(chat) -> str:
    return str(chat[-1]["content"])


# ---------------------------------------------------------------- item 3: slow chat API


def test_a_silent_chat_api_stalls_nobody_and_stop_ends_the_wait(app_url, silent_server):
    user_a, user_b = User(app_url), User(app_url)
    closed = silent_server.closed_count
    user_a.send("a windmill in a field")
    job_a = user_a.submit_send("make it night", rewriter="openai")
    assert silent_server.connected.wait(30), "user A's turn never reached the chat API"

    # User B's two turns render while A still waits on the silent server.
    user_b.send("a red bicycle")
    chat, _, diff, *_ = user_b.send("make it blue")
    assert prompt_of(diff) == "a red bicycle, make it blue"
    assert not job_a.done(), "user A's turn ended before Stop: the test proves nothing"

    user_a.call("/stop")
    # Without Stop the turn would end in the chat timeout's error, not as stopped.
    chat, _, diff, _, gallery, _ = job_a.result(timeout=300)
    assert "⏹" in last_message(chat) and "Stopped" in last_message(chat)
    assert prompt_of(diff) == "a windmill in a field" and len(gallery) == 1
    # Stop also closed A's connection: it stayed open until the chat timeout (600 s here).
    assert silent_server.wait_closed(closed + 1, timeout=120), "A's socket is still open"


def test_chat_api_waits_always_leave_a_place_for_other_turns(app_url, silent_server):
    """The waits ran in the Create tab's handlers, so as many chat-API turns as the queue
    has places (--concurrency, 4 here) held all of them and everyone else's turn waited the
    whole chat timeout, with the model worker idle. At most concurrency - 1 wait at once; one
    more is refused at once with a message."""
    users = [User(app_url) for _ in range(4)]
    for user in users:
        user.send("a windmill in a field")
    connections = silent_server.connection_count
    jobs = [user.submit_send("make it night", rewriter="openai") for user in users]
    deadline = time.monotonic() + 120
    while silent_server.connection_count < connections + 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)  # the fourth asks too (the old code) or is refused (the new)

    other = User(app_url)
    chat, _, diff, *_ = other.submit_send("a red bicycle").result(timeout=90)
    assert prompt_of(diff) == "a red bicycle"
    for user in users:
        user.call("/stop")
    said = [last_message(job.result(timeout=120)[0]) for job in jobs]
    refused = [text for text in said if "wait at once" in text]
    assert len(refused) == 1 and "⚠️" in refused[0], said
    assert sum("Stopped" in text for text in said) == 3, said


def test_a_silent_chat_api_in_compare_holds_no_one_and_stop_ends_the_wait(app_url, silent_server):
    user_a, user_b = User(app_url), User(app_url)
    connections = silent_server.connection_count

    def compare(user, raw_prompt, chat_llm):
        args = (raw_prompt, None, "make it night", ["tiny-sd"], "append", chat_llm, False, 0, 2)
        return user.client.submit(user.secret, *args, 0, "", api_name="/compare")

    job_a = compare(user_a, "a windmill in a field", "openai")
    deadline = time.monotonic() + 60
    while silent_server.connection_count == connections and time.monotonic() < deadline:
        time.sleep(0.1)
    assert silent_server.connection_count > connections, "A's compare never asked the chat API"

    # User B's comparison renders on the worker while A's still waits on the silent server
    # (the first comparison loads the scorers: minutes on a loaded CPU).
    status, gallery, table = compare(user_b, "a red bicycle", "(none)").result(timeout=600)
    assert status.startswith("Done") and [row[0] for row in table["data"]] == ["append"]
    assert not job_a.done(), "A's comparison ended before Stop: the test proves nothing"

    user_a.call("/compare_stop")
    status, gallery, _ = job_a.result(timeout=300)  # a timed-out API would read "⚠️"
    assert status.startswith("⏹") and "rewriter" in status and gallery == []


# ---------------------------------------------------------------- item 2: Stop and ballots


def intruder_of(victim: User, url: str) -> User:
    """A client with its own secret that has set the victim's session hash (it is not a
    secret: known or guessed)."""
    intruder = User(url)
    intruder.client.session_hash = victim.client.session_hash
    return intruder


def wait_until_running(job, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not (job.outputs() or job.status().progress_data) and time.monotonic() < deadline:
        assert not job.done(), job.result()
        time.sleep(0.1)
    assert not job.done(), "the run ended before the test could stop it"


def _stop_is_the_owners_alone(victim: User, intruder: User, job, stop: str, url: str) -> str:
    """Stop as the intruder (nothing happens), then as the victim; return the final status."""
    import httpx

    # Posted as a raw client would (Stop is not queued), under the victim's session hash.
    def post_stop(secret):
        body = {"data": [secret], "session_hash": victim.client.session_hash}
        return httpx.post(f"{url.rstrip('/')}/gradio_api/run{stop}", json=body, timeout=120)

    assert post_stop(None).status_code == 500  # gr.Error: no valid session
    assert post_stop(intruder.secret).status_code == 200
    time.sleep(2)  # a stopped job ends within a step or a quarter second
    assert not job.done(), f"{stop} with another client's session hash stopped the run"
    victim.call(stop)
    # The run's own account of how it ended: a run that was not stopped says it finished.
    return job.result(timeout=300)[0]


def test_a_session_hash_cannot_stop_another_clients_comparison(app_url):
    victim = User(app_url)
    # tiny-sd, 100 steps, raw image + append + InstructPix2Pix: long enough to stop midway
    args = ("a lighthouse", None, "make it night", ["tiny-sd"], "append", "(none)", True)
    job = victim.client.submit(victim.secret, *args, 0, 100, 0, "", api_name="/compare")
    wait_until_running(job)
    status = _stop_is_the_owners_alone(victim, User(app_url), job, "/compare_stop", app_url)
    assert status.startswith("⏹"), status


def test_a_session_hash_cannot_stop_another_clients_training_or_evaluation(app_url, monkeypatch):
    import sys

    from diffchat_ui import evaluate_tab, train_tab

    # A child that starts, says so and waits longer than the test does, so only Stop ends the
    # run in time: the stages themselves are tested elsewhere.
    # Its own SIGINT handler: a child of a shell's background job starts with SIGINT ignored.
    program = (
        "import signal, sys, time; signal.signal(signal.SIGINT, lambda *_: sys.exit(1)); "
        "print('started', flush=True); time.sleep(600)"
    )
    silent_child = [sys.executable, "-c", program]
    monkeypatch.setattr(train_tab, "data_command", lambda *args: silent_child)
    monkeypatch.setattr(evaluate_tab, "evaluation_command", lambda *args: silent_child)
    no_options = {"headers": ["option", "value", "help"], "data": []}
    runs = [
        ("/train", "/train_stop", ("data", "", "x.jsonl", "train-runs/stop-test", 1, no_options)),
        (
            "/evaluate",
            "/evaluate_stop",
            ("assets/instructpe/test.jsonl", 1, 0, ["tiny-sd"], ["append"], True, ""),
        ),
    ]
    for start, stop, args in runs:
        victim = User(app_url)
        job = victim.client.submit(victim.secret, *args, api_name=start)
        wait_until_running(job)
        status = _stop_is_the_owners_alone(victim, User(app_url), job, stop, app_url)
        assert "Stopped" in status, (start, status)


def _write_comparison(root: Path, name: str, raw_prompt: str = "a cat") -> Path:
    import json

    from PIL import Image

    folder = root / name
    folder.mkdir(parents=True)
    for index, color in enumerate(("red", "blue", "green")):
        Image.new("RGB", (8, 8), color).save(folder / f"{index}.png")
    candidates = [
        {"method": method, "prompt": "p", "image": f"{index + 1}.png", "scores": {}, "error": ""}
        for index, method in enumerate(("append", "openai"))
    ]
    record = {"id": name, "model": "tiny-sd", "raw_prompt": raw_prompt, "instruction": "make it"}
    record |= {"raw_image": "0.png", "candidates": candidates}
    (folder / "comparison.json").write_text(json.dumps(record))
    return folder


def test_a_session_hash_cannot_use_another_voters_ballot(app_url):
    from core.paths import workspace_dir

    root = workspace_dir() / "comparisons"
    for name in ("vote-test-1", "vote-test-2"):
        _write_comparison(root, name)
    victim = User(app_url)
    *_, status = victim.call("/next_ballot")
    assert "more after this one" in status, status
    intruder = intruder_of(victim, app_url)
    # The victim's ballot (which method is behind each letter) is not the intruder's.
    *_, status, _, _ = intruder.call("/vote", "Candidate A")
    assert status == "Load a comparison first."
    *_, status, _, _ = intruder.client.predict(None, "Candidate A", api_name="/vote")
    assert status.startswith("⚠️") and "no valid session" in status
    *_, status, _, pairs = victim.call("/vote", "Candidate A")
    assert status.startswith("Thanks! 1 votes so far"), status
    assert sum(row[5] for row in pairs["data"]) == 1  # the intruder's vote was not counted


def test_a_comparison_with_a_damaged_image_is_skipped_not_an_error(app_url):
    """A comparison whose image file was damaged, deleted or named outside its folder
    reached the voter as Gradio's bare "Error" (the ballot decoded it unchecked)."""
    import json

    from image_fixtures import corrupt_png

    from core.paths import workspace_dir

    root = workspace_dir() / "comparisons"
    (_write_comparison(root, "damaged-1", "damaged: corrupt") / "2.png").write_bytes(corrupt_png())
    (_write_comparison(root, "damaged-2", "damaged: missing") / "1.png").unlink()
    escaping = _write_comparison(root, "damaged-3", "damaged: outside") / "comparison.json"
    record = json.loads(escaping.read_text())
    escaping.write_text(json.dumps(record | {"raw_image": "../../server.key"}))
    _write_comparison(root, "healthy", "a healthy one")
    voter, shown = User(app_url), []
    for _ in range(10):  # every comparison in the workspace, then "All done"
        _, text, gallery, _, status = voter.call("/next_ballot")
        if status.startswith("All done"):
            break
        shown.append(text)
        assert len(gallery) == 2
    assert any("a healthy one" in text for text in shown), shown
    assert not [text for text in shown if "damaged" in text], shown


# ---------------------------------------------------------------- items 1-2: the app's own files


def test_no_train_or_evaluate_path_reaches_the_apps_own_files(app_url, monkeypatch):
    """A path inside the workspace may still not name the server key, the votes, session
    records or the served folder: an RM run's labels_file overwrote the key, and an
    evaluation with its output in public/ was fetchable at /gradio_api/file=."""
    import sys

    from core.errors import DiffChatError
    from core.paths import workspace_dir
    from diffchat_ui import evaluate_tab, train_tab

    class NotStarted:  # stands in for the stage: what matters is whether it was reached
        def __init__(self, *args, **kwargs):
            raise DiffChatError("the stage was started")

    monkeypatch.setattr(train_tab, "StageRun", NotStarted)
    monkeypatch.setattr(train_tab, "ChildProcess", NotStarted)
    finished_child = [sys.executable, "-c", "pass"]
    monkeypatch.setattr(evaluate_tab, "evaluation_command", lambda *args: finished_child)
    workspace = workspace_dir()
    key = (workspace / "server.key").read_bytes()
    user = User(app_url)

    def train(stage, data_file, output, rows=()):
        options = {"headers": ["option", "value", "help"], "data": [list(r) for r in rows]}
        base = "smollm2-base"
        return user.call("/train", stage, base, data_file, output, 1, options)[0]

    statuses = {
        "labels_file": train(
            "rm",
            "assets/instructpe/train.jsonl",
            "train-runs/rm",
            [("labels_file", "server.key", "")],
        ),
        "data file": train("data", "votes.sqlite", "train-runs/split"),
        "output": train("data", "assets/instructpe/train.jsonl", "public/split"),
        "evaluate output": user.call(
            "/evaluate",
            "assets/instructpe/test.jsonl",
            1,
            0,
            ["tiny-sd"],
            ["append"],
            True,
            "public/evaluation",
        )[0],
    }
    for what, status in statuses.items():
        assert status.startswith("⚠️") and "the app's own files" in status, (what, status)
    assert (workspace / "server.key").read_bytes() == key
    assert sorted(path.name for path in (workspace / "public").iterdir()) == ["sessions"]


# ---------------------------------------------------------------- item 4: refused imports


def _bad_session_files(folder: Path, good: dict) -> dict[str, Path]:
    import base64
    import json

    from image_fixtures import corrupt_png

    def variant(name, mutate):
        data = json.loads(json.dumps(good))
        mutate(data)
        path = folder / f"{name}.json"
        path.write_text(json.dumps(data))
        return path

    bad_json = folder / "bad-json.json"
    bad_json.write_text('{"format": "diffchat-session", oops')
    return {
        "bad JSON": bad_json,
        "wrong type": variant("types", lambda d: d["turns"][1].update(parent_id=[1])),
        "cycle": variant("cycle", lambda d: d["turns"][0].update(parent_id=2)),
        "bad image": variant(
            "image",
            lambda d: d["turns"][1].update(image_base64=base64.b64encode(corrupt_png()).decode()),
        ),
        # named by a path beside the file, which the upload folder does not hold
        "missing image": variant(
            "missing", lambda d: d["turns"][1].update(image_base64=None, image_path="turn-2.png")
        ),
    }


def test_a_refused_import_keeps_the_chat_and_its_images(app_url, tmp_path):
    import json

    user = User(app_url)
    user.send("a castle on a hill")
    user.send("make it sunset")
    good = json.loads(Path(user.call("/export_session")).read_text())
    for what, path in _bad_session_files(tmp_path, good).items():
        chat, image, diff, _, gallery, _ = user.call(
            "/import_session", handle_file(str(path)), 3, secret_at=1
        )
        assert "not imported; your chat is unchanged" in last_message(chat), what
        # Files are named as uploaded ("missing.json", "turn-2.png"), never by their path in
        # the server's upload cache (/tmp/gradio/<hash>/...), fetchable by whoever has it.
        assert f"{path.name}:" in last_message(chat), what
        assert "/" not in last_message(chat), (what, last_message(chat))
        assert prompt_of(diff) == "a castle on a hill, make it sunset", what
        assert len(gallery) == 2 and Path(image).is_file(), what
    # Export refuses a turn whose image file is gone: it still finds both.
    again = json.loads(Path(user.call("/export_session")).read_text())
    assert [t["prompt"] for t in again["turns"]] == [t["prompt"] for t in good["turns"]]
    assert all(t["image_base64"] for t in again["turns"])
    # And the chat goes on from where it was.
    _, _, diff, *_ = user.send("add a dragon")
    assert prompt_of(diff) == "a castle on a hill, make it sunset, add a dragon"


# ---------------------------------------------------------------- item 6: uploads


@pytest.fixture
def decoded_sizes(monkeypatch):
    """Record the size of every image PIL decodes in this process (the app runs in it)."""
    from PIL import ImageFile

    sizes = []
    original = ImageFile.ImageFile.load

    def load(self):
        sizes.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return sizes


def test_hostile_uploads_are_refused_in_the_chat_before_decoding(app_url, tmp_path, decoded_sizes):
    from image_fixtures import SVG, corrupt_png, grayscale_bomb_png, write

    cases = {
        "bomb.png": (grayscale_bomb_png(), "13000x13000 (169,000,000 pixels)"),
        "corrupt.png": (corrupt_png(), "damaged or truncated"),
        "drawing.svg": (SVG, "not an image file PIL can read"),
        "notes.txt": ("not an image at all", "not an image file PIL can read"),
        "notes.png": ("not an image at all", "not an image file PIL can read"),
    }
    from gradio.utils import get_upload_folder

    from core.paths import workspace_dir

    comparisons = workspace_dir() / "comparisons"
    before = set(comparisons.iterdir()) if comparisons.is_dir() else set()
    for name, (data, message) in cases.items():
        path = write(tmp_path, name, data)
        user = User(app_url)
        chat, image, *_ = user.send(
            "my picture", start_mode="start from my image", start_image=handle_file(path)
        )
        assert "⚠️" in last_message(chat) and message in last_message(chat), name
        assert image is None, name
        # The same file as Compare's raw image.
        args = ("a cat", handle_file(path), "make it night", ["tiny-sd"], "append", "(none)")
        status, gallery, _ = user.call("/compare", *args, False, 0, 2, 0, "")
        assert status.startswith("⚠️") and message in status and gallery == [], (name, status)
        # The file is named as the person knows it, not by the server's upload path.
        for said in (last_message(chat), status):
            assert str(get_upload_folder()) not in said, said
            assert name in said or name == "bomb.png", said  # a bomb's message names no file
    assert (13000, 13000) not in decoded_sizes  # refused from the header, never decoded
    after = set(comparisons.iterdir()) if comparisons.is_dir() else set()
    assert after == before  # a refused comparison leaves no folder


def test_compare_refuses_a_bad_upload_before_asking_the_chat_api(app_url, tmp_path):
    """Compare asked the chat API, then refused the upload on the worker: the network call
    (and a place in the chat-API lane) was spent on a run that could not happen."""
    from image_fixtures import corrupt_png, small_png, write
    from openai import OpenAI
    from silent_server import CountingChatServer

    from core import rewrite

    server = CountingChatServer()
    client = OpenAI(api_key="test-key", base_url=f"http://127.0.0.1:{server.port}/v1")
    silent = rewrite._cache.get("openai")
    rewrite._cache["openai"] = rewrite.ChatAPIRewriter(client, "counted-model")
    try:
        user = User(app_url)
        good = write(tmp_path, "good.png", small_png())
        args = ("a cat", handle_file(str(good)), "make it night", ["tiny-sd"], "append", "openai")
        status, *_ = user.call("/compare", *args, False, 0, 2, 0, "")
        assert status.startswith("Done") and len(server.requests) == 1  # the server is asked
        bad = write(tmp_path, "broken.png", corrupt_png())
        args = ("a cat", handle_file(str(bad)), "make it night", ["tiny-sd"], "append", "openai")
        status, gallery, _ = user.call("/compare", *args, False, 0, 2, 0, "")
        assert status.startswith("⚠️") and "broken.png is damaged" in status, status
        assert len(server.requests) == 1  # refused before the chat API was asked again
    finally:
        if silent is None:
            rewrite._cache.pop("openai", None)
        else:
            rewrite._cache["openai"] = silent
        server.close()


def test_uploads_over_the_size_limit_are_refused(app_url, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (2 * 2**20))  # the fixture's limit is 1 MB
    with pytest.raises(Exception, match="(?i)too large|exceeds|maximum|size"):
        User(app_url).send(
            "my picture", start_mode="start from my image", start_image=handle_file(big)
        )


# ---------------------------------------------------------------- Gradio's cache


def test_uploads_and_page_copies_leave_gradios_cache_with_the_session_ttl(
    offline_assets, tmp_path, monkeypatch
):
    """Gradio serves every upload (and every copy it made for a page: turn images, session
    exports) at /gradio_api/file=PATH to whoever has the path, and kept them for good, long
    after the chat they belong to was removed for being idle. They now go after
    DIFFCHAT_SESSION_TTL like the chat (here 2 s)."""
    import httpx
    from image_fixtures import small_png

    from diffchat_ui.context import AppContext
    from diffchat_ui.layout import build_demo, launch_options, queue
    from diffchat_ui.settings import detect_settings

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.setenv("DIFFCHAT_SESSION_TTL", str(2 / 3600))
    context = AppContext(detect_settings(force_offline=True))
    demo = queue(build_demo(context), 1)
    options = launch_options(context)
    _, url, _ = demo.launch(**local_launch_options(), **options)
    try:
        api = f"{url.rstrip('/')}/gradio_api"
        [path] = httpx.post(f"{api}/upload", files={"files": ("mine.png", small_png())}).json()
        assert httpx.get(f"{api}/file={path}").status_code == 200
        deadline = time.monotonic() + 30
        while Path(path).exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not Path(path).exists()
        assert httpx.get(f"{api}/file={path}").status_code in (403, 404)
    finally:
        demo.close()
