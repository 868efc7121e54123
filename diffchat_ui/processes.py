"""Child processes the UI runs (evaluation, training), streamed line by line with Stop."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from core.paths import REPO_ROOT

_PROGRESS = re.compile(r"(\d+)/(\d+)")
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
        self._bar_index: int | None = None

    def add(self, line: str) -> None:
        """Append one output line (a bar redraw replaces the previous bar)."""
        match = _PROGRESS.search(line)
        if match and ("%|" in line or "it/s" in line or "s/it" in line):
            self.done_total = (int(match.group(1)), int(match.group(2)))
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


def stream_process(command: list[str], stop_flag: threading.Event, cwd: Path = REPO_ROOT):
    """Run `command`, yielding (LogBuffer, return code or None) about twice a second.

    Setting `stop_flag` sends SIGINT (the command saves and exits), then SIGTERM after 30 s.
    """
    # Unbuffered: a piped Python child would otherwise hold its log back in 8 KB blocks.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Text mode splits on "\r" too, so every progress-bar redraw arrives as its own line.
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    log = LogBuffer()
    pending: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            if line.strip():
                pending.put(line.rstrip("\n"))
        pending.put(None)

    threading.Thread(target=read, daemon=True).start()
    interrupted_at = None
    finished = False
    while not finished:
        deadline = time.monotonic() + 0.5
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = pending.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                finished = True
                break
            log.add(line)
        if stop_flag.is_set() and interrupted_at is None:
            process.send_signal(signal.SIGINT)
            interrupted_at = time.monotonic()
        if interrupted_at and time.monotonic() - interrupted_at > 30 and process.poll() is None:
            process.terminate()
        yield log, (process.wait() if finished else None)
