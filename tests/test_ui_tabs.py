"""Tab helpers without a browser: flags, start-up settings, ballots, commands, child processes."""

from __future__ import annotations

import json
import random
import sys
import threading
from pathlib import Path

import pytest

import app
from core.errors import DiffChatError, InputError
from core.paths import assets_dir
from diffchat_ui.context import finished_rewriters
from diffchat_ui.processes import follow
from diffchat_ui.settings import OFFLINE_BANNER, detect_settings
from diffchat_ui.vote_tab import TIE_LABEL, choice_to_method, draw_ballot, votable_comparisons
from diffchat_ui.votes import TIE
from train.runner import ChildProcess


def test_flags_default_to_localhost_and_no_login(monkeypatch):
    monkeypatch.delenv("DIFFCHAT_AUTH", raising=False)
    monkeypatch.delenv("DIFFCHAT_AUTH_FILE", raising=False)
    args = app.parse_args([])
    assert (args.host, args.port, args.share, args.concurrency) == ("127.0.0.1", 7860, False, 2)
    assert (args.auth, args.auth_file, app.collect_logins(args)) == (None, None, None)


def _logins(argv: list[str]):
    return app.collect_logins(app.parse_args(argv))


def test_auth_takes_several_logins_repeated_or_comma_separated(monkeypatch):
    monkeypatch.delenv("DIFFCHAT_AUTH", raising=False)
    monkeypatch.delenv("DIFFCHAT_AUTH_FILE", raising=False)
    assert _logins(["--auth", "ann:s3cret:x"]) == [("ann", "s3cret:x")]  # as before
    assert _logins(["--auth", "alice:pw1, bob:pw2", "--auth", "carol:pw3"]) == [
        ("alice", "pw1"),
        ("bob", "pw2"),
        ("carol", "pw3"),
    ]
    monkeypatch.setenv("DIFFCHAT_AUTH", "bob:pw,dan:pw4")
    assert _logins(["--offline"]) == [("bob", "pw"), ("dan", "pw4")]
    assert _logins(["--auth", "eve:pw5"]) == [("eve", "pw5")]  # the command line wins


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--auth", "no-colon-Secret1"], "login 1: expected user:password, found no colon"),
        (["--auth", "ann:pw,:Secret1"], "login 2: the user name before the colon is empty"),
        (["--auth", "ann:Secret1", "--auth", "bob:"], "login 2: the password after the colon"),
        (["--auth", "ann:Secret1,,bob:pw"], "login 2 is empty"),
        (["--auth", ""], "login 1 is empty"),  # --auth "$UNSET" must not mean no login
        (["--auth", "ann:Secret1,ann:Secret2"], "login 2: user 'ann' is given twice"),
    ],
)
def test_auth_refuses_a_bad_login_without_showing_the_password(monkeypatch, argv, message):
    monkeypatch.delenv("DIFFCHAT_AUTH_FILE", raising=False)
    with pytest.raises(SystemExit) as refused:
        _logins(argv)
    assert message in str(refused.value) and "Secret" not in str(refused.value)


def test_auth_file_reads_one_login_a_line(tmp_path, monkeypatch):
    monkeypatch.delenv("DIFFCHAT_AUTH", raising=False)
    monkeypatch.delenv("DIFFCHAT_AUTH_FILE", raising=False)
    path = tmp_path / "logins"
    path.write_bytes(
        "\ufeff# the team\r\nalice:pw:with,commas # and a hash\r\n\n  \n   # indented\n"
        " bob :pw2\n".encode()
    )
    assert _logins(["--auth-file", str(path)]) == [
        ("alice", "pw:with,commas # and a hash"),  # all after the first colon is the password
        ("bob", "pw2"),
    ]
    # With --auth too, every login counts; so does DIFFCHAT_AUTH_FILE for the file.
    monkeypatch.setenv("DIFFCHAT_AUTH_FILE", str(path))
    assert _logins(["--auth", "carol:pw3"]) == [
        ("carol", "pw3"),
        ("alice", "pw:with,commas # and a hash"),
        ("bob", "pw2"),
    ]


