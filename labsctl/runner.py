"""Run labsctl's playbooks through ansible-runner's Python API; the only importer of it.

A failed playbook is a result, not an exception (as ansible-runner does): `RunResult` carries the
status, per-residency stats, every object the roles applied with its action, and each failure
with its residency, role, task and message. Progress (and, with `verbose`, Ansible's output)
arrives through `on_event`; nothing is printed.

Signals: while the playbook runs, SIGINT and SIGTERM are ours, not ansible-runner's (it installs
its own handlers when given no `cancel_callback`, and then labsctl never learns of them). The
first one cancels the run (ansible-runner kills ansible-playbook's process group within
`_CANCEL_POLL_SECONDS`) and is reported in `RunResult.signal`; the caller stops there.

Secrets: the run's environment holds the values `spec.secrets` names. ansible-runner is kept from
writing it anywhere: no `env/` files, the `command` artifact (always written by ansible-runner
2.4.3, the whole environment included) pointed at an in-memory file, no job-event files,
modules piped to the interpreter (never written as AnsiballZ files) and Ansible's temporary
files inside the private directory. That directory is 0700 and removed on every way out (return,
exception, the signals above through the exception the caller raises, interpreter exit); after
a SIGKILL it is all that is left, with no secret value in it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import ansible_runner

from labsctl import inventory, paths
from labsctl.cluster import Target

_IDENT = "run"  # artifacts go to <private>/artifacts/run/
_CANCEL_POLL_SECONDS = 0.25  # how often ansible-runner asks whether to cancel (its default: 5)
_STATS_KEYS = ("ok", "changed", "failures", "dark", "skipped")
# Every per-host count of `playbook_on_stats` (a host with only some of them is still a host).
_STATS_EVENT_KEYS = (*_STATS_KEYS, "ignored", "rescued", "processed")


@dataclass(frozen=True)
class ObjectOutcome:
    residency: str
    role: str
    api_version: str
    kind: str
    namespace: str | None
    name: str
    action: str  # created | changed | unchanged | pruned


@dataclass(frozen=True)
class Failure:
    residency: str
    role: str
    task: str
    message: str
    object: str | None = None
    reason: str | None = None  # the module's word for it: NotOwned, Forbidden, Timeout, ...
    status: int | None = None  # the HTTP status of a failed request (0: no answer)


@dataclass(frozen=True)
class Progress:
    """One step: a role's task starting or ending for a residency; or, with `verbose`, a piece
    of Ansible's own output (`state` "output", the text in `output`)."""

    residency: str
    role: str
    task: str
    state: str  # started | ok | changed | failed | skipped | output
    output: str = ""  # Ansible's text, for state "output" only


@dataclass
class RunResult:
    status: str
    rc: int | None  # None: ansible-playbook was killed by a signal (the OOM killer, kill -9)
    objects: list[ObjectOutcome] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    diffs: list[dict[str, Any]] = field(default_factory=list)
    signal: int | None = None  # SIGINT or SIGTERM received during the run, which was cancelled
    recap: bool = False  # ansible-playbook reached its recap (the stats): it ran to its end

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0 and self.signal is None

    @property
    def unfinished(self) -> str | None:
        """Why the playbook did not run to its end (so no residency may count as applied), or
        None when it did, failed residencies included."""
        if self.signal is not None:
            return f"interrupted by {signal.Signals(self.signal).name} before the run finished"
        if self.rc is None:
            return (
                "ansible-playbook was killed by a signal before it finished (the OOM killer "
                "does this when memory runs out)"
            )
        if not self.recap:
            return f"ansible-playbook ended with rc {self.rc} before it finished ({self.status})"
        return None


