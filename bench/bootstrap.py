"""Bootstrap speed: labsctl's playbook next to `kubectl apply --server-side` of the same objects.

Both run in the same process run, on the same fresh local control plane (OpenShift-like flavour,
so every conditional object applies), for both examples:

- cold: a residency that does not exist yet;
- no-op: the same residency again, nothing to change.

The playbook is timed as a pipeline runs it (`ansible-playbook -i <inventory>`); kubectl gets
exactly the files of `labsctl render --format manifests`. Each figure is the median of ROUNDS
rounds (fresh residency names per round). Results go to bench/results-bootstrap.md.

    .venv/bin/python bench/bootstrap.py [ROUNDS]
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import EXAMPLES, REPO, example_as, openshift_like_cluster  # type: ignore[import-not-found]

from labsctl import load_spec, render
from labsctl.files import write_tree
from labsctl.inventory import inventory_files
from labsctl.manifests import manifest_files
from labsctl.sandbox.build import KUBERNETES_VERSION

BIN = Path(sys.executable).parent


def _timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        args, env={**os.environ, **env}, capture_output=True, text=True, cwd=REPO, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def main(rounds: int) -> None:
    with openshift_like_cluster() as (plane, binaries, work):
        env = {
            **os.environ,
            "K8S_AUTH_KUBECONFIG": str(plane.admin_kubeconfig),
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        }
        rows = []
        for example in EXAMPLES:
            times: dict[str, list[float]] = {
                k: [] for k in ("ansible cold", "ansible no-op", "kubectl cold", "kubectl no-op")
            }
            objects = 0
            for index in range(rounds):
                playbook_name, kubectl_name = f"pb{index}-{example[:5]}", f"kc{index}-{example[:5]}"
                rendering = render(load_spec(example_as(work, example, playbook_name)))
                objects = len(rendering.objects(lambda _c: True))
                inventory = write_tree(work / "inv", playbook_name, inventory_files([rendering]))
                manifests = write_tree(
                    work / "man",
                    kubectl_name,
                    manifest_files(render(load_spec(example_as(work, example, kubectl_name)))),
                )
                playbook = [
                    str(BIN / "ansible-playbook"),
                    "-i",
                    str(inventory),
                    str(REPO / "playbooks" / "bootstrap.yml"),
                ]
                kubectl = [
                    str(binaries.kubectl),
                    "--kubeconfig",
                    str(plane.admin_kubeconfig),
                    "apply",
                    "--server-side",
                    "--field-manager=bench",
                    "-f",
                    str(manifests),
                ]
                times["ansible cold"].append(_timed(playbook, env))
                times["ansible no-op"].append(_timed(playbook, env))
                times["kubectl cold"].append(_timed(kubectl, env))
                times["kubectl no-op"].append(_timed(kubectl, env))
            medians = {k: statistics.median(v) for k, v in times.items()}
            rows.append((example, objects, medians))
        _write(rows, rounds)


def _write(rows: list[tuple[str, int, dict[str, float]]], rounds: int) -> None:
    lines = [
        "# Bootstrap: labsctl playbook vs kubectl apply --server-side",
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d} by `bench/bootstrap.py {rounds}` on "
        f"{platform.machine()}, {os.cpu_count()} cores, Kubernetes {KUBERNETES_VERSION} sandbox "
        f"(OpenShift-like flavour); median of {rounds} rounds, seconds.",
        "",
        "| Example | Objects | Playbook cold | Playbook no-op | kubectl cold | kubectl no-op "
        "| Ratio cold | Ratio no-op |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for example, objects, m in rows:
        lines.append(
            f"| {example} | {objects} | {m['ansible cold']:.2f} | {m['ansible no-op']:.2f} "
            f"| {m['kubectl cold']:.2f} | {m['kubectl no-op']:.2f} "
            f"| {m['ansible cold'] / m['kubectl cold']:.1f}x "
            f"| {m['ansible no-op'] / m['kubectl no-op']:.1f}x |"
        )
    lines += [
        "",
        "The playbook's time includes `ansible-playbook` start-up, discovery, the preflight checks",
        "and one `labsctl.residency.k8s_apply` task per role; kubectl applies the same objects in",
        "one process. See docs/design.md for where the time goes.",
        "",
    ]
    out = REPO / "bench" / "results-bootstrap.md"
    out.write_text("\n".join(lines))
    print(out.read_text())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
