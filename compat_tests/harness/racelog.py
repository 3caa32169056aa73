"""Data-race reports in the log of a Go program built with -race (laurel, layerctl, ...).

Go's race detector writes each report to stderr as it finds the race, framed by lines of `=`:

    ==================
    WARNING: DATA RACE
    Write at 0x00c000123456 by goroutine 7:
      ...
    ==================

and keeps the program running (at exit it prints "Found N data race(s)" and exits 66). A suite that
runs a -race binary therefore has to read the binary's log to notice. `RaceWatch` follows one log
file: `check()` fails with the reports written since the previous `check()`, so the test during
which a race was reported is the one that fails, and later tests are not blamed for it.
"""

from __future__ import annotations

import os

MARKER = b"WARNING: DATA RACE"
_RULE = b"=================="


def race_reports(log: bytes) -> list[str]:
    """Every race report in `log`, in order, each from its WARNING line to the closing rule (or to
    the end of `log` when the report is still being written)."""
    reports = []
    start = log.find(MARKER)
    while start != -1:
        end = log.find(_RULE, start)
        nxt = log.find(MARKER, start + len(MARKER))
        if end == -1 or (nxt != -1 and nxt < end):
            end = nxt if nxt != -1 else len(log)
        reports.append(log[start:end].decode(errors="replace").rstrip())
        start = nxt
    return reports


class RaceWatch:
    """Follows the log file at `path` of the -race process `name`.

    Not safe for concurrent use. A log that does not exist yet holds no reports. A log that was
    truncated or replaced (smaller than what was already read) is read again from its start.
    """

    def __init__(self, name: str, path: str):
        self.name, self.path = name, path
        self.offset = 0

    def new_reports(self) -> list[str]:
        """The race reports written since the previous call. Reading stops after the last complete
        line, so a report being written is seen whole (or at least its WARNING line) next time."""
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            return []
        if size < self.offset:
            self.offset = 0
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read(size - self.offset)
        complete = chunk.rfind(b"\n") + 1
        self.offset += complete
        return race_reports(chunk[:complete])

    def check(self) -> None:
        """Raise AssertionError quoting every race report written since the previous call."""
        reports = self.new_reports()
        if reports:
            shown = "\n\n".join(r if len(r) < 8000 else r[:8000] + "\n[...]" for r in reports[:5])
            more = f"\n\n(and {len(reports) - 5} more)" if len(reports) > 5 else ""
            raise AssertionError(f"{self.name} reported {len(reports)} data race(s) ({self.path}):\n\n{shown}{more}")


def check_logs(watches) -> None:
    """check() every watch in `watches`; raise one AssertionError naming every process that reported
    a race (every watch is read, so none is left to blame a later test)."""
    failures = []
    for w in watches:
        try:
            w.check()
        except AssertionError as e:
            failures.append(str(e))
    if failures:
        raise AssertionError("\n\n".join(failures))
