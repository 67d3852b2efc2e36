"""Where the batched tasks spend their time, from a py-spy recording of a whole `labsctl` run.

py-spy samples every process of the tree (labsctl, ansible-playbook, its worker forks) at a fixed
rate, the idle ones too; this sums the samples taken inside `BatchedAction.run` (the batched
tasks of the collection, `plugins/plugin_utils/batch.py`) by what it was doing, as seconds of
wall time of the thread that held them (the action's own thread prepares the residencies one
after another; the request threads of `_run_all` are summed over the threads). py-spy is not a
labsctl dependency; install it anywhere (`pip install py-spy`) and record, e.g. on a fleet of 50
residencies already applied (the no-op apply):

    py-spy record --subprocesses --idle -r 50 -f raw -o noop.txt -- labsctl apply -o json SPEC...
    .venv/bin/python bench/sampled.py --rate 50 noop.txt [apply.txt ...] > OUT.md
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = "BatchedAction.run "
PREPARE = "BatchedAction._arguments "
# Frames that name a cost, anywhere under ROOT (a sample may count under several).
COSTS = {
    "Jinja2 compiling templates (`Environment.compile`)": "Environment.compile ",
    "vars plugins run by `get_vars` (`get_vars_from_path`)": "get_vars_from_path ",
    "- of it loading the plugins (`PluginLoader.get`)": "PluginLoader.get ",
    "- of it parsing their documented options (`_load_config_defs`)": (
        "PluginLoader._load_config_defs "
    ),
}


def stacks(path: Path) -> Iterable[tuple[list[str], int]]:
    """(code frames without line numbers, samples) of each line of py-spy's raw output."""
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [
            re.sub(r":\d+\)$", ")", frame)
            for frame in stack.split(";")
            if not frame.startswith(("process ", "thread "))
        ]
        yield frames, int(count)


def breakdown(path: Path) -> tuple[int, Counter[str], Counter[str], Counter[str]]:
    total, children, preparing, costs = 0, Counter[str](), Counter[str](), Counter[str]()
    for frames, count in stacks(path):
        at = next((i for i, frame in enumerate(frames) if frame.startswith(ROOT)), None)
        if at is None:
            continue
        total += count
        child = frames[at + 1] if at + 1 < len(frames) else "(the action itself)"
        children[child] += count
        if child.startswith(PREPARE) and at + 2 < len(frames):
            preparing[frames[at + 2]] += count
        for title, prefix in COSTS.items():
            if any(frame.startswith(prefix) for frame in frames[at:]):
                costs[title] += count
    return total, children, preparing, costs


def table(path: Path, rate: float) -> str:
    total, children, preparing, costs = breakdown(path)
    rows = [f"### {path.name}: {total / rate:.2f} s in batched tasks ({total} samples)", ""]
    rows += ["| Inside `BatchedAction.run` | s |", "|---|---|"]
    for frame, count in children.most_common(8):
        rows.append(f"| `{frame}` | {count / rate:.2f} |")
        if frame.startswith(PREPARE):
            rows += [f"| - `{f}` | {c / rate:.2f} |" for f, c in preparing.most_common(4)]
    rows += ["", "| Anywhere under it | s |", "|---|---|"]
    rows += [f"| {title} | {costs[title] / rate:.2f} |" for title in COSTS]
    return "\n".join([*rows, ""])


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="py-spy's -r (samples/s)")
    parser.add_argument("recordings", nargs="+", type=Path)
    args = parser.parse_args(argv)
    print("\n".join(table(path, args.rate) for path in args.recordings))


if __name__ == "__main__":
    main(sys.argv[1:])
