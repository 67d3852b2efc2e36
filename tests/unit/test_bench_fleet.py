"""The parts of bench/fleet.py that need no cluster (bench/fleetlib.py): no timing here."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _load_fleetlib() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fleetlib", REPO / "bench" / "fleetlib.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fleetlib"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


fleetlib = _load_fleetlib()


def _sample(
    step: str,
    n: int,
    tool: str,
    round_: int,
    wall: float,
    *,
    size: str = "small",
    cpu: float = 1.0,
    rss: int = 102400,
    objects: int | None = None,
) -> object:
    return fleetlib.Sample(size, step, n, tool, round_, wall, cpu, rss, objects=objects)


def _wait_for_samples(sampler: object, count: int) -> None:
    deadline = time.monotonic() + 10
    while sampler.samples < count:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the sampler stopped sampling"
        time.sleep(0.005)


def _fake_proc(root: Path, processes: dict[int, tuple[int, int | None]]) -> Path:
    """A /proc with pid -> (ppid, VmRSS KiB or None for a kernel thread), plus non-pid noise."""
    for pid, (ppid, rss) in processes.items():
        (root / str(pid)).mkdir(parents=True)
        lines = [f"Name:\tp{pid}", f"PPid:\t{ppid}"]
        if rss is not None:
            lines.append(f"VmRSS:\t{rss} kB")
        (root / str(pid) / "status").write_text("\n".join(lines) + "\n")
    (root / "self").mkdir()
    (root / "meminfo").write_text("MemTotal: 1 kB\n")
    (root / "99").mkdir()  # a process that vanished: no status file
    return root


def test_spread_is_median_min_and_max() -> None:
    spread = fleetlib.Spread.of([3.0, 1.0, 2.0, 10.0])
    assert (spread.median, spread.low, spread.high) == (2.5, 1.0, 10.0)
    assert fleetlib.Spread.of([4.0]) == fleetlib.Spread(4.0, 4.0, 4.0)


def test_spread_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        fleetlib.Spread.of([])


def test_tree_rss_sums_the_process_and_all_its_descendants_only(tmp_path: Path) -> None:
    proc = _fake_proc(
        tmp_path / "proc",
        {
            1: (0, 1000),  # init: not ours
            10: (1, 500),  # the started process
            11: (10, 300),  # ansible-playbook
            12: (11, 200),  # one of its forks
            13: (12, 50),  # a module process
            14: (10, None),  # no VmRSS (zombie)
            20: (1, 7000),  # a stranger
        },
    )
    assert fleetlib.tree_rss_kib(10, proc) == 500 + 300 + 200 + 50
    assert fleetlib.tree_rss_kib(12, proc) == 250
    assert fleetlib.tree_rss_kib(4242, proc) == 0


def test_peak_rss_sampler_keeps_the_largest_sum(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path / "proc", {10: (1, 400), 11: (10, 100)})
    sampler = fleetlib.PeakRss(10, interval=0.01, proc=proc).start()
    _wait_for_samples(sampler, 2)
    (proc / "11" / "status").write_text("PPid:\t10\nVmRSS:\t900 kB\n")
    _wait_for_samples(sampler, sampler.samples + 2)
    (proc / "11" / "status").write_text("PPid:\t10\nVmRSS:\t1 kB\n")
    assert sampler.stop() == 1300


def test_measure_counts_the_cpu_and_memory_of_grandchildren(tmp_path: Path) -> None:
    grandchild = (
        "import time; x = bytearray(64 * 1024 * 1024); sum(range(2_000_000)); time.sleep(0.3);"
        " print(time.process_time())"
    )
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}])"
    done = fleetlib.measure([sys.executable, "-c", child], dict(os.environ), tmp_path)
    assert done.rc == 0
    assert done.cpu >= float(done.stdout)  # the grandchild's own CPU time is in the tree's
    assert done.peak_rss_kib > 64 * 1024  # the grandchild's buffer, with both interpreters


def test_markdown_table_from_fixed_samples() -> None:
    samples = [
        _sample("apply", 2, "labsctl", 0, 20.0, cpu=8.0, rss=307200, objects=76),
        _sample("apply", 2, "labsctl", 1, 30.0, cpu=10.0, rss=409600, objects=76),
        _sample("apply", 2, "labsctl", 2, 22.0, cpu=9.0, rss=358400, objects=76),
        _sample("apply", 2, "kubectl", 0, 2.0, cpu=0.5, rss=51200, objects=76),
        _sample("apply", 2, "kubectl", 1, 1.0, cpu=0.4, rss=40960, objects=76),
        _sample("apply", 2, "kubectl", 2, 4.0, cpu=0.6, rss=61440, objects=76),
        _sample("teardown", 2, "labsctl", 0, 5.0),
        _sample("teardown", 2, "kubectl", 0, 10.0),
        _sample("noop", 1, "labsctl", 0, 9.0, size="full"),
        _sample("noop", 1, "kubectl", 0, 3.0, size="full"),
    ]
    page = fleetlib.markdown(samples, {"CPUs (nproc)": "2 of 2"}, "bench/fleet.py --quick")
    lines = page.splitlines()
    assert "| CPUs (nproc) | 2 of 2 |" in lines
    assert "`bench/fleet.py --quick`; 3 round(s)" in page
    small = lines.index("## small")
    full = lines.index("## full")
    assert small < full
    assert lines[small + 4] == (
        "| cold apply | 2 | 22.00 [20.00-30.00] | 2.00 [1.00-4.00] | 11.0x | 4.50 | 0.25 "
        "| 350 | 50 | 76 / 76 |"
    )
    assert lines[small + 5] == (
        "| teardown | 2 | 5.00 [5.00-5.00] | 10.00 [10.00-10.00] | 0.5x | 0.50 | 0.50 "
        "| 100 | 100 | - / - |"
    )
    assert lines[full + 4].startswith("| no-op apply | 1 | 9.00 [9.00-9.00] | 3.00 ")


def test_markdown_skips_a_cell_only_one_tool_measured() -> None:
    samples = [_sample("plan", 1, "labsctl", 0, 1.0)]
    assert "| plan, in sync |" not in fleetlib.markdown(samples, {}, "x")


def test_json_samples_read_back(tmp_path: Path) -> None:
    samples = [_sample("status", 10, "kubectl", 0, 0.5), _sample("apply", 1, "labsctl", 1, 3.0)]
    fleetlib.write_json(tmp_path / "fleet.json", samples, {"machine": {"Python": "3.11"}})
    assert fleetlib.read_samples(tmp_path / "fleet.json") == samples
    assert json.loads((tmp_path / "fleet.json").read_text())["machine"] == {"Python": "3.11"}


def test_time_per_residency_is_the_median_divided_by_n() -> None:
    samples = [
        _sample("plan", 10, "labsctl", 0, 30.0),
        _sample("plan", 10, "labsctl", 1, 20.0),
        _sample("plan", 1, "labsctl", 0, 4.0),
        _sample("plan", 10, "kubectl", 0, 1.0),
    ]
    assert fleetlib.per_residency(samples, "small", "plan", "labsctl") == [(1, 4.0), (10, 2.5)]


def test_plot_is_written_as_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    samples = [
        _sample(step, n, tool, 0, float(n))
        for step in ("apply", "noop", "plan")
        for n in (1, 2)
        for tool in ("labsctl", "kubectl")
    ]
    fleetlib.write_plot(tmp_path / "fleet.png", samples)
    assert (tmp_path / "fleet.png").read_bytes().startswith(b"\x89PNG")


def test_derived_spec_renames_groups_and_secret_variables_and_stays_active() -> None:
    example = yaml.safe_load((REPO / "examples" / "openshift-platform.yaml").read_text())
    today = dt.date(2031, 5, 1)
    data, env = fleetlib.derive_spec(example, "bl-f10r0-3", today)
    assert data["metadata"]["name"] == "bl-f10r0-3"
    assert [g["name"] for g in data["spec"]["team"]["groups"]] == [
        "bl-f10r0-3-mobile-banking-engineers",
        "bl-f10r0-3-mobile-banking-leads",
    ]
    assert env == {
        "BL_F10R0_3_GIT_TOKEN": fleetlib.SECRET_VALUE,
        "BL_F10R0_3_WEBHOOK_SECRET": fleetlib.SECRET_VALUE,
    }
    assert [r["env"] for r in data["spec"]["secrets"]] == list(env)
    assert data["spec"]["dates"] == {
        "start": "2031-04-17",
        "end": "2031-06-12",
        "archive": "2031-07-12",
    }
    assert example["metadata"]["name"] == "mobile-banking"  # the example itself is untouched


def test_secret_references_get_the_value_under_their_key() -> None:
    text = (
        "# header\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: git\n  annotations:\n"
        "    labsctl.dev/secret-from: git-token\n    labsctl.dev/secret-key: password\n"
        "stringData:\n  username: git\n---\napiVersion: v1\nkind: Secret\nmetadata:\n"
        "  name: other\n  annotations:\n    labsctl.dev/secret-from: unknown\n"
        "    labsctl.dev/secret-key: token\n"
    )
    filled, count = fleetlib.fill_secret_references(text, {"git-token": "v"})
    documents = list(yaml.safe_load_all(filled))
    assert count == 1
    assert documents[0]["stringData"] == {"username": "git", "password": "v"}
    assert "stringData" not in documents[1]


def test_drift_patch_changes_one_hard_limit_of_the_first_quota() -> None:
    objects = [
        {"kind": "Namespace", "metadata": {"name": "a-dev"}},
        {
            "kind": "ResourceQuota",
            "metadata": {"name": "q", "namespace": "a-dev"},
            "spec": {"hard": {"pods": "12345", "cpu": "2"}},
        },
        {"kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "a-test"}, "spec": {}},
    ]
    patch = fleetlib.drift_patch(objects)
    assert patch["metadata"] == {"name": "q", "namespace": "a-dev"}
    assert patch["spec"] == {"hard": {"pods": "12346"}}


def _load_fleet() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fleet", REPO / "bench" / "fleet.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fleet"] = module  # its dataclasses too
    spec.loader.exec_module(module)
    return module


def test_counts_for_one_size_replace_the_counts_of_that_size_only() -> None:
    fleet = _load_fleet()
    args = fleet.parse(["--counts", "1,10,50", "--counts-for", "full=1,10"])
    assert args.counts == [1, 10, 50]
    assert args.counts_for == {"full": [1, 10]}
    with pytest.raises(SystemExit):
        fleet.parse(["--counts-for", "huge=1"])
    with pytest.raises(SystemExit):
        fleet.parse(["--counts-for", "full=ten"])
