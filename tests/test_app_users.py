"""Issue 11 through gradio_client against the app started by app.main with two logins from
the command line (one in an --auth-file, one in --auth): each can log in, and each user's
Train and Evaluate paths are confined to their own folder in the workspace, so one user can
neither read nor write another's training runs or evaluations, nor load another's trained
rewriter; the shipped assets stay readable to both.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

import pytest

pytest.importorskip("gradio_client")

from app_fixtures import local_launch_options  # noqa: E402
from gradio_client import Client  # noqa: E402

LOGINS = {"alice": "alice-password", "bob": "bob-password"}
NO_OPTIONS = {"headers": ["option", "value", "help"], "data": []}


@contextlib.contextmanager
def _logged():
    """Yield the list the messages logged meanwhile go to."""
    records: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: records.append(record.getMessage())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture(scope="module")
def app(offline_assets, tmp_path_factory):
    import gradio as gr

    import app as launcher

    workspace = tmp_path_factory.mktemp("workspace")
    # A finished run in the shared workspace: with logins it is nobody's to list.
    shared_run = workspace / "train-runs" / "shared-run" / "final"
    shared_run.mkdir(parents=True)
    (shared_run / "adapter_config.json").write_text("{}")
    logins_file = tmp_path_factory.mktemp("secrets") / "logins"
    logins_file.write_text(f"# who may log in\n\nalice:{LOGINS['alice']}\n")
    launch = gr.Blocks.launch
    launched = {}

    def launch_in_background(demo, **options):
        # main() blocks in launch(); here it returns, on 127.0.0.1 on a free port. main()
        # then shuts the server down (finish_shutdown), which here waits for the module's end.
        options.update(local_launch_options())
        launched.update(demo=demo, auth=options["auth"])
        launched["url"] = launch(demo, **options)[1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DIFFCHAT_WORKSPACE", str(workspace))
        for variable in ("DIFFCHAT_AUTH", "DIFFCHAT_AUTH_FILE", "SPACE_ID"):
            patch.delenv(variable, raising=False)
        patch.setattr(gr.Blocks, "launch", launch_in_background)
        patch.setattr(launcher, "finish_shutdown", lambda demo: None)
        argv = ["--offline", "--no-download", "--auth-file", str(logins_file)]
        with _logged() as records:
            launcher.main([*argv, "--auth", f"bob:{LOGINS['bob']}"])
        assert sorted(launched["auth"]) == sorted(LOGINS.items())
        assert "login required: 2 user(s): bob, alice" in records
        assert not [r for r in records if any(pw in r for pw in LOGINS.values())]
        yield launched["url"], workspace.resolve()
    launcher.finish_shutdown(launched["demo"])


class Login:
    """One logged-in API client with its chat session secret."""

    def __init__(self, url: str, user: str):
        self.client = Client(url, auth=(user, LOGINS[user]), verbose=False)
        self.secret = self.client.predict(api_name="/open_session")

    def train(self, stage, data_file, output, base="smollm2-base"):
        return self.client.predict(
            self.secret, stage, base, data_file, output, 1, NO_OPTIONS, api_name="/train"
        )[0]

    def evaluate(self, output, data_file="assets/instructpe/test.jsonl"):
        return self.client.predict(
            self.secret,
            data_file,
            1,
            0,
            ["tiny-sd"],
            ["append"],
            True,
            output,
            api_name="/evaluate",
        )[0]

    def results(self, output):
        return self.client.predict(output, api_name="/evaluation_results")

    def send(self, text, rewriter="append", model="tiny-sd", custom_model=""):
        return self.client.predict(
            text,
            self.secret,
            "start from text",
            None,
            model,
            custom_model,
            rewriter,
            "rewrite only",
            0.6,
            1.5,
            7.5,
            7,
            2,
            "",
            "native size",
            1,
            api_name="/send",
        )


def _user_folder(workspace: Path, user: str) -> Path:
    from diffchat_ui.context import USERS_FOLDER, user_folder_name

    return workspace / USERS_FOLDER / user_folder_name(user)


def test_only_the_command_line_logins_get_in(app):
    url, _ = app
    for user, password in LOGINS.items():
        assert Client(url, auth=(user, password), verbose=False).predict(api_name="/open_session")
    for wrong in [("alice", LOGINS["bob"]), ("carol", LOGINS["alice"])]:
        with pytest.raises(ValueError, match="Could not login"):  # Gradio answers 400
            Client(url, auth=wrong, verbose=False)


def test_the_start_up_rewriter_dropdowns_list_no_shared_workspace_run(app):
    """The dropdowns built at start-up listed WORKSPACE/train-runs, a folder of no user's."""
    url, workspace = app
    config = Client(url, auth=("alice", LOGINS["alice"]), verbose=False).config
    dropdowns = {
        component["props"]["label"]: [value for _, value in component["props"]["choices"]]
        for component in config["components"]
        if component.get("type") == "dropdown"
    }
    for label in ("Rewriter", "DiffChat rewriter"):
        assert "append" in dropdowns[label], dropdowns.keys()
        assert not [value for value in dropdowns[label] if "shared-run" in str(value)], label


