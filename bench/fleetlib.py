"""The parts of bench/fleet.py that need no cluster: the specs of a fleet, measuring a process
tree, the arithmetic, the Markdown table, the JSON samples and the plot. No labsctl import and
no cluster (PyYAML for the specs; matplotlib imported by `write_plot` alone), so the unit tests
import it alone.

Measured per command, as the whole process tree started for it:

- wall time: `time.perf_counter()` around start and wait;
- CPU time: user + system of the tree, the delta of `getrusage(RUSAGE_CHILDREN)` around the
  wait. The kernel adds a process's times to its parent's children times when the parent waits
  for it, so every descendant that is waited for (Ansible's forks and module processes are, by
  their parents) is counted; a descendant left running or never reaped would not be;
- peak RSS: sampled, not exact. Every `interval` seconds a thread sums `VmRSS` from
  `/proc/<pid>/status` over the started process and all its descendants (found through `PPid`)
  and keeps the largest sum. A short-lived process between two samples is missed. A sample
  reads every process's status file: about 5 ms of the bench's own CPU with ~100 processes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

TOOLS = ("labsctl", "kubectl")
STEPS = ("apply", "noop", "plan", "plan-drift", "status", "teardown")
STEP_TITLES = {
    "apply": "cold apply",
    "noop": "no-op apply",
    "plan": "plan, in sync",
    "plan-drift": "plan, 1 drift per residency",
    "status": "status of the fleet",
    "teardown": "teardown",
}
PLOTTED_STEPS = ("apply", "noop", "plan")
# The two sizes: the small example as it is; the full one is the OpenShift example (four stages,
# pipelines with a push trigger, two tools and an application: about 65 objects).
EXAMPLES = {"small": "small-team", "full": "openshift-platform"}
SECRET_VALUE = "bench-value-not-a-secret"


# --- the fleet's specs ----------------------------------------------------------------------


def secret_env(residency: str, name: str) -> str:
    """The variable `<RESIDENCY>_<NAME>` a residency's spec.secrets may read."""
    return residency.upper().replace("-", "_") + "_" + name


def derive_spec(
    example: Mapping[str, Any], name: str, today: dt.date
) -> tuple[dict[str, Any], dict[str, str]]:
    """The example renamed to `name` (its groups too: they are cluster-wide; its secret variables
    named for the new residency), running from two weeks before `today` for eight weeks (so the
    residency is active whenever the bench runs, never frozen). Returns the spec and the
    environment its secrets read ({variable: bench value})."""
    data: dict[str, Any] = json.loads(json.dumps(example, default=str))  # a deep, plain copy
    old_prefix = secret_env(data["metadata"]["name"], "")
    data["metadata"]["name"] = name
    spec = data["spec"]
    for group in spec["team"].get("groups", []):
        group["name"] = f"{name}-{group['name']}"
    env = {}
    for ref in spec.get("secrets", []):
        if "env" in ref:
            ref["env"] = secret_env(name, ref["env"].removeprefix(old_prefix))
            env[ref["env"]] = SECRET_VALUE
    dates = spec["dates"]
    dates["start"] = (today - dt.timedelta(days=14)).isoformat()
    dates["end"] = (today + dt.timedelta(days=42)).isoformat()
    if "archive" in dates:
        dates["archive"] = (today + dt.timedelta(days=72)).isoformat()
    return data, env


def fill_secret_references(text: str, values: Mapping[str, str]) -> tuple[str, int]:
    """The manifests `text` with each secret reference (a Secret annotated
    `labsctl.dev/secret-from: SOURCE`) given `values[SOURCE]` under the `stringData` key its
    `labsctl.dev/secret-key` names, as labsctl's apply does; and how many were filled."""
    documents = [d for d in yaml.safe_load_all(text) if d]
    filled = 0
    for obj in documents:
        annotations = obj.get("metadata", {}).get("annotations") or {}
        source = annotations.get("labsctl.dev/secret-from")
        if obj.get("kind") == "Secret" and isinstance(source, str) and source in values:
            obj.setdefault("stringData", {})[annotations["labsctl.dev/secret-key"]] = values[source]
            filled += 1
    return yaml.safe_dump_all(documents, sort_keys=False), filled