def test_auth_file_readable_by_others_is_warned_about(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("DIFFCHAT_AUTH", raising=False)
    monkeypatch.delenv("DIFFCHAT_AUTH_FILE", raising=False)
    path = tmp_path / "logins"
    path.write_text("alice:Secret1\n")
    path.chmod(0o600)
    with caplog.at_level("WARNING", logger="diffchat"):
        _logins(["--auth-file", str(path)])
    assert "read by other users" not in caplog.text
    path.chmod(0o644)
    with caplog.at_level("WARNING", logger="diffchat"):
        assert _logins(["--auth-file", str(path)]) == [("alice", "Secret1")]
    assert "read by other users" in caplog.text and "chmod 600" in caplog.text
    assert "Secret1" not in caplog.text


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("alice:pw1\n\n# bob\nSecret1\n", "line 4: expected user:password, found no colon"),
        ("alice:pw1\n:Secret1\n", "line 2: the user name before the colon is empty"),
        ("# x\nalice:\n", "line 2: the password after the colon is empty"),
        ("alice:Secret1\nbob:pw\nalice:Secret2\n", "line 3: user 'alice' is given twice"),
        ("# nobody yet\n\n", "no user:password line in it"),
        (b"alice:Secret\xff\n", "not UTF-8 text"),
    ],
)
def test_auth_file_refuses_a_bad_line_by_its_number(tmp_path, monkeypatch, lines, message):
    monkeypatch.delenv("DIFFCHAT_AUTH", raising=False)
    path = tmp_path / "logins"
    if isinstance(lines, bytes):
        path.write_bytes(lines)
    else:
        path.write_text(lines)
    with pytest.raises(SystemExit) as refused:
        _logins(["--auth-file", str(path)])
    text = str(refused.value)
    assert message in text and str(path) in text and "Secret" not in text
    if "twice" in message:
        assert "first at --auth-file (or DIFFCHAT_AUTH_FILE) " + f"{path} line 1" in text


def test_auth_file_refuses_a_missing_file_and_a_user_also_in_auth(tmp_path, monkeypatch):
    monkeypatch.delenv("DIFFCHAT_AUTH", raising=False)
    with pytest.raises(SystemExit, match="cannot read it"):
        _logins(["--auth-file", str(tmp_path / "absent")])
    with pytest.raises(SystemExit, match="the path is empty"):
        _logins(["--auth-file", ""])  # --auth-file "$UNSET" must not mean no login
    path = tmp_path / "logins"
    path.write_text("bob:Secret1\n")
    with pytest.raises(SystemExit, match="line 1: user 'bob' is given twice") as refused:
        _logins(["--auth", "bob:Secret2", "--auth-file", str(path)])
    assert "Secret" not in str(refused.value)
    # The launcher refuses before it builds or starts anything.
    with pytest.raises(SystemExit, match="cannot read it"):
        app.main(["--auth-file", str(tmp_path / "absent")])


def test_offline_when_sd15_is_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    settings = detect_settings()
    assert settings.offline and settings.banner == OFFLINE_BANNER
    assert (settings.text2image_model, settings.ip2p_model) == ("tiny-sd", "tiny-ip2p")
    assert settings.image_models()[0] == "tiny-sd"


def test_real_weights_when_cached(tmp_path, monkeypatch):
    import core.assets.download as download

    monkeypatch.setattr(download, "is_downloaded", lambda name: True)
    settings = detect_settings()
    assert not settings.offline and settings.banner == ""
    # SD 1.5 on a GPU, the fastest few-step model on a CPU (this machine).
    expected = download.default_image_model(None)
    assert (settings.text2image_model, settings.ip2p_model) == (expected, "instruct-pix2pix")
    assert detect_settings(force_offline=True).offline


def _comparison(root: Path, name: str, methods: list[str]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "raw.png").write_bytes(b"")
    candidates = [
        {"method": m, "prompt": f"{m} prompt", "image": f"{i}.png", "scores": {}, "error": ""}
        for i, m in enumerate(methods)
    ]
    candidates.append(
        {
            "method": "openai",
            "prompt": "",
            "image": None,
            "scores": {},
            "error": "OPENAI_API_KEY is not set",
        }
    )
    (folder / "comparison.json").write_text(
        json.dumps(
            {
                "id": name,
                "model": "tiny-sd",
                "raw_prompt": "a cat",
                "instruction": "make it night",
                "raw_image": "raw.png",
                "candidates": candidates,
            }
        )
    )
    return folder


