"""Following the jobs the job tabs run outside the page: the child processes of Evaluate and
Train (log, progress, Stop) and the Compare tab's worker job.

The processes themselves are `train.runner.ChildProcess` / `StageRun`; the worker is
`diffchat_ui.worker`."""

from __future__ import annotations

import copy
import itertools
import re
import threading
import time

_PROGRESS = re.compile(r"(\d+)/(\d+)")
# tqdm's "desc: 45%|####      | 9/20 [...]": the label before the percentage.
_BAR_LABEL = re.compile(r"^\s*(.*?):?\s*\d+%\|")
# Library chatter the person running a job need not read: Python warnings (the line and the
# source line under it), and the root logger's WARNING lines.
_WARNING = re.compile(r"\b(Future|Deprecation|User|Runtime)Warning: |^WARNING:root:|^WARNING root")
# A bar redraw with more output glued on: tqdm ends a redraw with no newline, so a line
# printed right after it ("... 0/3 [00:00<?, ?row/s]WARNING:root:...") joins the bar's line.
_AFTER_BAR = re.compile(r"^(.*?\d+%\|.*?\|.*?\[[^\]]*\])(\S.*)$")
LOG_LINES = 200


class LogBuffer:
    """The last lines of a child's output, with one progress bar kept up to date.

    tqdm redraws its bar with carriage returns; each redraw replaces the previous bar line,
    so the log keeps one bar and the other lines, and `done_total` follows the bar.
    """

    def __init__(self, keep: int = LOG_LINES):
        self.keep = keep
        self.lines: list[str] = []
        self.done_total: tuple[int, int] | None = None
        self.bar_label = ""  # the description of the progress bar last seen ("" if none)
        self.hidden_warnings = 0
        self._bar_index: int | None = None
        self._after_warning = False

    def add(self, line: str) -> None:
        """Append one output line (a bar redraw replaces the previous bar; library warnings
        are counted, not kept)."""
        glued = _AFTER_BAR.match(line)
        if glued:
            self.add(glued.group(1))
            self.add(glued.group(2))
            return
        if _WARNING.search(line):
            self.hidden_warnings += 1
            self._after_warning = True
            return
        if self._after_warning and line.startswith((" ", "\t")):
            return  # the source line Python prints under a warning
        self._after_warning = False
        match = _PROGRESS.search(line)
        if match and ("%|" in line or "it/s" in line or "s/it" in line):
            self.done_total = (int(match.group(1)), int(match.group(2)))
            label = _BAR_LABEL.match(line)
            self.bar_label = label.group(1).strip() if label else ""
            if self._bar_index is not None:
                del self.lines[self._bar_index]
            self._bar_index = len(self.lines)
        self.lines.append(line)
        if len(self.lines) > 2 * self.keep:
            dropped = len(self.lines) - self.keep
            del self.lines[:dropped]
            keep_bar = self._bar_index is not None and self._bar_index >= dropped
            self._bar_index = self._bar_index - dropped if keep_bar else None

    def text(self) -> str:
        """Return the kept lines as one string."""
        return "\n".join(self.lines[-self.keep :])


def follow(child, stop_flag: threading.Event, stop_timeout: float = 120.0, root=None):
    """Yield (LogBuffer, return code or None, new metrics rows) about twice a second while a
    started `train.runner.ChildProcess` (or StageRun) runs.

    Setting `stop_flag` stops the child (SIGINT, then SIGTERM after `stop_timeout` seconds) from
    a watcher thread, so Stop works while the child is silent and the log keeps streaming while
    it saves. The log is as core.validation.shown_message says it, paths in `root` (the
    caller's folder, AppContext.user_root; default the workspace) relative to it: the page
    shows no server path and no key.
    """
    from core.validation import shown_message

    def stop_when_asked() -> None:
        while child.is_running:
            if stop_flag.wait(0.25):
                child.stop(stop_timeout)
                return

    threading.Thread(target=stop_when_asked, daemon=True).start()
    log, new_metrics, last_yield, changed = LogBuffer(), [], 0.0, False
    for event in child.events():
        if event.kind == "line":
            log.add(shown_message(event.text, root))
            changed = True
        elif event.kind == "metrics":
            new_metrics.append(event.metrics)
            changed = True
        elif event.kind == "exit":
            yield log, event.returncode, new_metrics
            return
        # The screen needs no more than two redraws a second; what came within the last half
        # second shows at the next quiet poll ("idle"), not only when the child speaks again
        # (model loading's bar stayed at 0/272 for a minute: its 272/272 came 1 ms later).
        if changed and time.monotonic() - last_yield > 0.5:
            yield log, None, new_metrics
            new_metrics, last_yield, changed = [], time.monotonic(), False


