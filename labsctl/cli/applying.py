"""The shared run of `apply`, `plan` and `freeze`: progress, the summary, the exit code."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from labsctl import apply as apply_api
from labsctl.cluster import Target
from labsctl.errors import AnsibleRunError, Interrupted
from labsctl.output import ProgressReporter, apply_summary, emit_data, stdout


def run_and_report(
    specs: tuple[Path, ...],
    target: Target,
    output_format: str,
    *,
    failure: str,
    show_diffs: bool = False,
    **options: Any,
) -> apply_api.ApplySummary:
    """Apply (or plan) with live progress, print the summary in the asked format, and raise
    the Ansible error (exit 5) when a residency failed. Interrupted by a signal, print what was
    done until then and let the error through (exit 130 or 143)."""
    try:
        with ProgressReporter(enabled=output_format == "table") as progress:
            summary = apply_api.apply(
                list(specs), target, on_event=progress, on_wait=progress.waiting, **options
            )
    except Interrupted as exc:
        if isinstance(exc.partial, apply_api.ApplySummary):
            _report(exc.partial, output_format, show_diffs)
        raise
    _report(summary, output_format, show_diffs)
    if not summary.ok:
        failed = ", ".join(r.name for r in summary.residencies if not r.ok)
        raise AnsibleRunError(
            f"{failure} for {failed}",
            hint="the summary names the role and object; -v shows Ansible's output",
        )
    return summary


def _report(summary: apply_api.ApplySummary, output_format: str, show_diffs: bool) -> None:
    data = summary.as_dict()
    if output_format == "table":
        if show_diffs:
            for diff in summary.diffs:
                stdout.print(f"--- {diff.get('before_header')}", markup=False, highlight=False)
                for line in _diff_lines(diff):
                    stdout.print(line, markup=False, highlight=False)
        apply_summary(data)
    else:
        emit_data(data, output_format)  # type: ignore[arg-type]


def _diff_lines(diff: dict[str, Any]) -> list[str]:
    before = json.dumps(diff.get("before") or {}, indent=2, sort_keys=True).splitlines()
    after = json.dumps(diff.get("after") or {}, indent=2, sort_keys=True).splitlines()
    return list(difflib.unified_diff(before, after, lineterm="", n=2))[2:]