def test_ballots_are_shuffled_blind_and_skip_failed_methods(tmp_path):
    _comparison(tmp_path, "one-candidate", ["append"])
    folder = _comparison(tmp_path, "three", ["diffchat", "append", "instructpix2pix"])
    assert votable_comparisons(tmp_path) == [folder]
    orders = set()
    for seed in range(20):
        ballot, raw, instruction, gallery = draw_ballot(folder, random.Random(seed))
        orders.add(ballot.methods)
        assert sorted(ballot.methods) == ["append", "diffchat", "instructpix2pix"]
        assert [caption for _, caption in gallery] == ["Candidate A", "Candidate B", "Candidate C"]
        # The image shown as "Candidate A" is the one of methods[0].
        shown_first = Path(gallery[0][0]).name
        assert ballot.methods[0] == ["diffchat", "append", "instructpix2pix"][int(shown_first[0])]
        assert choice_to_method(ballot, "Candidate C") == ballot.methods[2]
    assert len(orders) > 1
    assert choice_to_method(ballot, TIE_LABEL) == TIE
    with pytest.raises(DiffChatError):
        choice_to_method(ballot, "Candidate D")


def test_every_training_stage_gets_its_option_table_and_data_option(tmp_path, monkeypatch):
    from diffchat_ui.train_tab import default_options, stage_arguments

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    triplets = tmp_path / "t.jsonl"
    triplets.write_text("")
    rm = {name: value for name, value, _ in default_options("rm")}
    assert rm["learning_rate"] == "5e-06" and rm["max_length"] == "384"  # Table 3, RM column
    assert "prompts_file" not in rm  # filled by the Data file widget
    assert stage_arguments("rm", "", "t.jsonl", []) == [f"--prompts_file={triplets}"]
    ppo = {name for name, _, _ in default_options("ppo")}
    assert "vci_alpha" in ppo and "train_file" not in ppo
    assert stage_arguments("ppo", "", "t.jsonl", []) == [f"--train_file={triplets}"]
    assert default_options("data") == []


def test_path_options_are_known_by_their_config_field():
    from diffchat_ui.train_tab import path_kinds

    assert path_kinds("rm") == {
        "model_name_or_path": "read-or-id",
        "labels_file": "write",
        "prompts_file": "read",
        "image_model": "read-or-id",
        "output_dir": "write",
        "resume_from_checkpoint": "read",
    }
    assert path_kinds("sft")["gguf_file"] == "file-name"
    assert {"adapter_path", "aesthetic_rm_path", "preference_rm_path"} <= set(path_kinds("ppo"))
    assert path_kinds("data") == {}


@pytest.mark.parametrize(
    ("stage", "row", "message"),
    [
        ("rm", ["labels_file", "/tmp/outside.jsonl"], "labels_file: /tmp/outside.jsonl is outside"),
        ("sft", ["eval_file", "../eval.jsonl"], "eval_file: ../eval.jsonl is outside"),
        ("ppo", ["aesthetic_rm_path", "/etc"], "aesthetic_rm_path: /etc is outside"),
        ("sft", ["gguf_file", "../../x.gguf"], "gguf_file: .*bare file name"),
        ("sft", ["output_dir", "/tmp/elsewhere"], "output_dir is not an option .* its own box"),
        ("sft", ["no_such_option", "1"], "no_such_option is not an option of the sft table"),
    ],
)
def test_train_options_outside_the_workspace_are_refused(
    tmp_path, monkeypatch, stage, row, message
):
    from diffchat_ui.train_tab import stage_arguments

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path / "workspace"))
    with pytest.raises(InputError, match=message):
        stage_arguments(stage, "", "", [row + ["help"]])
    with pytest.raises(InputError, match="Base model: /etc is outside"):
        stage_arguments(stage, "/etc", "", [])
    with pytest.raises(InputError, match="Data file: .* is outside"):
        stage_arguments(stage, "", "/etc/passwd", [])


@pytest.mark.parametrize(
    ("stage", "flag"), [("rm", "label_only"), ("sft", "use_lora"), ("ppo", "use_vci")]
)
def test_a_table_value_is_never_read_as_an_option_of_its_own(tmp_path, monkeypatch, stage, flag):
    """A flag's value "--labels_file=/elsewhere" went on the command line as a second option,
    past the path check: an RM run from the Train tab wrote its labels outside the workspace."""
    import importlib

    from diffchat_ui.train_tab import STAGES, stage_arguments

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path / "workspace"))
    outside = tmp_path / "outside.jsonl"
    smuggled = [[flag, f"--labels_file={outside}", ""], [flag, f"--output_dir={tmp_path}", ""]]
    for row in smuggled:
        arguments = stage_arguments(stage, "", "", [row])
        parse_config = importlib.import_module(STAGES[stage]).parse_config
        with pytest.raises(SystemExit):  # the stage refuses the value; nothing is passed on
            parse_config([*arguments, "--output_dir", str(tmp_path / "workspace" / "run")])


