"""Run a command as a child process and follow it: the hook the Train and Evaluate tabs use.

    run = StageRun("sft", ["--use_lora", "True"], output_dir="runs/sft").start()
    for event in run.events():          # RunEvent(kind="line" | "metrics" | "idle" | "exit")
        ...                             # show event.text, plot event.metrics
    run.stop()                          # SIGINT: the stage saves a checkpoint and exits
    run.resume()                        # same stage and options, --resume_from_checkpoint latest

`ChildProcess` runs any command (an evaluation, the data stage) in its own process group with
stdout and stderr merged into one stream of lines; `StageRun` builds on it for a training
stage: the command line (through `accelerate launch` when `num_processes > 1`), the rows the
stage appends to OUTPUT_DIR/metrics.jsonl (train.common.RunLogger), and resuming. The UI never
imports a model: it reads lines and metrics rows.
"""

from __future__ import annotations

import codecs
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from core.errors import InputError
from core.paths import REPO_ROOT
from train.__main__ import STAGES
from train.common import METRICS_JSONL

RESUME_ARGUMENT = "--resume_from_checkpoint"
# Where the merged output breaks into lines: a progress bar's redraw starts with "\r".
_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass
class RunEvent:
    """One thing that happened: an output line, a metrics row, a quiet poll ("idle": nothing
    came, so a follower may redraw what it held back), or the exit (with its code)."""

    kind: str
    text: str = ""
    metrics: dict = field(default_factory=dict)
    returncode: int | None = None


class ChildProcess:
    """A command running in its own process group, its merged output read line by line."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None):
        self._command = list(command)
        self.env = env or {}
        self.process: subprocess.Popen | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    def command(self) -> list[str]:
        """Return the command line that start() runs."""
        return self._command

    def start(self) -> Self:
        """Start the command and return self; refuses (InputError) a run that is still going."""
        if self.is_running:
            raise InputError("this run is still going; stop it first.")
        self._lines = queue.Queue()
        # Unbuffered: a piped Python child would otherwise hold its log back in 8 KB blocks.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", **self.env}
        self.process = subprocess.Popen(
            self.command(),
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=0,  # bytes as they come: _read_lines splits them
            start_new_session=True,  # Stop signals the child's whole process group, not the UI
        )
        threading.Thread(target=self._read_lines, daemon=True).start()
        return self

    def _read_lines(self) -> None:
        """Put each output line on the queue as it comes, splitting on "\r" too, so every
        progress-bar redraw is a line of its own.

        tqdm writes a redraw as "\r" + the bar, ending nothing: read line by line, the bar
        showed only once the next redraw began (the evaluation's "0/3 rows" arrived when
        row 1 was done; until then the screen still said model loading was at 100 %). A
        redraw comes in one write, so the text after the last "\r" of a read is passed on
        at once; text after a "\n" waits for its line's end."""
        assert self.process is not None and self.process.stdout is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        try:
            while chunk := os.read(self.process.stdout.fileno(), 65536):
                text = pending + decoder.decode(chunk)
                *lines, pending = _LINE_END.split(text)
                after_return = len(pending) < len(text) and text[-len(pending) - 1] == "\r"
                if pending and after_return:
                    lines.append(pending)
                    pending = ""
                for line in lines:
                    if line.strip():
                        self._lines.put(line)
            pending += decoder.decode(b"", final=True)
            if pending.strip():
                self._lines.put(pending)
        finally:  # events() waits for this end mark, whatever happened here
            self._lines.put(None)

    @property
    def is_running(self) -> bool:
        """True while the subprocess has not exited."""
        return self.process is not None and self.process.poll() is None

    def _side_events(self) -> list[RunEvent]:
        """Events that do not come through stdout, checked between lines (none here)."""
        return []

    def events(self, poll_seconds: float = 0.2) -> Iterator[RunEvent]:
        """Yield output lines (and side events) as they come, an "idle" event after each
        `poll_seconds` without a line, then one "exit" event."""
        if self.process is None:
            raise InputError("the run has not been started.")
        finished = False
        while not finished:
            try:
                line = self._lines.get(timeout=poll_seconds)
            except queue.Empty:
                line = ""
            if line is None:
                finished = True
            elif line:
                yield RunEvent("line", text=line)
            else:
                yield RunEvent("idle")
            yield from self._side_events()
        returncode = self.process.wait()
        yield from self._side_events()
        yield RunEvent("exit", returncode=returncode)

    def stop(self, timeout: float = 120.0) -> int | None:
        """Send SIGINT (a stage saves a checkpoint, an evaluation its rows) and return the exit
        code. A child still running after `timeout` seconds gets SIGTERM. Returns None when
        nothing was started.
        """
        if not self.is_running:
            return self.process.returncode if self.process else None
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGTERM)
            return self.process.wait(timeout=30)


