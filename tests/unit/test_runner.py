"""`labsctl.runner` with a real ansible-playbook on localhost (no cluster): signals cancel the
run, a killed ansible-playbook is a failed run, nothing of the environment reaches the disk."""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import ansible_runner.runner
import pytest

from labsctl import inventory
from labsctl.cluster import Target
from labsctl.runner import Progress, RunResult, run_playbook

SECRET = "labsctl-unit-secret-0xC0FFEE"

# The sleeper names the test's directory, so that every process of the run can be found.
SLEEPING_PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: sleep
      ansible.builtin.command:
        argv: ["{{{{ ansible_playbook_python }}}}", "-c", "import time; time.sleep(60)", "{marker}"]
"""

QUICK_PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: say hello
      ansible.builtin.debug:
        msg: hello
    - name: fail on one host
      ansible.builtin.fail:
        msg: failing on purpose
      when: inventory_hostname == "two"
"""


def _inventory(directory: Path, hosts: tuple[str, ...] = ("one",)) -> Path:
    lines = ["all:", "  hosts:"]
    for host in hosts:
        lines += [
            f"    {host}:",
            "      ansible_connection: local",
            '      ansible_python_interpreter: "{{ ansible_playbook_python }}"',
        ]
    path = directory / "inventory.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(
    tmp_path: Path,
    playbook: str,
    on_event: Callable[[Progress], None] | None = None,
    hosts: tuple[str, ...] = ("one",),
) -> RunResult:
    path = tmp_path / "playbook.yml"
    path.write_text(playbook.format(marker=tmp_path))
    target = Target(kubeconfigs=(tmp_path / "no-kubeconfig",))
    return run_playbook(str(path), _inventory(tmp_path, hosts), target, on_event=on_event)


def _processes_mentioning(text: str) -> list[int]:
    """Processes (but this one) whose command line holds `text`."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def _ansible_playbook(tmp_path: Path) -> int:
    """The ansible-playbook process of the run (not one of its workers): our child."""
    for pid in _processes_mentioning(str(tmp_path)):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
            return pid
    raise AssertionError("no ansible-playbook child")


def _once_started(action: Callable[[], None]) -> Callable[[Progress], None]:
    done: list[bool] = []

    def on_event(progress: Progress) -> None:
        if progress.state == "started" and not done:
            done.append(True)
            action()

    return on_event


def _once_sleeping(marker: Path, action: Callable[[], None]) -> Callable[[Progress], None]:
    """`action` once the task's sleeper runs: a module process and its child are up, which a
    cancellation must stop too (they work in the playbook's directory, not in the run's)."""

    def sleeping() -> bool:
        return any(
            b"time.sleep" in Path(f"/proc/{pid}/cmdline").read_bytes()
            for pid in _processes_mentioning(str(marker))
        )

    def act() -> None:
        deadline = time.monotonic() + 30
        while not sleeping():
            assert time.monotonic() < deadline, "the sleeper never started"
            time.sleep(0.05)
        action()

    return _once_started(act)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the run's private directory goes (TMPDIR of the test)."""
    where = tmp_path / "tmp"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    return where