def test_train_arguments_pass_only_changed_options(tmp_path, monkeypatch):
    from diffchat_ui.train_tab import curve_rows, data_command, default_options, stage_arguments

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    rows = default_options("sft")
    options = {name: value for name, value, _ in rows}
    assert options["learning_rate"] == "2e-05" and options["batch_size"] == "64"  # Table 3
    rows = [[n, "2" if n == "max_steps" else v, h] for n, v, h in rows]
    assert stage_arguments("sft", "smollm2-base", "data.jsonl", rows) == [
        "--model_name_or_path=smollm2-base",
        "--train_file=data.jsonl",
        "--max_steps=2",
    ]
    assert data_command("d.jsonl", tmp_path)[1:] == [
        "-m",
        "train",
        "data",
        "split",
        str(tmp_path.resolve() / "d.jsonl"),
        "--out",
        str(tmp_path),
    ]
    with pytest.raises(InputError):
        data_command("", tmp_path)
    with pytest.raises(InputError, match="outside the workspace"):
        data_command("/etc/passwd", tmp_path)
    assert curve_rows({"step": 3, "loss/policy": 0.5, "lr": 1e-5, "objective/reward": 2}) == [
        {"step": 3, "value": 0.5, "metric": "loss/policy"},
        {"step": 3, "value": 2.0, "metric": "objective/reward"},
    ]


def test_evaluation_command_and_data_file_checks(tmp_path):
    from diffchat_ui.evaluate_tab import evaluation_command

    command = evaluation_command(
        "d.jsonl", ["diffchat", "append"], ["tiny-sd"], tmp_path, 1, True, 3
    )
    assert command[1:] == [
        "-m",
        "core",
        "evaluate",
        "--data",
        "d.jsonl",
        "--methods",
        "diffchat,append",
        "--tis-models",
        "tiny-sd",
        "--seed",
        "3",
        "--out",
        str(tmp_path),
        "--limit",
        "1",
        "--tiny-scorers",
    ]
    with pytest.raises(InputError, match="method"):
        evaluation_command("d.jsonl", [], ["tiny-sd"], tmp_path, None, False, 0)


def test_evaluation_data_file_is_inside_the_workspace_or_assets(tmp_path, monkeypatch):
    from diffchat_ui.evaluate_tab import default_data_file, resolve_data_file

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path / "workspace"))
    assert default_data_file() == "assets/instructpe/test.jsonl"  # no server path on the page
    shipped = assets_dir() / "instructpe" / "test.jsonl"
    assert resolve_data_file(default_data_file()) == str(shipped)
    assert resolve_data_file(default_data_file(), tmp_path / "workspace" / "users" / "a") == str(
        shipped
    )
    (tmp_path / "outside.jsonl").write_text("")
    for path in (str(tmp_path / "outside.jsonl"), "../outside.jsonl", "/etc/passwd"):
        with pytest.raises(InputError, match="outside the workspace"):
            resolve_data_file(path)
    with pytest.raises(InputError, match="is not a file"):
        resolve_data_file("missing.jsonl")


def test_custom_model_box_takes_ids_and_inside_folders_only(tmp_path, monkeypatch):
    from diffchat_ui.create_tab import CUSTOM_MODEL, TurnSettings

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))

    def settings(custom_model: str, rewriter: str = "append") -> TurnSettings:
        return TurnSettings(
            CUSTOM_MODEL, custom_model, rewriter, "rewrite only", 0.6, 1.5, 7.5, 0, 2, ""
        )

    assert settings("org/model").model_name() == "org/model"
    (tmp_path / "my-model").mkdir()
    assert settings("my-model").model_name() == str(tmp_path.resolve() / "my-model")
    with pytest.raises(InputError, match="/etc is outside the workspace"):
        settings("/etc").model_name()
    assert settings("x", "org/rewriter").rewriter_name() == "org/rewriter"
    with pytest.raises(InputError, match="outside the workspace"):
        settings("x", "/etc").rewriter_name()


