"""Fleet benchmark: labsctl next to kubectl doing the same to the same N residencies.

Starts its own local control plane (OpenShift-like flavour, so every object applies) and, for
each size (`small`: examples/small-team.yaml; `full`: examples/openshift-platform.yaml, four
stages, pipelines, two tools) and each N, runs ROUNDS rounds of these steps, each step once by
labsctl and once by kubectl (which goes first alternates between rounds):

| step       | labsctl (residencies bl-*)              | kubectl (residencies bk-*)                |
|------------|-----------------------------------------|-------------------------------------------|
| apply      | apply SPEC...  (cold)                   | apply --server-side -R -f <manifests>     |
| noop       | apply SPEC...  again                    | the same again                            |
| plan       | plan SPEC...   (exit 0)                 | diff --server-side -R -f (exit 0)         |
| plan-drift | plan SPEC...   (exit 6)                 | diff --server-side -R -f (exit 1)         |
| status     | status --all                            | get namespaces,resourcequotas -A -l ...   |
| teardown   | teardown --yes --no-backup NAME...      | delete --wait -R -f <manifests>           |

kubectl gets `labsctl render --format manifests` of its own residencies, with the secret
references filled with the values labsctl's apply writes (so both apply the same objects; the
cold apply's object counts are reported for both). Before `plan-drift` one quota limit per
residency is changed by another field manager, on both sides. Everything is torn down at the end
of each round. What is measured, and how: bench/fleetlib.py.

    .venv/bin/python bench/fleet.py [--sizes small,full] [--counts 1,10,50]
        [--counts-for SIZE=N,N]... [--rounds 3]
        [--steps apply,noop,plan,plan-drift,status,teardown] [--out bench/results] [--quick]

Results: OUT/fleet.md (tables), OUT/fleet.json (every sample), OUT/fleet.png (time per
residency against N), rewritten after every round. `--quick` (N=1,2, one round) is a smoke check.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import fleetlib
import yaml
from fleetlib import EXAMPLES, STEP_TITLES, STEPS, TOOLS, Measurement, Sample

import labsctl
from labsctl import load_spec, render
from labsctl.api import render_spec
from labsctl.sandbox.build import KUBERNETES_VERSION, Binaries, ensure_binaries
from labsctl.sandbox.controlplane import ControlPlane
from labsctl.sandbox.service import install_flavour

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FIELD_MANAGER = "kubectl-bench"
DRIFT_MANAGER = "bench-drift"
SELECTOR = "app.kubernetes.io/managed-by=labsctl"
# What a residency owns (not labsctl-system, labsctl's own namespace for its locks).
RESIDENCY_SELECTOR = f"{SELECTOR},labsctl.dev/residency"
LEFTOVER_KINDS = (
    "namespaces,groups.user.openshift.io,clusterroles,clusterrolebindings,"
    "appprojects.argoproj.io,applications.argoproj.io,secrets"
)
# The namespace controller unthrottled (the sandbox's defaults suit a test machine: 4 namespaces
# at a time, 20 requests a second; deleting a namespace lists and deletes every namespaced kind
# the cluster serves, about 60 here), so that teardown measures the tools and the API server,
# not the controller's client rate limit; the same for both tools.
CONTROLLER_ARGS = (
    "--concurrent-namespace-syncs=20",
    "--kube-api-qps=1000",
    "--kube-api-burst=2000",
)
# What each step of each tool must exit with; anything else stops the bench with its output.
EXPECTED_RC = {"plan-drift": {"labsctl": 6, "kubectl": 1}}


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


@dataclass
class Fleet:
    """The N residencies of one tool in one round: spec files or a manifests tree."""

    tool: str
    names: list[str]
    specs: list[Path]
    manifests: Path
    drift: Path
    env: dict[str, str]


class Bench:
    def __init__(self, plane: ControlPlane, binaries: Binaries, work: Path) -> None:
        self.plane, self.binaries, self.work = plane, binaries, work
        self.env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        self.env["LABSCTL_KUBECONFIG"] = str(plane.admin_kubeconfig)
        self.env["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        script = BIN / "labsctl"
        self.labsctl = [str(script)] if script.exists() else [sys.executable, "-m", "labsctl"]
        self.kubectl = [str(binaries.kubectl), "--kubeconfig", str(plane.admin_kubeconfig)]
        self.today = dt.date.today()
        self.examples = {
            size: yaml.safe_load((REPO / "examples" / f"{example}.yaml").read_text())
            for size, example in EXAMPLES.items()
        }

    # --- preparing a fleet (not timed) --------------------------------------------------

    def fleet(self, tool: str, size: str, n: int, round_: int) -> Fleet:
        prefix = "bl" if tool == "labsctl" else "bk"
        tag = f"{prefix}-{size[0]}{n}r{round_}"
        base = self.work / tag
        shutil.rmtree(base, ignore_errors=True)
        (base / "specs").mkdir(parents=True)
        names, specs, env, drift = [], [], {}, []
        for index in range(n):
            name = f"{tag}-{index}"
            data, secrets = fleetlib.derive_spec(self.examples[size], name, self.today)
            path = base / "specs" / f"{name}.yaml"
            path.write_text(yaml.safe_dump(data, sort_keys=False))
            names.append(name)
            specs.append(path)
            env.update(secrets)
            os.environ.update(secrets)  # the in-process rendering below reads them too
            drift.append(fleetlib.drift_patch(render(load_spec(path)).objects(lambda _c: True)))
            if tool == "kubectl":
                directory = render_spec(path, base / "manifests", "manifests").directory
                values = {
                    ref["name"]: secrets[ref["env"]] for ref in data["spec"].get("secrets", [])
                }
                for file in sorted(directory.glob("*-secrets.yaml")):
                    text, filled = fleetlib.fill_secret_references(file.read_text(), values)
                    if filled != file.read_text().count("labsctl.dev/secret-from:"):
                        raise SystemExit(f"{file}: a secret reference without a bench value")
                    file.write_text(text)
        (base / "manifests").mkdir(exist_ok=True)
        drift_file = base / "drift.yaml"
        drift_file.write_text(yaml.safe_dump_all(drift, sort_keys=False))
        return Fleet(tool, names, specs, base / "manifests", drift_file, env)

    # --- one step of one tool (timed) ----------------------------------------------------

    def command(self, fleet: Fleet, step: str) -> list[str]:
        specs = [str(p) for p in fleet.specs]
        files = ["-R", "-f", str(fleet.manifests)]
        if fleet.tool == "labsctl":
            return {
                "apply": [*self.labsctl, "apply", "-o", "json", *specs],
                "noop": [*self.labsctl, "apply", "-o", "json", *specs],
                "plan": [*self.labsctl, "plan", "-o", "json", *specs],
                "plan-drift": [*self.labsctl, "plan", "-o", "json", *specs],
                "status": [*self.labsctl, "status", "--all", "-o", "json"],
                "teardown": [*self.labsctl, "teardown", "--yes", "--no-backup", *fleet.names],
            }[step]
        apply = [*self.kubectl, "apply", "--server-side", f"--field-manager={FIELD_MANAGER}"]
        diff = [*self.kubectl, "diff", "--server-side", f"--field-manager={FIELD_MANAGER}"]
        return {
            "apply": [*apply, *files],
            "noop": [*apply, *files],
            "plan": [*diff, "--force-conflicts", *files],
            "plan-drift": [*diff, "--force-conflicts", *files],
            "status": [
                *self.kubectl,
                "get",
                "namespaces,resourcequotas",
                "-A",
                "-l",
                SELECTOR,
                "-o",
                "json",
            ],
            "teardown": [*self.kubectl, "delete", "--wait=true", "--ignore-not-found", *files],
        }[step]

    def run(self, fleet: Fleet, step: str) -> tuple[Measurement, int | None]:
        args = self.command(fleet, step)
        done = fleetlib.measure(args, {**self.env, **fleet.env}, self.work)
        expected = EXPECTED_RC.get(step, {}).get(fleet.tool, 0)
        if done.rc != expected:
            raise SystemExit(
                f"{fleet.tool} {STEP_TITLES[step]} exited {done.rc}, expected {expected}:\n"
                f"$ {' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done, self._check(fleet, step, done)

    def _check(self, fleet: Fleet, step: str, done: Measurement) -> int | None:
        """What the step did, checked where it says so; the number of objects a cold apply
        created. A step that did not do its job stops the bench."""
        if fleet.tool == "kubectl":
            lines = [line for line in done.stdout.splitlines() if line.strip()]
            if step == "noop" and any(not line.endswith(" serverside-applied") for line in lines):
                log(f"warning: kubectl no-op apply reported: {lines[:3]}")
            if step == "plan-drift" and "12345" not in done.stdout:
                raise SystemExit(f"kubectl diff did not show the drift:\n{done.stdout[-2000:]}")
            return len(lines) if step == "apply" else None
        if step == "status":
            found = {r["name"] for r in json.loads(done.stdout)["residencies"]}
            missing = set(fleet.names) - found
            if missing:
                raise SystemExit(f"labsctl status --all misses {sorted(missing)[:5]}")
            return None
        if step == "teardown":
            return None
        result = json.loads(done.stdout)
        counts = [r["counts"] for r in result["residencies"]]
        changes = [c for r in result["residencies"] for c in r["changes"]]
        if step == "noop" and changes:
            shown = ", ".join(
                f"{c['action']} {c['kind']} {c['namespace'] or ''}/{c['name']}" for c in changes
            )
            log(f"warning: labsctl no-op apply changed {len(changes)} objects: {shown[:600]}")
        if step == "plan-drift":
            changed = sum(c["changed"] for c in counts)
            if changed < len(fleet.names):
                raise SystemExit(f"labsctl plan found {changed} drifted objects, not {len(counts)}")
        return sum(c["created"] for c in counts) if step == "apply" else None

    # --- not timed ------------------------------------------------------------------------

    def kubectl_quiet(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            [*self.kubectl, *args], env=self.env, capture_output=True, text=True, check=False
        )
        if check and done.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed:\n{done.stderr[-2000:]}")
        return done.stdout

    def drift(self, fleet: Fleet) -> None:
        self.kubectl_quiet(
            "apply",
            "--server-side",
            f"--field-manager={DRIFT_MANAGER}",
            "--force-conflicts",
            "-f",
            str(fleet.drift),
        )

    def leftovers(self) -> list[str]:
        """Everything of a residency still on the cluster, as kind/name."""
        return self.kubectl_quiet(
            "get", LEFTOVER_KINDS, "-A", "-l", RESIDENCY_SELECTOR, "-o", "name"
        ).split()

    def clean(self) -> None:
        """Delete what a round left (teardown leaves nothing; a bench run that measured no
        teardown may): the next round starts on an empty cluster."""
        left = self.leftovers()
        if left:
            log(f"the round left {len(left)} objects, deleting them: {' '.join(left[:8])}")
            self.kubectl_quiet(
                "delete",
                LEFTOVER_KINDS,
                "-A",
                "-l",
                RESIDENCY_SELECTOR,
                "--wait=true",
                check=False,
            )

    # --- one round -------------------------------------------------------------------------

    def round(
        self, size: str, n: int, round_: int, order: Sequence[str], steps: Sequence[str]
    ) -> list[Sample]:
        fleets = {tool: self.fleet(tool, size, n, round_) for tool in TOOLS}
        samples = []
        for step in STEPS:
            if step not in steps and step not in ("apply", "teardown"):
                continue  # apply and teardown always run: the round needs them
            if step == "plan-drift":
                for tool in order:
                    self.drift(fleets[tool])
            for tool in order:
                done, objects = self.run(fleets[tool], step)
                log(
                    f"{size} N={n} round {round_ + 1}: {tool:7} {STEP_TITLES[step]:28} "
                    f"{done.wall:7.2f} s  CPU {done.cpu:7.2f} s  "
                    f"RSS {done.peak_rss_kib / 1024:6.0f} MB"
                    + (f"  {objects} objects" if objects is not None else "")
                )
                if step in steps:
                    samples.append(
                        Sample(
                            size,
                            step,
                            n,
                            tool,
                            round_,
                            done.wall,
                            done.cpu,
                            done.peak_rss_kib,
                            objects=objects,
                        )
                    )
        self.clean()
        return samples

    # --- the machine -------------------------------------------------------------------------

    def machine(self) -> dict[str, str]:
        versions = json.loads(self.kubectl_quiet("version", "-o", "json"))
        return {
            "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
            "CPUs (nproc)": f"{len(os.sched_getaffinity(0))} of {os.cpu_count()}",
            "CPU model": _cpuinfo("model name"),
            "memory": _meminfo(),
            "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
            "Python": platform.python_version(),
            "labsctl": f"{labsctl.__version__} ({_git_revision()})",
            "ansible-core": importlib.metadata.version("ansible-core"),
            "kubernetes.core": _collection_version("kubernetes", "core"),
            "Kubernetes (sandbox, OpenShift-like)": versions["serverVersion"]["gitVersion"],
            "kubectl": versions["clientVersion"]["gitVersion"],
            "kube-controller-manager flags added": " ".join(CONTROLLER_ARGS),
            "LABSCTL_BATCH_CONCURRENCY": os.environ.get("LABSCTL_BATCH_CONCURRENCY", "8"),
        }


def _cpuinfo(key: str) -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith(key):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _meminfo() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _git_revision() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "no git"


def _collection_version(namespace: str, name: str) -> str:
    spec = importlib.util.find_spec("ansible_collections")
    for location in (spec.submodule_search_locations or []) if spec else []:
        manifest = Path(location) / namespace / name / "MANIFEST.json"
        if manifest.exists():
            return str(json.loads(manifest.read_text())["collection_info"]["version"])
    return "unknown"


@contextmanager
def sandbox() -> Iterator[tuple[ControlPlane, Binaries, Path]]:
    binaries = ensure_binaries()
    work = Path(tempfile.mkdtemp(prefix="labsctl-fleet-"))
    plane = ControlPlane(
        work / "cp", "openshift", binaries=binaries, controller_args=CONTROLLER_ARGS
    )
    log(f"starting the {KUBERNETES_VERSION} sandbox in {work}")
    plane.start()
    try:
        install_flavour(plane, binaries)
        yield plane, binaries, work
    finally:
        plane.stop()
        shutil.rmtree(work, ignore_errors=True)


def _list(text: str, allowed: Sequence[str] | None = None) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    bad = [item for item in items if allowed is not None and item not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(
            f"{', '.join(bad)}: choose from {', '.join(allowed or [])}"
        )
    return items


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=lambda t: _list(t, list(EXAMPLES)), default=list(EXAMPLES))
    parser.add_argument(
        "--counts", type=lambda t: [int(x) for x in _list(t)], default=[1, 10, 50], help="N values"
    )
    parser.add_argument(
        "--counts-for",
        action="append",
        default=[],
        type=_size_counts,
        metavar="SIZE=N,N",
        help="N values for one size instead of --counts (repeatable), e.g. full=1,10",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=lambda t: _list(t, STEPS), default=list(STEPS))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--quick", action="store_true", help="N=1,2 and one round: a smoke check")
    args = parser.parse_args(argv)
    if args.quick:
        args.counts, args.rounds, args.counts_for = [1, 2], 1, []
    args.counts_for = dict(args.counts_for)
    every = [args.counts, *args.counts_for.values()]
    if args.rounds < 1 or any(n < 1 for counts in every for n in counts):
        parser.error("--rounds and --counts must be at least 1")
    return args


def _size_counts(text: str) -> tuple[str, list[int]]:
    size, sep, counts = text.partition("=")
    if not sep or size.strip() not in EXAMPLES:
        raise argparse.ArgumentTypeError(
            f"{text}: write SIZE=N,N with SIZE one of {', '.join(EXAMPLES)}"
        )
    try:
        return size.strip(), [int(x) for x in _list(counts)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: the N values are whole numbers") from None


def main(argv: Sequence[str]) -> None:
    args = parse(argv)
    command = "bench/fleet.py " + " ".join(argv) if argv else "bench/fleet.py"
    args.out.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []
    started = time.monotonic()
    with sandbox() as (plane, binaries, work):
        bench = Bench(plane, binaries, work)
        machine = bench.machine()
        turn = 0
        for size in args.sizes:
            for n in args.counts_for.get(size, args.counts):
                for round_ in range(args.rounds):
                    order = TOOLS if turn % 2 == 0 else TOOLS[::-1]
                    turn += 1
                    log(f"{size} N={n} round {round_ + 1}/{args.rounds}: {' then '.join(order)}")
                    samples += bench.round(size, n, round_, order, args.steps)
                    write(args.out, samples, machine, command, args)
    log(f"done in {(time.monotonic() - started) / 60:.1f} min: {args.out / 'fleet.md'}")
    print((args.out / "fleet.md").read_text())


def write(
    out: Path,
    samples: list[Sample],
    machine: dict[str, str],
    command: str,
    args: argparse.Namespace,
) -> None:
    (out / "fleet.md").write_text(fleetlib.markdown(samples, machine, command))
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    fleetlib.write_json(out / "fleet.json", samples, {"machine": machine, "options": options})
    fleetlib.write_plot(out / "fleet.png", samples)


if __name__ == "__main__":
    main(sys.argv[1:])
