"""bench/sampled.py: a py-spy raw recording summed inside the batched actions (no cluster)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def _load_sampled() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sampled", REPO / "bench" / "sampled.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sampled = _load_sampled()

WORKER = 'process 1:"labsctl";process 2:"ansible-playbook";process 3:"ansible-playbook";thread 7'
RECORDING = "\n".join(
    [
        f"{WORKER};main (x.py:1);BatchedAction.run (batch.py:90);"
        "BatchedAction._arguments (batch.py:131);template_data (batch.py:300);"
        "Environment.compile (jinja2/environment.py:760) 30",
        f"{WORKER};main (x.py:1);BatchedAction.run (batch.py:91);"
        "BatchedAction._arguments (batch.py:135);BatchedAction._role_problems (batch.py:150) 20",
        f"{WORKER};main (x.py:1);BatchedAction.run (batch.py:95);"
        "BatchedAction._variables_of (batch.py:110);get_vars_from_path (plugins.py:99);"
        "PluginLoader.get (loader.py:1) 10",
        f"{WORKER};main (x.py:1);BatchedAction.run (batch.py:99) 5",
        'process 1:"labsctl";main (cli.py:3);select (selectors.py:1) 400',
    ]
)


def test_only_samples_inside_batched_actions_are_counted_by_what_they_do(tmp_path: Path) -> None:
    path = tmp_path / "noop.txt"
    path.write_text(RECORDING + "\n")
    total, children, preparing, costs = sampled.breakdown(path)
    assert total == 65
    assert children == {
        "BatchedAction._arguments (batch.py)": 50,
        "BatchedAction._variables_of (batch.py)": 10,
        "(the action itself)": 5,
    }
    assert preparing == {
        "template_data (batch.py)": 30,
        "BatchedAction._role_problems (batch.py)": 20,
    }
    assert costs["Jinja2 compiling templates (`Environment.compile`)"] == 30
    assert costs["- of it loading the plugins (`PluginLoader.get`)"] == 10


def test_the_table_gives_seconds_at_the_recordings_rate(tmp_path: Path) -> None:
    path = tmp_path / "noop.txt"
    path.write_text(RECORDING + "\n")
    table = sampled.table(path, rate=10.0)
    assert "### noop.txt: 6.50 s in batched tasks (65 samples)" in table
    assert "| - `template_data (batch.py)` | 3.00 |" in table
    assert "| `BatchedAction._variables_of (batch.py)` | 1.00 |" in table