def test_finished_rewriters_skip_intermediate_checkpoints(tmp_path):
    (tmp_path / "sft-run" / "checkpoint-2").mkdir(parents=True)
    (tmp_path / "sft-run" / "checkpoint-2" / "adapter_config.json").write_text("{}")
    (tmp_path / "sft-run" / "final").mkdir()
    (tmp_path / "sft-run" / "final" / "adapter_config.json").write_text("{}")
    assert finished_rewriters(tmp_path) == [tmp_path / "sft-run" / "final"]


# What `python -m train` and `python -m core` do first (core.cli.accept_interrupts): the test's
# child takes SIGINT even where pytest runs in a background job, which starts it ignored.
INTERRUPTIBLE = "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"


def test_accept_interrupts_undoes_an_inherited_ignore():
    import signal

    from core.cli import accept_interrupts

    before = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        accept_interrupts()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        custom = lambda number, frame: None  # noqa: E731
        signal.signal(signal.SIGINT, custom)
        accept_interrupts()  # a handler someone set on purpose stays
        assert signal.getsignal(signal.SIGINT) is custom
    finally:
        signal.signal(signal.SIGINT, before)


def test_follow_tracks_progress_and_stops_with_sigint(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(
        INTERRUPTIBLE + "import sys, time\n"
        "try:\n"
        "    for i in range(1, 1000):\n"
        "        print(f'\\r{i}/1000 [00:01, 5.0it/s]', end='', file=sys.stderr, flush=True)\n"
        "        print(f'step {i}', flush=True)\n"
        "        time.sleep(0.02)\n"
        "except KeyboardInterrupt:\n"
        "    print('saved checkpoint', flush=True)\n"
        "    sys.exit(130)\n"
    )
    stop = threading.Event()
    seen_progress = None
    for log, returncode, _ in follow(ChildProcess([sys.executable, str(script)]).start(), stop):
        if log.done_total and log.done_total[0] >= 3:
            seen_progress = log.done_total
            stop.set()
        if returncode is not None:
            break
    assert seen_progress[1] == 1000
    assert returncode == 130 and log.lines[-1] == "saved checkpoint"
    # progress-bar redraws replace each other instead of flooding the log
    assert sum("/1000" in line for line in log.lines) == 1


def test_follow_stops_a_silent_child(tmp_path):
    # Stop must not wait for the next output line: a loading model prints nothing for minutes.
    script = tmp_path / "quiet.py"
    script.write_text(
        INTERRUPTIBLE + "import sys, time\n"
        "try:\n"
        "    print('loading', flush=True)\n"  # inside: Stop may come right after it
        "    time.sleep(600)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted while silent', flush=True)\n"
        "    sys.exit(130)\n"
    )
    stop = threading.Event()
    child = ChildProcess([sys.executable, str(script)]).start()
    for log, returncode, _ in follow(child, stop):
        if log.lines == ["loading"]:
            stop.set()
        if returncode is not None:
            break
    assert returncode == 130 and log.lines[-1] == "interrupted while silent"


def test_tree_actions_turn_refusals_into_chat_messages(tmp_path):
    from diffchat_ui.context import AppContext
    from diffchat_ui.create_tab import _tree_action
    from diffchat_ui.settings import AppSettings
    from diffchat_ui.state import ChatState

    context = AppContext(AppSettings(True, "tiny-sd", "tiny-ip2p", "append", tmp_path))
    state = ChatState.new(seed=5)
    for name in ("1.png", "2.png"):  # the view shows only images that are there
        (tmp_path / name).write_bytes(b"png")
    root = state.session.add_turn("a cat", "a cat", image_path=str(tmp_path / "1.png"))
    child = state.session.add_turn(
        "make it night", "a cat, night", image_path=str(tmp_path / "2.png")
    )
    state.session.branch_from(root.id)
    state, chat, image, diff, *_ = _tree_action(context, state, "forget")
    assert "only the last turn of a branch can be forgotten" in chat[-1]["content"]
    assert state.session.current.id == root.id  # refused: nothing changed
    state, chat, image, diff, *_ = _tree_action(context, state, "branch", child.id)
    assert state.session.current.id == child.id
    assert diff["value"] == [("a cat, ", None), ("night", "added")]
    state, chat, image, diff, *_ = _tree_action(context, state, "undo")
    assert chat[-1]["content"] == f"Undone. Back at turn #{root.id}." and image.endswith("1.png")
    state, chat, *_ = _tree_action(context, state, "branch", 99)
    assert chat[-1]["content"] == "⚠️ There is no turn #99 in this session."


def test_compare_asks_a_chat_api_in_its_handler_and_stop_ends_the_wait(monkeypatch):
    from silent_server import SilentServer

    from core import rewrite
    from core.errors import GenerationCancelled
    from diffchat_ui.compare_tab import ComparePlan, remote_rewrites

    server = SilentServer()
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.port}/v1")
    monkeypatch.setenv("DIFFCHAT_CHAT_TIMEOUT", "120")
    rewrite._cache.pop("openai", None)
    plan = ComparePlan("a windmill", "make it night", ("tiny-sd",), ("append", "openai"), False, "")
    stop, waiting_for, outcome = threading.Event(), [], {}

    def compare_handler():
        try:
            outcome["value"] = remote_rewrites(plan, stop, lambda _, desc: waiting_for.append(desc))
        except GenerationCancelled as error:
            outcome["cancelled"] = error

    try:
        thread = threading.Thread(target=compare_handler)
        thread.start()
        assert server.connected.wait(30), "the chat API was never asked"
        stop.set()
        thread.join(5)
        assert not thread.is_alive() and "rewriter" in str(outcome["cancelled"])
        assert waiting_for == ["waiting for the openai rewriter"]  # append runs on the worker
    finally:
        server.close()
        rewrite._cache.pop("openai", None)


