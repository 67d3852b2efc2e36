"""Where a no-op `labsctl apply` of N residencies goes, summed to its total.

Starts its own sandbox (the same as bench/fleet.py), applies N residencies of a size, then runs
the no-op apply:
- as the CLI does (`labsctl apply -o json SPEC...`), for the total wall time;
- `python -c "import labsctl.cli.app"`, for the interpreter's start and imports;
- in this process through the library (`labsctl.apply.apply`), with each of its parts timed
  (specs, rendering, inventory, cluster check, locks, the Ansible run, the record of the apply)
  and every task of the playbook timed from the progress events labsctl receives (a task's
  start to its result).
Writes a Markdown table per N to OUT/profile-<size>.md (the parts add up to the CLI's total; what
is left is the CLI's own work: argument parsing, output, interpreter exit).

    .venv/bin/python bench/profile.py [--size small] [--counts 1,50] [--out bench/results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fleet as fleetbench
import fleetlib

from labsctl.cluster import resolve_target
from labsctl.runner import Progress

RUNS = 3  # of each no-op measurement; the median is reported
# The module, not the function the package exports under the same name.
apply_module = importlib.import_module("labsctl.apply")


class Timer:
    """Wall time spent in wrapped functions of labsctl.apply, by part."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.parts[name] = self.parts.get(name, 0.0) + time.perf_counter() - started

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.part(name):
                return function(*args, **kwargs)

        return timed