def test_run_counts_stats_per_host_from_the_recap_without_rereading_events(
    tmp_path: Path, private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_rereading(_self: object) -> None:
        raise AssertionError("Runner.stats re-reads every job event file")

    monkeypatch.setattr(ansible_runner.runner.Runner, "stats", property(no_rereading))
    result = _run(tmp_path, QUICK_PLAYBOOK, hosts=("one", "two"))
    assert result.recap and result.rc == 2 and result.unfinished is None
    assert result.stats == {
        "one": {"ok": 1, "changed": 0, "failures": 0, "dark": 0, "skipped": 1},
        "two": {"ok": 1, "changed": 0, "failures": 1, "dark": 0, "skipped": 0},
    }
    assert [(f.residency, f.message) for f in result.failures] == [("two", "failing on purpose")]


def test_sigterm_during_the_playbook_cancels_it_and_is_reported(
    tmp_path: Path, private_tmp: Path
) -> None:
    before = signal.getsignal(signal.SIGTERM)
    started = time.monotonic()
    result = _run(
        tmp_path,
        SLEEPING_PLAYBOOK,
        _once_sleeping(tmp_path, lambda: os.kill(os.getpid(), signal.SIGTERM)),
    )
    assert time.monotonic() - started < 20  # the task sleeps 60 s
    assert result.signal == signal.SIGTERM
    assert result.status == "canceled" and not result.ok
    assert result.unfinished == "interrupted by SIGTERM before the run finished"
    assert signal.getsignal(signal.SIGTERM) is before  # our handlers are gone again
    assert _processes_mentioning(str(tmp_path)) == []  # ansible-playbook, workers, the sleeper


def test_sigint_during_the_playbook_cancels_it_instead_of_raising(
    tmp_path: Path, private_tmp: Path
) -> None:
    result = _run(
        tmp_path,
        SLEEPING_PLAYBOOK,
        _once_sleeping(tmp_path, lambda: os.kill(os.getpid(), signal.SIGINT)),
    )
    assert result.signal == signal.SIGINT and result.status == "canceled"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert _processes_mentioning(str(tmp_path)) == []


def test_a_killed_ansible_playbook_is_an_unfinished_run_not_a_crash(
    tmp_path: Path, private_tmp: Path
) -> None:
    def kill_ansible_playbook() -> None:  # as the OOM killer would: its workers stay
        os.kill(_ansible_playbook(tmp_path), signal.SIGKILL)

    started = time.monotonic()
    result = _run(tmp_path, SLEEPING_PLAYBOOK, _once_sleeping(tmp_path, kill_ansible_playbook))
    assert time.monotonic() - started < 20
    assert result.rc is None and result.status == "failed" and result.signal is None
    assert result.unfinished is not None
    assert "ansible-playbook was killed by a signal" in result.unfinished
    assert _processes_mentioning(str(tmp_path)) == []  # its orphaned workers stopped too


def test_a_sigkilled_caller_takes_ansible_playbook_its_workers_and_their_children_with_it(
    tmp_path: Path,
) -> None:
    """SIGKILL (or the OOM killer) gives labsctl no chance to stop its run: ansible-playbook,
    in a session of its own with SIGHUP ignored, and a worker blocked in a long task (silent,
    so no write to the closed terminal ends it) would go on; the parent guard ends them all."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from tests.unit.test_runner import SLEEPING_PLAYBOOK, _once_sleeping, _run\n"
        "def report():\n"
        "    print('sleeping', flush=True)\n"
        "    time.sleep(600)\n"
        "_run(Path(sys.argv[1]), SLEEPING_PLAYBOOK, _once_sleeping(Path(sys.argv[1]), report))\n"
    )
    caller = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert caller.stdout is not None and caller.stdout.readline() == "sleeping\n"
        assert _processes_mentioning(str(tmp_path)), "no run to kill"
        caller.kill()
        caller.wait(timeout=30)
        deadline = time.monotonic() + 5
        while _processes_mentioning(str(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_mentioning(str(tmp_path)) == []  # ansible-playbook, worker, sleeper
    finally:
        caller.kill()
        for pid in _processes_mentioning(str(tmp_path)):
            os.kill(pid, signal.SIGKILL)


def test_no_environment_value_reaches_the_disk_and_the_private_dir_is_0700_and_removed(
    tmp_path: Path, private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABSCTL_UNIT_TEST_TOKEN", SECRET)
    seen: dict[str, object] = {}

    def look_while_running() -> None:
        (private,) = private_tmp.iterdir()
        seen["mode"] = private.stat().st_mode & 0o777
        seen["files"] = sorted(str(p.relative_to(private)) for p in private.rglob("*"))
        seen["holding"] = [
            str(p) for p in private.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()
        ]

    result = _run(tmp_path, QUICK_PLAYBOOK, _once_started(look_while_running))
    assert result.recap
    assert seen["mode"] == 0o700
    assert seen["holding"] == [], seen["files"]
    assert list(private_tmp.iterdir()) == []


def test_the_private_dir_is_removed_when_an_event_handler_raises(
    tmp_path: Path, private_tmp: Path
) -> None:
    def fail() -> None:
        raise RuntimeError("progress display broke")

    with pytest.raises(RuntimeError, match="progress display broke"):
        _run(tmp_path, QUICK_PLAYBOOK, _once_started(fail))
    assert list(private_tmp.iterdir()) == []


def test_the_private_dir_is_removed_at_interpreter_exit(tmp_path: Path) -> None:
    script = (
        "import tempfile, sys; tempfile.tempdir = sys.argv[1]\n"
        "from labsctl.runner import _private_dir\n"
        "_private_dir().__enter__()  # never left: the interpreter exits inside it\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=60)
    assert list(tmp_path.iterdir()) == []


def test_the_checkouts_ansible_cfg_enables_the_vars_plugins_labsctl_runs_with() -> None:
    config = configparser.ConfigParser()
    config.read(Path(__file__).parents[2] / "ansible.cfg")
    enabled = config["defaults"]["vars_plugins_enabled"]
    assert [name.strip() for name in enabled.split(",")] == inventory.VARS_PLUGINS.split(",")