def test_a_chat_api_error_is_its_methods_row(monkeypatch):
    from core import rewrite
    from core.errors import DiffChatError
    from diffchat_ui.compare_tab import ComparePlan, remote_rewrites

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    rewrite._cache.pop("openai", None)
    plan = ComparePlan("a windmill", "make it night", ("tiny-sd",), ("openai",), False, "")
    answers = remote_rewrites(plan, threading.Event(), lambda *_, **__: None)
    rewrite._cache.pop("openai", None)
    assert isinstance(answers["openai"], DiffChatError) and "OPENAI_API_KEY" in str(
        answers["openai"]
    )


def test_one_stop_handler_stops_only_its_tabs_job_for_that_secret(tmp_path):
    import gradio as gr

    from diffchat_ui.context import AppContext
    from diffchat_ui.settings import AppSettings
    from diffchat_ui.tab_stop import stop_handler

    context = AppContext(AppSettings(True, "tiny-sd", "tiny-ip2p", "append", tmp_path))
    request = type("Request", (), {"username": None})()
    mine, other = (context.sessions.open(None, None, browser=True) for _ in range(2))
    flags = {
        (tab, secret): context.cancel_flags.fresh(context.stop_key(tab, secret, request))
        for tab in ("compare", "evaluate", "train")
        for secret in (mine, other)
    }
    stop_handler(context, "evaluate")(mine, request)
    assert [key for key, flag in flags.items() if flag.is_set()] == [("evaluate", mine)]
    with pytest.raises(gr.Error, match="no valid session"):
        stop_handler(context, "train")("not a secret", request)
    assert not flags["train", mine].is_set() and not flags["train", other].is_set()