class FollowedRun:
    """A started child followed in a thread of its own (`follow`), not in the page's handler.

    Gradio ends a handler when its page goes (a reload), but the child runs on. Followed
    here, what it says is kept, so a page of the browser that started it, opened later, can
    pick the run up with `updates()` and show it to its end. `about` is what the tab needs to
    show it (its output folder, ...); `stop_flag` is the flag Stop sets.
    """

    def __init__(self, child, stop_flag: threading.Event, about=None, **follow_options):
        self.about = about
        self.stop_flag = stop_flag
        self.number = 0  # TabJobs numbers the jobs it files: 1, 2, ...
        self.returncode: int | None = None
        self._log = LogBuffer()
        self._metrics: list[dict] = []
        self._said = 0  # how many times the child's state changed
        self._changed = threading.Condition()
        arguments = (child, stop_flag, follow_options)
        threading.Thread(target=self._follow, args=arguments, daemon=True).start()

    @property
    def running(self) -> bool:
        """True until the child's exit was seen."""
        return self.returncode is None

    def _follow(self, child, stop_flag, follow_options) -> None:
        try:
            for log, returncode, new_metrics in follow(child, stop_flag, **follow_options):
                self._note(log, returncode, new_metrics)
        except Exception as error:  # a reader that failed must still end the run's watchers
            self._note(self._log, -1, [], failure=f"Following the run failed: {error}")
        else:
            if self.running:  # the child's events ended without an exit event
                self._note(self._log, -1, [])

    def _note(self, log: LogBuffer, returncode, new_metrics, failure: str = "") -> None:
        kept = copy.copy(log)  # the followers read this copy while `follow` adds to its own
        kept.lines = list(log.lines)
        if failure:
            kept.lines.append(failure)
        with self._changed:
            self._log, self.returncode = kept, returncode
            self._metrics += new_metrics
            self._said += 1
            self._changed.notify_all()

    def updates(self, wait_s: float = 1.0):
        """Yield (LogBuffer, return code or None, metrics rows) as `follow` does, until the
        exit: first what was said so far (every metrics row since the start), then each change.
        Each LogBuffer is a copy; do not change it."""
        said, rows_seen = -1, 0
        while True:
            with self._changed:
                if self._said == said and not self._changed.wait(wait_s):
                    continue
                said, log, returncode = self._said, self._log, self.returncode
                new_metrics, rows_seen = self._metrics[rows_seen:], len(self._metrics)
            yield log, returncode, new_metrics
            if returncode is not None:
                return


class FollowedJob:
    """A tab's job of the model worker (a comparison) run and followed in a thread of its
    own, as FollowedRun follows a child: Gradio ends the handler of a page that goes (a
    reload), the job renders on, and a page of the browser that started it, opened later,
    picks it up with `updates()`.

    `work(say, stop_flag)` does the job, telling each diffchat_ui.worker.JobEvent with
    `say(event)`, the last one a "result" or "error"; `about` is what the tab needs to show
    it; `stop_flag` is the flag Stop sets.
    """

    def __init__(self, work, stop_flag: threading.Event, about=None):
        self.about = about
        self.stop_flag = stop_flag
        self.number = 0  # TabJobs numbers the jobs it files: 1, 2, ...
        self.final = None  # the "result" or "error" JobEvent, once it came
        self._latest = None
        self._said = 0
        self._changed = threading.Condition()
        threading.Thread(target=self._follow, args=(work,), daemon=True).start()

    @property
    def running(self) -> bool:
        """True until the job's last event came."""
        return self.final is None

    def _follow(self, work) -> None:
        from diffchat_ui.worker import JobEvent, readable_error

        try:
            work(self._note, self.stop_flag)
        except Exception as error:  # a job that failed here must still end its followers
            self._note(JobEvent("error", message=readable_error(error, "The job")))
        if self.running:
            self._note(JobEvent("error", message="The job ended without a result."))

    def _note(self, event) -> None:
        with self._changed:
            if not self.running:
                return
            self._latest = event
            if event.kind in ("result", "error"):
                self.final = event
            self._said += 1
            self._changed.notify_all()

    def updates(self, wait_s: float = 1.0):
        """Yield the job's latest JobEvent (events in between may be skipped), then each
        newer one, until and including the last one."""
        said = 0
        while True:
            with self._changed:
                if self._said == said and not self._changed.wait(wait_s):
                    continue
                said, event = self._said, self._latest
            yield event
            if event.kind in ("result", "error"):
                return


class TabJobs:
    """The job each browser has going in each job tab (Compare, Evaluate, Train), filed
    under `AppContext.stop_key` as the Stop flags are: only the browser (and user) holding
    the session secret that started a job finds it again. Each job filed gets the next
    number (`run.number`, from 1): a page tells a new job from one it saw by it."""

    def __init__(self):
        self._runs: dict[str, FollowedRun | FollowedJob] = {}
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)

    def start(self, key: str, start_child, stop_flags, about=None, **follow_options) -> FollowedRun:
        """Start a child with `start_child()` (it returns the started child) and follow it
        with a fresh Stop flag of `stop_flags` (diffchat_ui.worker.CancelFlags) under `key`;
        return its FollowedRun. Refuses (InputError) while the job filed under `key` still
        goes: a new flag would no longer reach it."""
        return self._file(
            key, stop_flags, lambda flag: FollowedRun(start_child(), flag, about, **follow_options)
        )

    def start_job(self, key: str, work, stop_flags, about=None) -> FollowedJob:
        """Run `work(say, stop_flag)` as a FollowedJob with a fresh Stop flag of `stop_flags`
        under `key`; return it. Refuses (InputError) as `start` does."""
        return self._file(key, stop_flags, lambda flag: FollowedJob(work, flag, about))

    def _file(self, key: str, stop_flags, follow_new):
        from core.errors import InputError

        with self._lock:
            self._runs = {k: run for k, run in self._runs.items() if run.running}
            if key in self._runs:
                raise InputError(
                    "Your earlier run in this tab is still going: Stop it, or wait for its end."
                )
            run = follow_new(stop_flags.fresh(key))
            run.number = next(self._numbers)
            self._runs[key] = run
            return run

    def running(self, key: str) -> FollowedRun | FollowedJob | None:
        """Return the job filed under `key` while it goes, else None."""
        with self._lock:
            run = self._runs.get(key)
        return run if run is not None and run.running else None