class Tasks:
    """Each playbook task's wall time, from its first start event to its last result."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.order: list[str] = []

    def __call__(self, event: Progress) -> None:
        now = time.perf_counter()
        if event.state == "output":
            return
        name = f"{event.role or 'play'}: {event.task}"
        if name not in self.first:
            self.first[name] = now
            self.order.append(name)
        self.last[name] = now

    def spans(self) -> list[tuple[str, float]]:
        return [(n, self.last[n] - self.first[n]) for n in self.order]


PARTS = (
    ("load and validate the specs", "load_specs"),
    ("render", "render"),
    ("write the inventory", "inventory"),
    ("check the cluster (server version)", "version"),
    ("take the residencies' locks", "lock"),
    ("record the apply on the namespaces", "record"),
)


def library_run(specs: list[Path], kubeconfig: Path) -> tuple[float, dict[str, float], Tasks]:
    """One in-process no-op apply: its total, its parts and its tasks."""
    timer, tasks = Timer(), Tasks()
    saved = {
        name: getattr(apply_module, name)
        for name in ("load_specs", "render", "inventory_files", "residency_lock", "_record")
    }
    saved_run = apply_module.run_playbook
    saved_version = apply_module.Cluster.version
    run_started: list[float] = []

    @contextmanager
    def timed_lock(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with timer.part("lock"):
            lock = saved["residency_lock"](*args, **kwargs)
            held = lock.__enter__()
        try:
            yield held
        finally:
            with timer.part("release the locks"):
                lock.__exit__(*sys.exc_info())

    def timed_run(*args: Any, **kwargs: Any) -> Any:
        run_started.append(time.perf_counter())
        with timer.part("ansible"):
            return saved_run(*args, **kwargs)

    apply_module.load_specs = timer.wrap("load_specs", saved["load_specs"])
    apply_module.render = timer.wrap("render", saved["render"])
    apply_module.inventory_files = timer.wrap("inventory", saved["inventory_files"])
    apply_module.residency_lock = timed_lock
    apply_module._record = timer.wrap("record", saved["_record"])
    apply_module.run_playbook = timed_run
    apply_module.Cluster.version = timer.wrap("version", saved_version)  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        summary = apply_module.apply(specs, resolve_target(kubeconfig=kubeconfig), on_event=tasks)
        total = time.perf_counter() - started
    finally:
        for name, function in saved.items():
            setattr(apply_module, name, function)
        apply_module.run_playbook = saved_run
        apply_module.Cluster.version = saved_version  # type: ignore[method-assign]
    changes = [c for r in summary.residencies for c in r.changes]
    if changes or not all(r.ok for r in summary.residencies):
        raise SystemExit(f"the no-op apply was not one: {len(changes)} changes")
    if run_started and tasks.order:
        timer.parts["ansible start"] = tasks.first[tasks.order[0]] - run_started[0]
    return total, timer.parts, tasks


def imports() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import labsctl.cli.app"], check=True)
    return time.perf_counter() - started


def table(n: int, size: str, cli: list[float], runs: list[Any], import_times: list[float]) -> str:
    """One Markdown table: medians of RUNS runs of each part."""

    def med(values: Sequence[float]) -> float:
        return statistics.median(values)

    parts = [run[1] for run in runs]
    total_cli, total_lib = med(cli), med([run[0] for run in runs])
    ansible = med([p.get("ansible", 0.0) for p in parts])
    rows = [("Python start and imports (`import labsctl.cli.app`)", med(import_times))]
    for title, key in PARTS[:5]:
        rows.append((title, med([p.get(key, 0.0) for p in parts])))
    rows.append(("`ansible-playbook bootstrap.yml` (ansible-runner)", ansible))
    start = med([p.get("ansible start", 0.0) for p in parts])
    rows.append(
        ("- start: ansible-runner, ansible-playbook, the inventory, until the first task", start)
    )
    names = runs[0][2].order
    task_sum = 0.0
    for name in names:
        spent = med([dict(run[2].spans()).get(name, 0.0) for run in runs])
        task_sum += spent
        rows.append((f"- task {name}", spent))
    rows.append(
        ("- between tasks and after the last (results, the play's end)", ansible - start - task_sum)
    )
    rows.append((PARTS[5][0], med([p.get("record", 0.0) for p in parts])))
    rows.append(("release the locks", med([p.get("release the locks", 0.0) for p in parts])))
    counted = sum(value for title, value in rows if not title.startswith("- "))
    in_library = counted - rows[0][1]
    rows.append(
        ("the rest of `apply()` (clients, scratch directory, summaries)", total_lib - in_library)
    )
    rows.append(
        ("the CLI's own work (arguments, output, exit)", total_cli - rows[0][1] - total_lib)
    )
    lines = [
        f"### N={n} ({size}): no-op `labsctl apply`, {total_cli:.2f} s wall (median of {len(cli)})",
        "",
        "| Part | Wall time (s) |",
        "|---|---|",
        *(f"| {title} | {value:.3f} |" for title, value in rows),
        f"| **total** (`labsctl apply -o json`, as the CLI runs) | **{total_cli:.3f}** |",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", choices=sorted(fleetlib.EXAMPLES))
    parser.add_argument("--counts", type=lambda t: [int(x) for x in t.split(",")], default=[1, 50])
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    sections = []
    with fleetbench.sandbox() as (plane, binaries, work):
        bench = fleetbench.Bench(plane, binaries, work)
        machine = bench.machine()
        for n in args.counts:
            residencies = bench.fleet("labsctl", args.size, n, 0)
            fleetbench.log(f"N={n}: cold apply")
            bench.run(residencies, "apply")
            cli, runs, import_times = [], [], []
            for attempt in range(RUNS):
                fleetbench.log(f"N={n}: no-op apply {attempt + 1}/{RUNS}")
                cli.append(bench.run(residencies, "noop")[0].wall)
                runs.append(library_run(residencies.specs, plane.admin_kubeconfig))
                import_times.append(imports())
            sections.append(table(n, args.size, cli, runs, import_times))
            bench.run(residencies, "teardown")
            bench.clean()
    header = [
        f"# Where a no-op apply goes ({args.size} residencies)",
        "",
        f"Measured {dt.date.today()} by `bench/profile.py --size {args.size} --counts "
        f"{','.join(map(str, args.counts))}` on its own sandbox. Each part is the median of "
        f"{RUNS} runs; the library's runs are in-process (the same code the CLI calls), timed "
        "around each part, and each task from its start event to its last result as labsctl "
        "receives them. The last two rows are the CLI's total less everything above them.",
        "",
        "| Machine | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in machine.items()),
        "",
    ]
    path = args.out / f"profile-{args.size}.md"
    path.write_text("\n".join(header + sections))
    print(path.read_text())


if __name__ == "__main__":
    main(sys.argv[1:])