class StageRun(ChildProcess):
    """A training stage running in its own process (and process group)."""

    def __init__(
        self,
        stage: str,
        args: list[str] | None = None,
        output_dir: str | Path = "runs/stage",
        num_processes: int = 1,
        cpu: bool = False,
        env: dict[str, str] | None = None,
    ):
        if stage not in STAGES or stage == "data":
            raise InputError(
                f"unknown training stage '{stage}'; choose sft, rm, ppo or evaluate-rewriter."
            )
        if num_processes < 1:
            raise InputError("num_processes must be at least 1.")
        # Several CPU processes = accelerate's torchrun launcher + no visible GPU (command()).
        super().__init__([], {**(env or {}), **({"CUDA_VISIBLE_DEVICES": ""} if cpu else {})})
        self.stage = stage
        self.args = list(args or [])
        self.output_dir = Path(output_dir)
        self.num_processes = num_processes
        self.cpu = cpu
        self._metrics_offset = 0

    def command(self) -> list[str]:
        """Return the command line that start() runs."""
        stage_args = [self.stage, *self.args, "--output_dir", str(self.output_dir)]
        if self.num_processes == 1:
            return [sys.executable, "-m", "train", *stage_args]
        # accelerate's torchrun launcher is `--multi_gpu`; its `--cpu` flag alone starts ONE
        # process. Several CPU processes = torchrun + no visible GPU (see __init__).
        launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
        launcher += ["--num_processes", str(self.num_processes), "--num_machines", "1"]
        launcher += ["--mixed_precision", "no", "--dynamo_backend", "no"]
        return [*launcher, "-m", "train", *stage_args]

    def start(self) -> Self:
        """Start the stage and return self; refuses (InputError) a run that is still going."""
        if not self.is_running:
            self._metrics_offset = self._metrics_size()
        return super().start()

    def _metrics_size(self) -> int:
        path = self.output_dir / METRICS_JSONL
        return path.stat().st_size if path.is_file() else 0

    def _new_metrics(self) -> list[dict]:
        path = self.output_dir / METRICS_JSONL
        if not path.is_file():
            return []
        with open(path) as handle:
            handle.seek(self._metrics_offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind("\n") + 1]  # a half-written last line waits for next time
        self._metrics_offset += len(complete.encode())
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def _side_events(self) -> list[RunEvent]:
        return [RunEvent("metrics", metrics=row) for row in self._new_metrics()]

    def resume(self) -> Self:
        """Start the same stage again from the newest checkpoint in output_dir."""
        args = list(self.args)
        if RESUME_ARGUMENT in args:
            del args[args.index(RESUME_ARGUMENT) : args.index(RESUME_ARGUMENT) + 2]
        self.args = [*args, RESUME_ARGUMENT, "latest"]
        return self.start()


def wait_for_metrics(run: StageRun, count: int = 1, timeout: float = 300.0) -> list[RunEvent]:
    """Consume events until `count` metrics rows arrived (or the run ended); return them all."""
    seen: list[RunEvent] = []
    deadline = time.time() + timeout
    for event in run.events():
        seen.append(event)
        if sum(e.kind == "metrics" for e in seen) >= count or time.time() > deadline:
            break
    return seen
