"""The shared run of `apply`, `plan`, `freeze` and `extend`: progress, the summary, the exit code.

Each of them calls its library function with the callbacks of one `ProgressReporter` and hands
back its result: an `ApplySummary`, or for `extend` an `Extension` (the dates moved, and the
summary of applying them).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from labsctl.apply import ApplySummary
from labsctl.errors import AnsibleRunError, ClusterError, ConflictError, Interrupted
from labsctl.extend import Extension
from labsctl.output import ProgressReporter, apply_summary, emit_data, stdout

Result = TypeVar("Result", ApplySummary, Extension)
HINT = "the summary names the role and object; -v shows Ansible's output"


def run_and_report(
    run: Callable[[ProgressReporter], Result],
    output_format: str,
    *,
    failure: str,
    hint: str = HINT,
    show_diffs: bool = False,
) -> Result:
    """`run` (the library call, given the progress reporter for its `on_event` and `on_wait`)
    with live progress; print its result in the asked format, and raise the Ansible error
    (exit 5) when a residency failed. Interrupted by a signal, print what was done until then
    and let the error through (exit 130 or 143)."""
    try:
        with ProgressReporter(enabled=output_format == "table") as progress:
            result = run(progress)
    except Interrupted as exc:
        if isinstance(exc.partial, ApplySummary | Extension):
            report(exc.partial, output_format, show_diffs)
        raise
    report(result, output_format, show_diffs)
    summary = _summary(result)
    if summary is not None and not summary.ok:
        failed = ", ".join(r.name for r in summary.residencies if not r.ok)
        error = {"conflict": ConflictError, "cluster": ClusterError}.get(
            summary.failure_kind or "", AnsibleRunError
        )
        raise error(f"{failure} for {failed}", hint=hint)
    return result


def report(result: ApplySummary | Extension, output_format: str, show_diffs: bool = False) -> None:
    """The result for a person (the summary table, with the diffs of a plan) or a pipeline."""
    summary = _summary(result)
    if output_format != "table":
        data = result.report() if isinstance(result, Extension) else result.as_dict()
        emit_data(data, output_format)  # type: ignore[arg-type]
        return
    if summary is None:
        return
    if show_diffs:
        for diff in summary.diffs:
            stdout.print(f"--- {diff.get('before_header')}", markup=False, highlight=False)
            for line in _diff_lines(diff):
                stdout.print(line, markup=False, highlight=False)
    apply_summary(summary.as_dict())


def _summary(result: ApplySummary | Extension) -> ApplySummary | None:
    return result.summary if isinstance(result, Extension) else result


def _diff_lines(diff: dict[str, Any]) -> list[str]:
    before = json.dumps(diff.get("before") or {}, indent=2, sort_keys=True).splitlines()
    after = json.dumps(diff.get("after") or {}, indent=2, sort_keys=True).splitlines()
    return list(difflib.unified_diff(before, after, lineterm="", n=2))[2:]