def run_playbook(
    playbook: str,
    inventory: Path,
    target: Target,
    *,
    check: bool = False,
    diff: bool = False,
    verbose: int = 0,
    forks: int = 10,
    extravars: dict[str, Any] | None = None,
    on_event: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Run `playbooks/<playbook>` on `inventory` against `target`. Progress goes to `on_event`;
    with `verbose`, Ansible's own output too (as `Progress` of state "output"); nothing is
    printed."""
    result = RunResult(status="unstarted", rc=-1)

    def handle(event: dict[str, Any]) -> bool:
        _collect(event, result, diff)
        if on_event is not None:
            if verbose and event.get("stdout"):
                on_event(_output(event))
            for progress in _progress(event):
                on_event(progress)
        return False  # write no job-event file: everything needed is in `result` already

    with _private_dir() as private, _cancel_on_signal(private) as cancel:
        artifacts = private / "artifacts" / _IDENT
        with _command_in_memory(artifacts):
            runner = ansible_runner.run(
                private_data_dir=str(private),
                ident=_IDENT,
                playbook=str(paths.playbooks_dir() / playbook),
                inventory=str(inventory),
                envvars=_environment(target, private),
                cmdline=" ".join(_cmdline(check, diff, verbose, forks)),
                extravars=extravars or {},
                event_handler=handle,
                status_handler=_forget_command(artifacts),
                cancel_callback=cancel.requested,
                quiet=True,
                suppress_env_files=True,
                suppress_output_file=True,
            )
        result.status = str(runner.status)
        result.rc = runner.rc
        result.signal = cancel.signum
    return result


def _environment(target: Target, private: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    ansible_tmp = str(private / "tmp")
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_ROLES_PATH": str(paths.roles_dir()),
        # ansible-playbook dies with this process (see the plugin), its workers with it; the
        # callbacks a user enabled (profile_tasks, junit, ...) stay enabled.
        "ANSIBLE_CALLBACK_PLUGINS": _joined(
            os.pathsep, str(Path(__file__).parent / "ansible_callbacks"), "ANSIBLE_CALLBACK_PLUGINS"
        ),
        "ANSIBLE_CALLBACKS_ENABLED": _joined(
            ",", "labsctl_parent_guard", "ANSIBLE_CALLBACKS_ENABLED"
        ),
        "LABSCTL_PARENT_PID": str(os.getpid()),
        "ANSIBLE_COLLECTIONS_PATH": str(paths.playbooks_dir() / "collections"),
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        # host_vars read once, by ansible-playbook, when the inventory loads: a batched task
        # reads every residency's variables in its worker, which would otherwise load each
        # residency's file again in every task (0.1 s a residency).
        "ANSIBLE_RUN_VARS_PLUGINS": "start",
        # each residency's objects (host_vars/<residency>.objects.json) read as data by the
        # collection's vars plugin, not by Ansible's loader (bench/results/profile.md)
        "ANSIBLE_VARS_ENABLED": _joined(
            ",",
            inventory.VARS_PLUGINS,
            "ANSIBLE_VARS_ENABLED",
        ),
        "ANSIBLE_FORCE_COLOR": "false",
        "ANSIBLE_NOCOLOR": "true",
        # Module arguments (secret values among them) go to the interpreter's stdin, and what
        # Ansible still writes stays in the private directory, removed with it.
        "ANSIBLE_PIPELINING": "true",
        "ANSIBLE_LOCAL_TEMP": ansible_tmp,
        "ANSIBLE_REMOTE_TMP": ansible_tmp,
        # The cluster and identity labsctl resolved, for kubernetes.core and our modules alike.
        **target.ansible_env(private),
    }


def _joined(separator: str, ours: str, variable: str) -> str:
    """`ours`, then what the environment's `variable` already holds."""
    return separator.join(filter(None, (ours, os.environ.get(variable, ""))))


def _cmdline(check: bool, diff: bool, verbose: int, forks: int) -> list[str]:
    cmdline = ["--forks", str(forks)]
    if check:
        cmdline.append("--check")
    if diff:
        cmdline.append("--diff")
    if verbose > 1:
        cmdline.append("-" + "v" * (verbose - 1))
    return cmdline


@contextlib.contextmanager
def _private_dir() -> Iterator[Path]:
    """A 0700 directory for ansible-runner, removed on the way out of the block (every process
    still working in it stopped first) and, should the interpreter exit without leaving the
    block, at exit."""
    private = Path(tempfile.mkdtemp(prefix="labsctl-run-")).resolve()
    private.chmod(0o700)
    # ansible-runner reads its settings from this file only (a `settings` argument is dropped
    # when the file is missing): how often it asks `cancel_callback`.
    settings = private / "env" / "settings"
    settings.parent.mkdir(mode=0o700)
    settings.write_text(json.dumps({"pexpect_timeout": _CANCEL_POLL_SECONDS}))

    def remove() -> None:
        _stop_processes_in(private)
        shutil.rmtree(private, ignore_errors=True)

    atexit.register(remove)
    try:
        yield private
    finally:
        remove()
        atexit.unregister(remove)


def _stop_processes_in(directory: Path) -> None:
    """SIGKILL every process of the run in `directory`: ansible-playbook, its workers (each in a
    session of its own, so ansible-runner's `killpg` of ansible-playbook's group misses them and
    they would go on applying) and everything in their sessions: module processes and what they
    started, which work in the playbook's directory, not in ours (and are orphans once their
    worker is gone, found by their session). Linux (/proc) only."""
    sessions: set[int] = set()
    for _ in range(100):  # again, for a worker forked while we looked, or one slow to die
        pids = _processes_of_the_run(directory, sessions)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _processes_of_the_run(directory: Path, sessions: set[int]) -> list[int]:
    """The processes working in `directory` or in a session one of them leads or belongs to
    (`sessions` grows with those seen, so orphans of a worker killed earlier are found too).
    Never this process nor its own session."""
    table: dict[int, tuple[int, Path | None]] = {}  # pid: (session, cwd)
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):  # gone, or not ours
            stat = (entry / "stat").read_text()
            session = int(stat.rsplit(")", 1)[1].split()[3])
            cwd: Path | None = None
            with contextlib.suppress(OSError):  # a zombie has none
                cwd = (entry / "cwd").readlink()
            table[int(entry.name)] = (session, cwd)
    ours = os.getsid(0)
    for session, cwd in table.values():
        if cwd is not None and (cwd == directory or directory in cwd.parents) and session != ours:
            sessions.add(session)
    return [
        pid
        for pid, (session, cwd) in table.items()
        if pid != os.getpid()
        and cwd is not None  # zombies are dead already: their parent reaps them
        and (session in sessions or cwd == directory or directory in cwd.parents)
    ]


