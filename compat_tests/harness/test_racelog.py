"""The race-report check (harness/racelog.py) fails on a real race report and only once per report."""

from __future__ import annotations

import os
import subprocess

import pytest

from harness.racelog import RaceWatch, check_logs, race_reports

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Two goroutines write one variable without synchronisation: the race detector reports it.
RACY = """package main

import "fmt"

func main() {
	n := 0
	done := make(chan bool)
	go func() { n++; done <- true }()
	n++
	<-done
	fmt.Println("still running after the race:", n)
}
"""

REPORT = b"""==================
WARNING: DATA RACE
Write at 0x00c000014098 by goroutine 7:
  main.main.func1()
      /tmp/racy/main.go:8 +0x3c

Previous write at 0x00c000014098 by main goroutine:
  main.main()
      /tmp/racy/main.go:9 +0xb4
==================
"""


@pytest.fixture(scope="module")
def real_race_log(tmp_path_factory):
    """The log of a real program built with -race that has a data race."""
    d = tmp_path_factory.mktemp("racy")
    (d / "main.go").write_text(RACY)
    (d / "go.mod").write_text("module racy\n\ngo 1.21\n")
    log = d / "racy.log"
    with open(log, "wb") as f:
        p = subprocess.run(["go", "run", "-race", "."], cwd=d, stdout=f, stderr=subprocess.STDOUT, timeout=240,
                           env={**os.environ, "GOFLAGS": "-mod=mod"})
    assert p.returncode != 0, "the racy program exited 0: -race did not report its race"
    return log


def test_real_race_report_fails_the_check(real_race_log):
    w = RaceWatch("racy", str(real_race_log))
    with pytest.raises(AssertionError, match=r"racy reported 1 data race\(s\)") as e:
        w.check()
    assert "main.main.func1()" in str(e.value), "the report itself is quoted"
    w.check()  # already reported: a later test is not blamed for it


def test_clean_log_passes(tmp_path):
    log = tmp_path / "laurel.log"
    log.write_bytes(b'{"level":"INFO","msg":"listening"}\n' * 100)
    w = RaceWatch("laurel", str(log))
    w.check()
    RaceWatch("laurel", str(tmp_path / "not-yet-written.log")).check()


def test_report_written_after_a_check_fails_the_next_check(tmp_path):
    log = tmp_path / "laurel.log"
    log.write_bytes(b"starting\n")
    w = RaceWatch("laurel", str(log))
    w.check()
    with open(log, "ab") as f:
        f.write(b"serving\n" + REPORT[:40])  # half a report, mid-line: the WARNING line is complete
    with pytest.raises(AssertionError, match="1 data race"):
        w.check()
    with open(log, "ab") as f:
        f.write(REPORT[40:] + b"more log\n")
    w.check()  # the rest of the same report is not a second race


def test_marker_split_across_reads_is_not_missed(tmp_path):
    log = tmp_path / "laurel.log"
    log.write_bytes(b"==================\nWARNING: DA")
    w = RaceWatch("laurel", str(log))
    w.check()  # the incomplete line is left for the next read
    with open(log, "ab") as f:
        f.write(REPORT[len(b"==================\nWARNING: DA"):])
    with pytest.raises(AssertionError):
        w.check()


def test_several_reports_and_several_logs(tmp_path):
    assert len(race_reports(b"x\n" + REPORT + b"y\n" + REPORT)) == 2
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(REPORT + REPORT)
    b.write_bytes(b"clean\n")
    c = tmp_path / "c.log"
    c.write_bytes(REPORT)
    watches = [RaceWatch("a", str(a)), RaceWatch("b", str(b)), RaceWatch("c", str(c))]
    with pytest.raises(AssertionError) as e:
        check_logs(watches)
    assert "a reported 2 data race(s)" in str(e.value) and "c reported 1 data race(s)" in str(e.value)
    assert "b reported" not in str(e.value)
    check_logs(watches)  # every log was read: nothing is left over
