"""Upstream validation: Tekton's and Argo CD's own Go code checks rendered manifests.

`validate(paths)` runs both validators (built on first use by `labsctl.validators.build`) over
every YAML file given and returns one result per Tekton or Argo CD object:
`{"kind", "name", "namespace", "ok", "errors", "warnings"}`. A failed check is a result, not an
exception; `ValidatorError` means a validator could not be built or run. `send_event` runs one
webhook event through Tekton Triggers' own sink against a cluster (see its docstring).

All files of one residency should go in one call: a Pipeline is checked against the Tasks and
TriggerTemplates found beside it, an Application against its AppProject.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from labsctl.errors import EXIT_INTERNAL, LabsctlError
from labsctl.sandbox.build import Progress

_TIMEOUT = 120


class ValidatorError(LabsctlError):
    """An upstream validator could not be built or did not run."""

    exit_code = EXIT_INTERNAL


def validate(paths: Iterable[Path | str], progress: Progress | None = None) -> list[dict[str, Any]]:
    """Results of the Tekton validator, then of the Argo CD validator, in input order."""
    files = [str(Path(p)) for p in paths]
    if not files:
        return []
    for name in files:
        if not Path(name).is_file():
            raise ValidatorError(f"{name} is not a file", hint="give rendered manifest files")
    # Imported here so that `python -m labsctl.validators.build` does not find itself imported.
    from labsctl.validators.build import ensure_validators  # noqa: PLC0415

    binaries = ensure_validators(progress)
    results: list[dict[str, Any]] = []
    for name in ("tekton", "argocd"):
        results.extend(_run(binaries[name], files))
    return results


def send_event(
    kubeconfig: Path | str,
    namespace: str,
    listener: str,
    body: bytes,
    headers: dict[str, str],
    *,
    context: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """One webhook event through Tekton Triggers' own EventListener sink and core interceptors,
    against the cluster of `kubeconfig`, with the identity of the listener's ServiceAccount.

    Returns `{"status", "eventID", "created", "errors", "refusals", "identity", ...}`: the sink's
    HTTP status, the PipelineRuns the event created on the cluster, the sink's errors and the
    interceptors' refusals."""
    from labsctl.validators.build import ensure_validators  # noqa: PLC0415

    binary = ensure_validators(progress)["tekton"]
    with tempfile.TemporaryDirectory(prefix="labsctl-event-") as work:
        body_file = Path(work) / "body"
        body_file.write_bytes(body)
        args = [
            str(binary),
            "event",
            f"--kubeconfig={kubeconfig}",
            f"--namespace={namespace}",
            f"--listener={listener}",
            f"--body={body_file}",
        ]
        if context:
            args.append(f"--context={context}")
        args += [f"--header={name}: {value}" for name, value in headers.items()]
        done = _call(binary, args)
    if done.returncode != 0:
        raise ValidatorError(
            f"{binary.name} event failed (exit {done.returncode}): {done.stderr.strip()}",
            hint="check the kubeconfig and that the EventListener exists",
        )
    try:
        result: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise ValidatorError(f"{binary.name} event printed something other than JSON") from exc
    return result


def _call(binary: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False, timeout=_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ValidatorError(
            f"{binary.name} did not run: {exc}",
            hint="rebuild with python -m labsctl.validators.build",
        ) from exc


def _run(binary: Path, files: list[str]) -> list[dict[str, Any]]:
    done = _call(binary, [str(binary), *files])
    if done.returncode not in (0, 1):
        raise ValidatorError(
            f"{binary.name} failed (exit {done.returncode}): {done.stderr.strip()}",
            hint="check that the files are YAML documents",
        )
    try:
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise ValidatorError(f"{binary.name} printed something other than JSON lines") from exc


__all__ = ["ValidatorError", "send_event", "validate"]