@contextlib.contextmanager
def _command_in_memory(artifacts: Path) -> Iterator[None]:
    """ansible-runner 2.4.3 always writes `artifacts/<ident>/command` with the whole environment
    of the run, secret values included, and has no option against it: make that name a link to
    an anonymous in-memory file (Linux), so the values never reach a disk."""
    artifacts.mkdir(parents=True, mode=0o700)
    if not hasattr(os, "memfd_create"):  # elsewhere `_forget_command` removes it at start
        yield
        return
    memory = os.memfd_create("labsctl-runner-command", os.MFD_CLOEXEC)
    try:
        (artifacts / "command").symlink_to(f"/proc/{os.getpid()}/fd/{memory}")
        yield
    finally:
        os.close(memory)


def _forget_command(artifacts: Path) -> Callable[..., None]:
    """A status handler removing the `command` artifact once ansible-playbook is starting."""

    def handle(data: dict[str, Any], runner_config: Any = None) -> None:
        if data.get("status") == "running":
            (artifacts / "command").unlink(missing_ok=True)

    return handle


class _Cancel:
    """The first SIGINT or SIGTERM received while the playbook runs in `private`."""

    def __init__(self, private: Path) -> None:
        self.private = private
        self.signum: int | None = None

    def note(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum

    def requested(self) -> bool:
        """ansible-runner's `cancel_callback`: True once signalled, after stopping the run's
        processes (ansible-runner then kills ansible-playbook's group, gone already)."""
        if self.signum is None:
            return False
        _stop_processes_in(self.private)
        return True


@contextlib.contextmanager
def _cancel_on_signal(private: Path) -> Iterator[_Cancel]:
    """SIGINT and SIGTERM note a cancellation for the block (in the main thread: signals are
    delivered there only), then the previous handlers are back."""
    cancel = _Cancel(private)
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return
    previous = {s: signal.signal(s, cancel.note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def _host_stats(data: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per host counts from the `playbook_on_stats` event: {host: {ok, changed, ...}}."""
    counts = {key: data.get(key) or {} for key in _STATS_EVENT_KEYS}
    hosts = {host for per_host in counts.values() for host in per_host}
    return {host: {key: int(counts[key].get(host, 0)) for key in _STATS_KEYS} for host in hosts}


def _role(event_data: dict[str, Any]) -> str:
    return str(event_data.get("role") or "playbook")


def _output(event: dict[str, Any]) -> Progress:
    data = event.get("event_data", {})
    return Progress(
        str(data.get("host", "")),
        _role(data),
        str(data.get("task", "")),
        "output",
        str(event["stdout"]),
    )


def _per_residency(host: str, res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{residency: its own result} of a task's result: a batched task of the collection holds
    them under `residencies` (plugin_utils/batch.py); any other task is its host's."""
    batched = res.get("residencies")
    if isinstance(batched, dict):
        return {str(k): v for k, v in batched.items() if isinstance(v, dict)}
    return {host: res}


def _progress(event: dict[str, Any]) -> list[Progress]:
    data = event.get("event_data", {})
    host, role, task = str(data.get("host", "")), _role(data), str(data.get("task", ""))
    states = {
        "runner_on_start": "started",
        "runner_on_failed": "failed",
        "runner_on_skipped": "skipped",
        "runner_on_unreachable": "failed",
    }
    kind = event.get("event")
    if kind == "runner_on_ok":
        progress = []
        for residency, res in _per_residency(host, data.get("res") or {}).items():
            if res.get("failed"):
                state = "failed"
            elif res.get("skipped"):
                state = "skipped"
            else:
                state = "changed" if res.get("changed") else "ok"
            progress.append(Progress(residency, role, task, state))
        return progress
    if kind in states:
        return [Progress(host, role, task, states[kind])]
    return []


def _collect(event: dict[str, Any], result: RunResult, diff: bool) -> None:
    data = event.get("event_data", {})
    res = data.get("res") or {}
    host = str(data.get("host", ""))
    if event.get("event") == "playbook_on_stats":
        result.stats = _host_stats(data)
        result.recap = True
    elif event.get("event") == "runner_on_ok":
        for residency, own in _per_residency(host, res).items():
            _collect_objects(residency, _role(data), own, result)
            if own.get("failed"):  # one residency of a batched task
                result.failures.append(_failure(residency, data, own))
        if diff and isinstance(res.get("diff"), list):
            result.diffs.extend(d for d in res["diff"] if isinstance(d, dict))
    elif event.get("event") in ("runner_on_failed", "runner_on_unreachable") and not data.get(
        "ignore_errors"
    ):
        for residency, own in _per_residency(host, res).items():
            if own is not res:  # a batched task that failed every residency
                _collect_objects(residency, _role(data), own, result)
            if own is not res and not own.get("failed"):
                continue
            if any(f.residency == residency for f in result.failures):
                continue  # failed_residencies.yml failing what a batched task reported already
            result.failures.append(_failure(residency, data, own))


def _failure(residency: str, data: dict[str, Any], res: dict[str, Any]) -> Failure:
    return Failure(
        residency,
        _role(data),
        str(data.get("task", "")),
        str(res.get("msg") or "failed").strip(),
        res.get("object"),
        res.get("reason"),
        res.get("status") if isinstance(res.get("status"), int) else None,
    )


def _collect_objects(residency: str, role: str, res: dict[str, Any], result: RunResult) -> None:
    for entry in res.get("results") or []:
        if isinstance(entry, dict) and "action" in entry and "kind" in entry:
            result.objects.append(
                ObjectOutcome(
                    residency,
                    role,
                    entry["apiVersion"],
                    entry["kind"],
                    entry.get("namespace"),
                    entry["name"],
                    entry["action"],
                )
            )
    for entry in res.get("pruned") or []:  # residency_prune's objects, deleted or to be
        if isinstance(entry, dict) and "kind" in entry:
            result.objects.append(
                ObjectOutcome(
                    residency,
                    "prune",
                    entry["apiVersion"],
                    entry["kind"],
                    entry.get("namespace"),
                    entry["name"],
                    "pruned",
                )
            )