def test_compare_progress_names_the_method_being_run(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from PIL import Image

    from core import images
    from diffchat_ui.compare_tab import ComparePlan, comparison_view, run_comparison

    def generate(request, progress=None, cancel_event=None):  # one denoising step, no model
        progress(1, 1)
        return SimpleNamespace(image=Image.new("RGB", (8, 8), "gray"))

    monkeypatch.setattr(images, "generate", generate)
    plan = ComparePlan(
        "a windmill", "make it night", ("tiny-sd",), ("append",), False, "", score=False
    )
    said = []
    folders = run_comparison(plan, tmp_path, lambda *args: said.append(args), threading.Event())
    assert said == [
        (1, 2, "raw image on tiny-sd (1 of 2)"),
        (2, 2, "append on tiny-sd (2 of 2)"),
    ]
    _, rows, _ = comparison_view(folders)
    assert rows == [["append", "tiny-sd", "a windmill, make it night"]]


def test_a_comparison_that_stops_or_fails_leaves_no_folder(monkeypatch, tmp_path):
    """A refused upload (a bomb as the raw image) or Stop midway left its comparison folder
    behind under comparisons/: empty, or holding the raw image and some candidates without a
    record. Nothing of a run that did not finish stays."""
    from dataclasses import replace
    from types import SimpleNamespace

    from image_fixtures import grayscale_bomb_png, write
    from PIL import Image

    from core import images
    from core.errors import GenerationCancelled, InputError
    from diffchat_ui.compare_tab import ComparePlan, run_comparison

    stop = threading.Event()

    def generate(request, progress=None, cancel_event=None):  # the raw image, then Stop
        if request.prompt != "a windmill":
            raise GenerationCancelled("Stopped.")
        stop.set()
        return SimpleNamespace(image=Image.new("RGB", (8, 8), "gray"))

    monkeypatch.setattr(images, "generate", generate)
    out = tmp_path / "comparisons"
    plan = ComparePlan(
        "a windmill", "make it night", ("tiny-sd",), ("append",), False, "", score=False
    )
    with pytest.raises(GenerationCancelled):
        run_comparison(plan, out, lambda *args: None, stop)
    bomb = write(tmp_path, "bomb.png", grayscale_bomb_png())
    with pytest.raises(InputError, match="169,000,000 pixels"):
        run_comparison(replace(plan, raw_image=str(bomb)), out, lambda *args: None, stop)
    assert list(out.iterdir()) == []


def test_compare_hands_the_checked_upload_to_its_job(tmp_path, monkeypatch):
    """The handler's check_plan decoded the upload, then run_comparison on the worker opened
    and decoded the file again: twice the work, and the job rendered whatever the file had
    become meanwhile. The checked image goes on to the job; a direct call checks the file."""
    from dataclasses import replace
    from types import SimpleNamespace

    from image_fixtures import small_png, write
    from PIL import Image

    from core import images
    from diffchat_ui.compare_tab import ComparePlan, check_plan, run_comparison

    flat = SimpleNamespace(image=Image.new("RGB", (8, 8), "gray"))
    monkeypatch.setattr(images, "generate", lambda request, **kwargs: flat)
    upload = write(tmp_path, "upload.png", small_png("red"))
    opened, open_image = [], Image.open
    monkeypatch.setattr(
        Image, "open", lambda fp, *a, **k: opened.append(fp) or open_image(fp, *a, **k)
    )
    plan = ComparePlan(
        "a red square", "make it blue", ("tiny-sd",), ("append",), False, "", score=False
    )
    plan = replace(plan, raw_image=str(upload))
    checked = check_plan(plan)  # in the handler
    upload.write_bytes(small_png("green"))  # the file changes before the job runs
    out = tmp_path / "comparisons"
    (folder,) = run_comparison(plan, out, lambda *args: None, threading.Event(), None, checked)
    assert [Path(path) for path in opened] == [upload]  # decoded once, by the handler's check
    with open_image(folder / "raw.png") as raw:
        assert raw.convert("RGB").getpixel((0, 0)) == (255, 0, 0)  # the image that was checked
    upload.unlink()
    with pytest.raises(InputError, match="No image file"):  # a direct call checks the file
        run_comparison(plan, out, lambda *args: None, threading.Event())


def test_chat_api_waits_hold_all_but_one_queue_place(tmp_path, monkeypatch):
    from diffchat_ui.context import AppContext
    from diffchat_ui.settings import detect_settings

    monkeypatch.setenv("DIFFCHAT_WORKSPACE", str(tmp_path))
    context = AppContext(detect_settings(force_offline=True, concurrency=3))
    with context.network_wait("openai"), context.network_wait("openai"):
        with pytest.raises(DiffChatError, match="already answering 2 request"):
            with context.network_wait("openai"):
                pass
    with context.network_wait("openai"):  # places come back when a wait ends
        pass
    single = AppContext(detect_settings(force_offline=True, concurrency=1))
    assert single.network_wait_limit == 1  # one place: a wait may still hold it


def test_settings_without_a_concurrency_get_the_flags_default(tmp_path):
    from types import SimpleNamespace

    from app import parse_args
    from diffchat_ui.context import AppContext
    from diffchat_ui.settings import DEFAULT_CONCURRENCY

    context = AppContext(SimpleNamespace(workspace=tmp_path))  # no concurrency given
    assert context.network_wait_limit == DEFAULT_CONCURRENCY - 1 == 1
    assert parse_args([]).concurrency == DEFAULT_CONCURRENCY
