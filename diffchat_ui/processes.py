"""Following the child processes the UI runs (evaluation, training): log, progress, Stop.

The processes themselves are `train.runner.ChildProcess` / `StageRun`."""

from __future__ import annotations

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
