"""The one error tree of labsctl, each class carrying the exit code the CLI returns for it.

Library code raises these (chained to the third-party cause); only the CLI catches them, in one
place (`labsctl.cli.main`), and turns them into `error: ...` / `hint: ...` and the exit code.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any, ClassVar

# Exit codes, documented in README.md; change them only with a CHANGELOG entry.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INVALID = 2
EXIT_CLUSTER = 3
EXIT_CONFLICT = 4
EXIT_ANSIBLE = 5
EXIT_DRIFT = 6
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2, as a shell reports it
EXIT_TERMINATED = 143  # SIGTERM (a pipeline's or container runtime's stop): 128 + 15


class LabsctlError(Exception):
    """Base of every error labsctl reports to a person or a pipeline."""

    exit_code: ClassVar[int] = EXIT_INTERNAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(LabsctlError):
    """Bad flags, missing files, refused overwrites: the caller asked for something impossible."""

    exit_code = EXIT_INVALID


@dataclass(frozen=True)
class SpecProblem:
    """One problem found in one spec file, located as precisely as the YAML allows."""

    file: str
    path: str
    message: str
    line: int | None = None
    column: int | None = None
    value: Any = None
    allowed: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "value": self.value,
            "allowed": self.allowed,
        }


class SpecError(LabsctlError):
    """One or more spec files are invalid; carries every problem of every file."""

    exit_code = EXIT_INVALID

    def __init__(self, problems: list[SpecProblem], shown: bool = False) -> None:
        self.problems = problems
        self.shown = shown  # the command already printed the problems
        files = sorted({p.file for p in problems})
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"{count} {noun} in {', '.join(files)}",
            hint="fix the fields listed above; `labsctl schema` prints every allowed field",
        )


class RenderError(LabsctlError):
    """A template failed or an output path was refused."""

    exit_code = EXIT_INVALID


class ClusterError(LabsctlError):
    """The cluster is unreachable, refuses us, or lacks an API we need."""

    exit_code = EXIT_CLUSTER


class UnreachableError(ClusterError):
    """The API server could not be reached, or did not answer within the request timeout
    (`--request-timeout`) on any attempt: exit 3, as every cluster error."""


class ConflictError(LabsctlError):
    """A lock is held, or an object we would touch is not ours."""

    exit_code = EXIT_CONFLICT


class AnsibleRunError(LabsctlError):
    """The Ansible run failed."""

    exit_code = EXIT_ANSIBLE


class DriftError(LabsctlError):
    """`plan` found drift or pending change."""

    exit_code = EXIT_DRIFT


class SandboxError(LabsctlError):
    """The local control plane could not be built, started or stopped."""

    exit_code = EXIT_CLUSTER


class Interrupted(LabsctlError):
    """SIGINT stopped the run: the work was cancelled where it was, nothing pruned after it, the
    lock released. `partial` is what the command had done, for it to report (`apply` and
    `plan`: their summary)."""

    exit_code = EXIT_INTERRUPTED
    signum: ClassVar[signal.Signals] = signal.SIGINT

    def __init__(self, message: str | None = None, hint: str | None = None) -> None:
        super().__init__(
            message or f"interrupted by {self.signum.name}",
            hint or "run the same command again: it takes up where this one stopped",
        )
        self.partial: object = None


class Terminated(Interrupted):
    """SIGTERM stopped the run, as SIGINT does `Interrupted`."""

    exit_code = EXIT_TERMINATED
    signum = signal.SIGTERM


def interruption(signum: int, message: str | None = None) -> Interrupted:
    """The error for a signal that stops labsctl: SIGINT or SIGTERM."""
    error = Terminated if signum == signal.SIGTERM else Interrupted
    return error(message)