def drift_patch(objects: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A partial ResourceQuota changing one hard limit of the residency's first quota: applied
    by another field manager, it is the one drifted object of the residency."""
    quota = next(o for o in objects if o.get("kind") == "ResourceQuota")
    key, value = next(iter(quota["spec"]["hard"].items()))
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {
            "name": quota["metadata"]["name"],
            "namespace": quota["metadata"]["namespace"],
        },
        "spec": {"hard": {key: "12345" if str(value) != "12345" else "12346"}},
    }


# --- measuring one command ------------------------------------------------------------------


def _read_status(path: Path) -> tuple[int, int] | None:
    """(PPid, VmRSS in KiB) of one /proc/<pid>/status; None when it vanished or is unreadable.
    Kernel threads and zombies have no VmRSS: 0."""
    try:
        text = path.read_text()
    except OSError:
        return None
    ppid, rss = -1, 0
    for line in text.splitlines():
        if line.startswith("PPid:"):
            ppid = int(line.split()[1])
        elif line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return (ppid, rss) if ppid >= 0 else None


def tree_rss_kib(root: int, proc: Path = Path("/proc")) -> int:
    """The summed VmRSS (KiB) of process `root` and all its descendants, read from `proc`."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    try:
        entries = list(proc.iterdir())
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.isdigit():
            continue
        read = _read_status(entry / "status")
        if read is not None:
            pid = int(entry.name)
            parents[pid], rss[pid] = read
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


class PeakRss:
    """A thread sampling the tree's RSS of `pid` every `interval` s until `stop()`; `peak_kib`."""

    def __init__(self, pid: int, interval: float = 0.05, proc: Path = Path("/proc")) -> None:
        self.pid, self.interval, self.proc = pid, interval, proc
        self.peak_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> PeakRss:
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            self.peak_kib = max(self.peak_kib, tree_rss_kib(self.pid, self.proc))
            self.samples += 1
            if self._stop.wait(self.interval):
                return

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kib


@dataclass(frozen=True)
class Measurement:
    wall: float
    cpu: float
    peak_rss_kib: int
    rc: int
    stdout: str
    stderr: str


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> Measurement:
    """Run `args` to its end and measure its process tree (see the module's docstring). Call it
    from one thread at a time: the CPU delta counts every child reaped meanwhile."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(
        list(args),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = PeakRss(process.pid).start()
    try:
        stdout, stderr = process.communicate()
    finally:
        peak = sampler.stop()
    wall = time.perf_counter() - started
    return Measurement(wall, _children_cpu() - cpu_before, peak, process.returncode, stdout, stderr)


# --- samples and their arithmetic -----------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One timed command: `tool` doing `step` to the N residencies of `size` in round `round`."""

    size: str
    step: str
    n: int
    tool: str
    round: int
    wall: float
    cpu: float
    peak_rss_kib: int
    objects: int | None = None  # objects the command applied (cold apply), when known


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        data = sorted(values)
        if not data:
            raise ValueError("no values")
        return cls(statistics.median(data), data[0], data[-1])


def group(samples: Iterable[Sample]) -> dict[tuple[str, str, int, str], list[Sample]]:
    """Samples by (size, step, N, tool), each list in round order."""
    groups: dict[tuple[str, str, int, str], list[Sample]] = {}
    for sample in sorted(samples, key=lambda s: s.round):
        groups.setdefault((sample.size, sample.step, sample.n, sample.tool), []).append(sample)
    return groups


def _seconds(spread: Spread) -> str:
    return f"{spread.median:.2f} [{spread.low:.2f}-{spread.high:.2f}]"


def _objects(samples: list[Sample]) -> str:
    counts = sorted({s.objects for s in samples if s.objects is not None})
    return "/".join(str(c) for c in counts) if counts else "-"


def markdown(samples: Sequence[Sample], machine: Mapping[str, str], command: str) -> str:
    """The results page: machine facts, then per size a row per (step, N)."""
    groups = group(samples)
    rounds = max((s.round for s in samples), default=-1) + 1
    lines = [
        "# Fleet benchmark: labsctl next to kubectl on the same objects",
        "",
        f"Measured by `{command}`; {rounds} round(s) per cell, the two tools alternating which "
        "goes first. Times are seconds for the whole fleet of N residencies: median "
        "[min-max]. Ratio = labsctl median / kubectl median. CPU = user + system of the whole "
        "process tree (waited-for descendants), divided by N. Peak RSS = the largest sum of "
        "VmRSS over the process tree, sampled every 50 ms (short-lived processes between "
        "samples are missed). Objects = what the cold apply created (labsctl: its result; "
        "kubectl: lines of its output).",
        "",
        "| Machine | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in machine.items()),
    ]
    for size in dict.fromkeys(s.size for s in samples):
        lines += [
            "",
            f"## {size}",
            "",
            "| Step | N | labsctl s | kubectl s | Ratio | CPU s/res. labsctl | "
            "CPU s/res. kubectl | Peak RSS MB labsctl | Peak RSS MB kubectl | "
            "Objects labsctl / kubectl |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        cells = sorted(
            {(step, n) for (sz, step, n, _tool) in groups if sz == size},
            key=lambda c: (STEPS.index(c[0]), c[1]),
        )
        for step, n in cells:
            ours = groups.get((size, step, n, "labsctl"), [])
            theirs = groups.get((size, step, n, "kubectl"), [])
            if not ours or not theirs:
                continue
            wall_ours = Spread.of(s.wall for s in ours)
            wall_theirs = Spread.of(s.wall for s in theirs)
            ratio = wall_ours.median / wall_theirs.median if wall_theirs.median else float("nan")
            cpu_ours = Spread.of(s.cpu for s in ours).median / n
            cpu_theirs = Spread.of(s.cpu for s in theirs).median / n
            rss_ours = Spread.of(s.peak_rss_kib for s in ours).median / 1024
            rss_theirs = Spread.of(s.peak_rss_kib for s in theirs).median / 1024
            lines.append(
                f"| {STEP_TITLES[step]} | {n} | {_seconds(wall_ours)} | {_seconds(wall_theirs)} "
                f"| {ratio:.1f}x | {cpu_ours:.2f} | {cpu_theirs:.2f} | {rss_ours:.0f} "
                f"| {rss_theirs:.0f} | {_objects(ours)} / {_objects(theirs)} |"
            )
    return "\n".join(lines) + "\n"


def write_json(path: Path, samples: Sequence[Sample], extra: Mapping[str, Any]) -> None:
    data = {**extra, "samples": [asdict(s) for s in samples]}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_samples(path: Path) -> list[Sample]:
    """The samples of a fleet.json (to redraw the table or the plot without re-measuring)."""
    return [Sample(**s) for s in json.loads(path.read_text())["samples"]]


def per_residency(
    samples: Sequence[Sample], size: str, step: str, tool: str
) -> list[tuple[int, float]]:
    """(N, median wall seconds / N) for one line of the plot, by N."""
    groups = group(samples)
    points = []
    for (sz, st, n, tl), cell in sorted(groups.items(), key=lambda item: item[0][2]):
        if (sz, st, tl) == (size, step, tool):
            points.append((n, Spread.of(s.wall for s in cell).median / n))
    return points


def write_plot(path: Path, samples: Sequence[Sample]) -> None:
    """Time per residency against N, one panel per size, a line per tool per plotted step."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib  # noqa: PLC0415 (only the plot needs it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    sizes = list(dict.fromkeys(s.size for s in samples))
    figure, axes = plt.subplots(1, max(len(sizes), 1), figsize=(6 * max(len(sizes), 1), 4.5))
    axes = list(axes) if len(sizes) > 1 else [axes]
    styles = {"labsctl": "-", "kubectl": "--"}
    markers = {"apply": "o", "noop": "s", "plan": "^"}
    colours = {"apply": "tab:blue", "noop": "tab:orange", "plan": "tab:green"}
    for axis, size in zip(axes, sizes, strict=False):
        counts: set[int] = set()
        for tool in TOOLS:
            for step in PLOTTED_STEPS:
                points = per_residency(samples, size, step, tool)
                counts.update(p[0] for p in points)
                if points:
                    axis.plot(
                        [p[0] for p in points],
                        [p[1] for p in points],
                        linestyle=styles[tool],
                        marker=markers[step],
                        color=colours[step],
                        label=f"{tool}: {STEP_TITLES[step]}",
                    )
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xticks(sorted(counts), [str(n) for n in sorted(counts)])
        axis.minorticks_off()
        axis.set_xlabel("residencies (N)")
        axis.set_ylabel("wall seconds per residency (median)")
        axis.set_title(size)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize="small")
    figure.suptitle("Wall time per residency (median / N); solid: labsctl, dashed: kubectl")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