def test_each_user_trains_and_evaluates_in_their_own_folder(app, monkeypatch):
    """All users had one folder: Bob could show Alice's evaluation, read her split data,
    write into her run folder and load her trained rewriter by its path."""
    from diffchat_ui import evaluate_tab

    url, workspace = app

    def finished_evaluation(data, methods, models, out_dir, *rest):  # stands in for the run
        script = (
            "import pathlib, sys; out = pathlib.Path(sys.argv[1]); "
            "out.mkdir(parents=True, exist_ok=True); "
            "(out / 'summary.md').write_text('| method | alice |')"
        )
        return [sys.executable, "-c", script, str(out_dir)]

    monkeypatch.setattr(evaluate_tab, "evaluation_command", finished_evaluation)
    alice, bob = Login(url, "alice"), Login(url, "bob")
    alice_folder, bob_folder = _user_folder(workspace, "alice"), _user_folder(workspace, "bob")

    # Alice's relative paths land in her folder; the shipped assets are hers to read.
    assert alice.evaluate("evaluations/mine").startswith("Done")
    assert (alice_folder / "evaluations" / "mine" / "summary.md").is_file()
    status = alice.train("data", "assets/instructpe/train.jsonl", "train-runs/split")
    assert status.startswith("Finished"), status
    split = sorted((alice_folder / "train-runs" / "split").glob("*.jsonl"))
    assert split, status
    run = alice_folder / "train-runs" / "sft" / "final"
    run.mkdir(parents=True)
    (run / "adapter_config.json").write_text("{}")

    # Bob reaches none of it, by absolute path or by climbing out of his folder.
    refused = {
        "show her evaluation": bob.results(str(alice_folder / "evaluations" / "mine"))[0],
        "show it by ..": bob.results(f"../{alice_folder.name}/evaluations/mine")[0],
        "evaluate into her folder": bob.evaluate(str(alice_folder / "evaluations" / "b")),
        "evaluate her data": bob.evaluate("", data_file=str(split[0])),
        "train on her data": bob.train("data", str(split[0]), "train-runs/copy"),
        "train into her folder": bob.train(
            "data", "assets/instructpe/train.jsonl", str(alice_folder / "train-runs" / "b")
        ),
        "train from her model": bob.train("sft", "assets/instructpe/train.jsonl", "t", str(run)),
        "the shared workspace": bob.results(str(workspace / "evaluations"))[0],
    }
    for what, status in refused.items():
        assert status.startswith("⚠️") and "outside your folder" in status, (what, status)
    assert sorted(path.name for path in (alice_folder / "evaluations").iterdir()) == ["mine"]
    assert not (alice_folder / "train-runs" / "b").exists()
    bob.send("a red fox")
    chat, image, *_ = bob.send("make it night", rewriter=str(run))
    assert "outside your folder" in str(chat[-1]["content"])
    # His own relative path is taken in his own folder, which has no such evaluation; the
    # message names the path as he gave it, never where his folder is on the server.
    status, *_ = bob.results("evaluations/mine")
    assert status == "⚠️ evaluations/mine has no summary.md: run (or resume) it first."
    assert bob.evaluate("evaluations/mine").startswith("Done")
    assert (bob_folder / "evaluations" / "mine" / "summary.md").is_file()


def test_a_comparison_shared_for_voting_names_no_users_folder(app):
    """Comparisons and votes are communal by design, but a method made from a trained
    rewriter folder was named by its absolute path (WORKSPACE/users/<name>-<hash>/...): the
    Compare table, comparison.json and every voter's tallies named its owner's folder."""
    import json

    url, workspace = app
    alice = Login(url, "alice")
    run = _user_folder(workspace, "alice") / "train-runs" / "mine" / "final"
    run.mkdir(parents=True)
    (run / "adapter_config.json").write_text("{}")
    status, _, table = alice.client.predict(
        alice.secret,
        "a red fox",
        None,
        "make it night",
        ["tiny-sd"],
        str(run),
        "(none)",
        False,
        0,
        2,
        0,
        "",
        api_name="/compare",
    )
    assert status.startswith("Done"), status
    method = table["data"][0][0]
    assert method.startswith("train-runs/mine/final") and "alice" not in method, method
    records = list((workspace / "comparisons").glob("*/comparison.json"))
    assert records
    for record in records:
        data = json.loads(record.read_text())
        assert [c["method"] for c in data["candidates"]] == [method]
        assert data["plan"]["rewriters"] == [method]
        text = record.read_text()
        assert str(workspace) not in text and "alice" not in text, text


def test_a_users_messages_name_her_paths_as_she_gave_them(app):
    """A loader's refusal of a folder in the user's own folder reached her chat as
    "users/alice-<hash>/empty-model is a folder, but ...": she typed "empty-model", and her
    paths are taken relative to her folder (the Train and Evaluate tabs say them so)."""
    import json

    from diffchat_ui.create_tab import CUSTOM_MODEL

    url, workspace = app
    alice = Login(url, "alice")
    (_user_folder(workspace, "alice") / "empty-model").mkdir(parents=True, exist_ok=True)
    chat = json.dumps(alice.send("a red fox", model=CUSTOM_MODEL, custom_model="empty-model")[0])
    assert "empty-model is a folder, but neither" in chat, chat
    assert "users/" not in chat and str(workspace) not in chat, chat
