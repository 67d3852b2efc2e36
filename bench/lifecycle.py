"""labsctl's commands next to kubectl doing the same to the same objects, in one run.

On one fresh local control plane (OpenShift-like, so every object applies), for both examples:

| labsctl                         | kubectl                                                  |
|---------------------------------|----------------------------------------------------------|
| apply (cold)                    | apply --server-side -f <rendered manifests>              |
| apply (no-op)                   | apply --server-side again                                |
| plan (in sync)                  | diff --server-side                                       |
| teardown --yes --no-backup      | delete --wait -f <manifests> (namespaces really gone)    |

labsctl's figures include what kubectl does not do: validation, rendering, locks, discovery,
pruning scans, the unowned-object scan before teardown. Median of ROUNDS rounds; results go to
bench/results-lifecycle.md.

    .venv/bin/python bench/lifecycle.py [ROUNDS]
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time

from common import EXAMPLES, REPO, example_as, openshift_like_cluster  # type: ignore[import-not-found]

from labsctl import load_spec, render
from labsctl.files import write_tree
from labsctl.manifests import manifest_files
from labsctl.sandbox.build import KUBERNETES_VERSION

STEPS = ("apply", "apply no-op", "plan", "teardown")


def _timed(args: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    started = time.perf_counter()
    # Variables set since `env` was made (the examples' secret values) reach the run too.
    late = {k: v for k, v in os.environ.items() if k not in env and k != "KUBECONFIG"}
    done = subprocess.run(
        args, env={**late, **env}, capture_output=True, text=True, cwd=REPO, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed


def main(rounds: int) -> None:
    with openshift_like_cluster() as (plane, binaries, work):
        env = {**os.environ, "LABSCTL_KUBECONFIG": str(plane.admin_kubeconfig)}
        env.pop("KUBECONFIG", None)
        labsctl = [sys.executable, "-m", "labsctl"]
        rows = []
        for example in EXAMPLES:
            ours: dict[str, list[float]] = {s: [] for s in STEPS}
            theirs: dict[str, list[float]] = {s: [] for s in STEPS}
            for index in range(rounds):
                spec = str(example_as(work, example, f"lc{index}-{example[:5]}"))
                manifests = write_tree(
                    work / "man",
                    f"kc{index}-{example[:5]}",
                    manifest_files(
                        render(load_spec(example_as(work, example, f"kc{index}-{example[:5]}")))
                    ),
                )
                kubectl = [str(binaries.kubectl), "--kubeconfig", str(plane.admin_kubeconfig)]
                files = ["-f", str(manifests)]
                ours["apply"].append(_timed([*labsctl, "apply", spec], env))
                ours["apply no-op"].append(_timed([*labsctl, "apply", spec], env))
                ours["plan"].append(_timed([*labsctl, "plan", spec], env))
                ours["teardown"].append(
                    _timed([*labsctl, "teardown", spec, "--yes", "--no-backup"], env)
                )
                apply = [*kubectl, "apply", "--server-side", "--field-manager=bench", *files]
                theirs["apply"].append(_timed(apply, env))
                theirs["apply no-op"].append(_timed(apply, env))
                theirs["plan"].append(
                    _timed(
                        [*kubectl, "diff", "--server-side", "--field-manager=bench", *files],
                        env,
                        ok=(0, 1),
                    )
                )
                theirs["teardown"].append(
                    _timed([*kubectl, "delete", "--wait=true", "--ignore-not-found", *files], env)
                )
            rows.append(
                (
                    example,
                    {s: statistics.median(v) for s, v in ours.items()},
                    {s: statistics.median(v) for s, v in theirs.items()},
                )
            )
        _write(rows, rounds)


def _write(rows: list[tuple[str, dict[str, float], dict[str, float]]], rounds: int) -> None:
    lines = [
        "# labsctl commands next to kubectl on the same objects",
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d} by `bench/lifecycle.py {rounds}` on "
        f"{platform.machine()}, {os.cpu_count()} cores, Kubernetes {KUBERNETES_VERSION} sandbox "
        f"(OpenShift-like flavour); median of {rounds} rounds, seconds.",
        "",
        "| Example | Step | labsctl | kubectl | Ratio |",
        "|---|---|---|---|---|",
    ]
    names = {
        "apply": "apply (cold) / apply --server-side",
        "apply no-op": "apply (no-op) / apply --server-side again",
        "plan": "plan / diff --server-side",
        "teardown": "teardown / delete --wait",
    }
    for example, ours, theirs in rows:
        for step in STEPS:
            lines.append(
                f"| {example} | {names[step]} | {ours[step]:.2f} | {theirs[step]:.2f} "
                f"| {ours[step] / theirs[step]:.1f}x |"
            )
    out = REPO / "bench" / "results-lifecycle.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
