"""One worker thread runs every model job in order; handlers read its events.

Fooocus-style: a tab callback packs a request into a task (a function of a progress
callback and a cancel event that calls the library), submits it, and turns the job's
events (queued, progress, result, error) into screen updates. Only this thread touches
models, so a GPU never runs two pipelines at once and Stop is a flag the library checks
between diffusion steps.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import DiffChatError, GenerationCancelled
from core.validation import shown_message

log = logging.getLogger(__name__)

# progress(step, total, description) — the library's progress callback plus a label.
ProgressFn = Callable[[int, int, str], None]
Task = Callable[[ProgressFn, threading.Event], Any]


@dataclass(frozen=True)
class JobEvent:
    """What a job reports: kind is "queued", "progress", "result" or "error"."""

    kind: str
    step: int = 0
    total: int = 0
    description: str = ""
    value: Any = None
    message: str = ""
    cancelled: bool = False
    ahead: int = 0  # "queued": how many other jobs were waiting or running at submission


@dataclass
class Job:
    """A submitted task, its cancel flag and the queue its events arrive on."""

    task: Task
    label: str
    cancel_event: threading.Event
    # The caller's root (AppContext.user_root): the job's messages name paths inside it
    # relative to it, as the caller gave them (None: the workspace).
    root: Path | None = None
    events: queue.Queue = field(default_factory=queue.Queue)

    def iter_events(self) -> Iterator[JobEvent]:
        """Yield events until (and including) the final "result" or "error" event."""
        while True:
            event = self.events.get()
            yield event
            if event.kind in ("result", "error"):
                return

    def wait(self) -> JobEvent:
        """Block until the job ends and return its final event."""
        final = None
        for final in self.iter_events():  # noqa: B007 — we want the last one
            pass
        return final


def readable_error(error: BaseException, label: str, root: Path | None = None) -> str:
    """Return a message for the page: a DiffChatError as is, anything else named, no trace;
    either way without credentials or server paths (core.validation.shown_message, paths
    inside `root` relative to it)."""
    if isinstance(error, DiffChatError):
        return shown_message(str(error), root)
    return shown_message(f"{label} failed: {type(error).__name__}: {error}", root)


class Worker:
    """A daemon thread that runs submitted jobs one at a time, in submission order."""

    def __init__(self, name: str = "diffchat-worker"):
        self._jobs: queue.Queue[Job] = queue.Queue()
        self._unfinished = 0  # submitted jobs not yet ended (waiting + running)
        self._count_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(
        self,
        task: Task,
        label: str,
        cancel_event: threading.Event | None = None,
        root: Path | None = None,
    ) -> Job:
        """Queue `task` and return its Job; events start with "queued", whose `ahead` says
        how many other jobs come first (0: it starts at once). Its progress and error
        messages name paths inside `root` (the caller's root; None: the workspace) relative
        to it: with --auth a user's own folder is never "users/<name>-<hash>/..." to them."""
        job = Job(task, label, cancel_event or threading.Event(), root)
        with self._count_lock:
            ahead = self._unfinished
            self._unfinished += 1
        description = f"{label}: waiting for {ahead} other job(s)" if ahead else label
        job.events.put(JobEvent("queued", description=description, ahead=ahead))
        self._jobs.put(job)
        return job

    def pending(self) -> int:
        """Return how many jobs wait behind the running one."""
        return self._jobs.qsize()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                self._run(job)
            finally:
                with self._count_lock:
                    self._unfinished -= 1

    def _run(self, job: Job) -> None:
        if job.cancel_event.is_set():
            job.events.put(JobEvent("error", message="Stopped before it started.", cancelled=True))
            return

        def progress(step: int, total: int, description: str = "") -> None:
            # The page shows it ("loading <a custom model folder>"): said as messages are.
            description = shown_message(description, job.root)
            job.events.put(JobEvent("progress", step=step, total=total, description=description))

        try:
            value = job.task(progress, job.cancel_event)
        except GenerationCancelled as error:
            job.events.put(JobEvent("error", message=str(error) or "Stopped.", cancelled=True))
        except Exception as error:  # the edge: every failure becomes a readable event
            if not isinstance(error, DiffChatError):
                log.exception("%s failed", job.label)
            job.events.put(JobEvent("error", message=readable_error(error, job.label, job.root)))
        else:
            job.events.put(JobEvent("result", value=value))


class CancelFlags:
    """One cancel flag per browser session, so Stop only stops that session's job."""

    def __init__(self):
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def fresh(self, session_key: str) -> threading.Event:
        """Return a new, unset flag for the session's next job (replacing the old one)."""
        with self._lock:
            flag = self._flags[session_key] = threading.Event()
            return flag

    def stop(self, session_key: str) -> bool:
        """Set the session's flag; return False when it had no job."""
        with self._lock:
            flag = self._flags.get(session_key)
        if flag is None:
            return False
        flag.set()
        return True
