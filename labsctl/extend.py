"""`extend`: move a residency's end (and archive) date in its spec file, touching nothing else,
then apply the new dates.

The dates are replaced in the text at the character positions the YAML parser reports, so
comments, quotes, order, indentation and line endings stay exactly as written: in a GitOps flow
the diff is the dates alone. A spec given through a symbolic link is edited where the link
points, and the link stays.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode

from labsctl.apply import ApplySummary, apply
from labsctl.cluster import Target
from labsctl.errors import Interrupted, LabsctlError, SpecError, UsageError
from labsctl.files import kind_of, write_file
from labsctl.render import render
from labsctl.runner import Progress
from labsctl.validation import load_spec, parse_spec
from labsctl.yamlsource import YamlSourceError, load_yaml_mapping

_DATE = re.compile(r"""(["']?)(\d{4}-\d{2}-\d{2})\1""")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_DIRECTLY = "write them directly under spec.dates to use extend"


@dataclass(frozen=True)
class Extension:
    """The dates moved in the file and, when they were applied, the apply's summary."""

    path: Path
    old_end: dt.date
    new_end: dt.date
    old_archive: dt.date
    new_archive: dt.date
    summary: ApplySummary | None = None  # None: the new dates were not applied

    @property
    def ok(self) -> bool:
        return self.summary is None or self.summary.ok

    def as_dict(self) -> dict[str, str]:
        """The dates, old and new."""
        return {
            "file": str(self.path),
            "oldEnd": self.old_end.isoformat(),
            "newEnd": self.new_end.isoformat(),
            "oldArchive": self.old_archive.isoformat(),
            "newArchive": self.new_archive.isoformat(),
        }

    def report(self) -> dict[str, Any]:
        """`extend -o json`: the dates, and the apply's result when they were applied."""
        data: dict[str, Any] = {"extension": self.as_dict()}
        if self.summary is not None:
            data["apply"] = self.summary.as_dict()
        return data

    def describe(self) -> str:
        return (
            f"{self.path}: end {self.old_end} -> {self.new_end}, "
            f"archive {self.old_archive} -> {self.new_archive}"
        )


def extend(
    path: Path | str,
    until: dt.date,
    archive: dt.date | None = None,
    *,
    target: Target | None = None,
    templates: Path | None = None,
    lock_timeout: float = 60.0,
    verbose: int = 0,
    on_progress: Callable[[str], None] | None = None,
    on_event: Callable[[Progress], None] | None = None,
    on_wait: Callable[[str, str], None] | None = None,
) -> Extension:
    """Move the residency's end (and archive) date in its spec file, then, given a `target`,
    apply it there (which unfreezes a frozen residency). The file changes only when the spec,
    and with a target its templates, are valid. The change is told to `on_progress` before the
    apply starts, whose progress goes to `on_event`; a failed apply is a result
    (`Extension.ok`), the file keeping the new dates. An apply refused before its Ansible run
    started (unreachable, forbidden, the lock held) changed nothing on the cluster: the file
    gets its old text back and the error is raised. Interrupted during the Ansible run, the
    `Interrupted` error's `partial` is the Extension with what had been applied."""
    path = Path(path)
    if target is not None:
        render(load_spec(path), templates)  # a template problem stops us before the file changes
    before = _editable(path).read_bytes()
    extension = extend_dates(path, until, archive)
    if on_progress is not None:
        on_progress(extension.describe())
    if target is None:
        return extension
    started: list[bool] = []

    def events(progress: Progress) -> None:
        started.append(True)
        if on_event is not None:
            on_event(progress)

    try:
        summary = apply(
            [path],
            target,
            lock_timeout=lock_timeout,
            templates=templates,
            verbose=verbose,
            on_event=events,
            on_wait=on_wait,
        )
    except LabsctlError as exc:
        if not started:  # interrupted or refused before the run: nothing changed, nor will
            _put_back(path, before)
        elif isinstance(exc, Interrupted) and isinstance(exc.partial, ApplySummary):
            exc.partial = dataclasses.replace(extension, summary=exc.partial)
        raise
    return dataclasses.replace(extension, summary=summary)


def _put_back(path: Path, text: bytes) -> None:
    """The spec file's text before extend, written back."""
    _rewrite(_editable(path), text)


def _rewrite(real: Path, data: bytes) -> None:
    """Replace the file atomically, keeping its mode and owner."""
    st = real.stat()
    write_file(
        real,
        data,
        replace=True,
        mode=stat.S_IMODE(st.st_mode),
        owner=(st.st_uid, st.st_gid),
        error=UsageError,
    )


def extend_dates(path: Path, until: dt.date, archive: dt.date | None = None) -> Extension:
    """Set `dates.end` to `until` (and `dates.archive`, when the spec sets one, by the same
    number of days, or to `archive`) in the file alone; validates before and after; writes
    atomically."""
    real = _editable(path)
    residency = load_spec(path)
    dates = residency.spec.dates
    if until < dates.start:
        raise UsageError(f"--until {until} is before the residency's start {dates.start}")
    if archive is not None and archive < until:
        raise UsageError(f"--archive {archive} is before the new end {until}")
    try:
        old_archive = dates.archive_date
        new_archive = archive or (until + (old_archive - dates.end))
    except OverflowError:
        raise UsageError(
            f"--until {until} would move the archive date past {dt.date.max}",
            hint="choose an earlier --until, or give --archive",
        ) from None
    edits = {"end": (dates.end, until)}
    if dates.archive is not None or archive is not None:
        if dates.archive is None:
            raise UsageError(
                "the spec sets no dates.archive; it follows end by gracePeriodDays",
                hint="leave out --archive, or add dates.archive to the spec first",
            )
        edits["archive"] = (dates.archive, new_archive)
    try:
        text = real.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    new_text = _edited(path, text, edits)
    _check_edit(path, new_text, until, new_archive)
    _rewrite(real, new_text.encode("utf-8"))
    return Extension(path, dates.end, until, old_archive, new_archive)


def _editable(path: Path) -> Path:
    """The file `path` is or links to, when it is a regular file extend may rewrite."""
    try:
        real = path.resolve(strict=True)
        st = real.stat()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop
        raise UsageError(f"cannot open {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    name = f"{path} (a link to {real})" if path.is_symlink() else str(path)
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(
            f"{name} is not a regular file (it is {kind_of(st.st_mode)})",
            hint="give extend the spec file itself",
        )
    if not st.st_mode & 0o222 or not os.access(real, os.W_OK):
        state = "read-only" if not st.st_mode & 0o222 else "not writable by you"
        raise UsageError(
            f"{name} is {state} (mode {stat.S_IMODE(st.st_mode):04o})",
            hint="make it writable (chmod u+w) if the dates may change, then run extend again",
        )
    if not os.access(real.parent, os.W_OK | os.X_OK):
        raise UsageError(
            f"cannot rewrite {name}: its directory {real.parent} is not writable",
            hint="extend writes the new file next to the old one and renames it over",
        )
    return real


def _edited(path: Path, text: str, edits: dict[str, tuple[dt.date, dt.date]]) -> str:
    """`text` with each `dates.<key>` replaced, character for character, and nothing else."""
    try:
        root = YAML(typ="rt", pure=True).compose(text)
    except YAMLError as exc:
        raise UsageError(f"cannot read {path} as YAML: {exc}") from exc
    dates = _entry(path, _entry(path, root, "spec", ""), "dates", "spec")
    spans = []
    for key, (old, new) in edits.items():
        node = _entry(path, dates, key, "spec.dates")
        line = node.start_mark.line + 1
        start, end = node.start_mark.index, node.end_mark.index
        match = _DATE.fullmatch(text, start, end) if isinstance(node, ScalarNode) else None
        if match is None:
            raise UsageError(
                f"{path}:{line}: dates.{key} is not written as YYYY-MM-DD",
                hint="write the date plainly, then run extend again",
            )
        if match.group(2) != old.isoformat():
            raise UsageError(f"{path}:{line}: dates.{key} is not where extend looked for it")
        spans.append((match.start(2), match.end(2), new.isoformat()))
    for start, end, value in sorted(spans, reverse=True):
        text = text[:start] + value + text[end:]
    return text


def _entry(path: Path, mapping: Any, key: str, parent: str) -> Any:
    """The value node of `key` written directly in `mapping`; refuses aliases and merge keys."""
    where = f"{parent}.{key}" if parent else key
    if not isinstance(mapping, MappingNode):
        raise UsageError(f"{path}: {parent or 'the document'} is not a mapping")
    merge = None
    for key_node, value_node in mapping.value:
        if str(key_node.tag) == _MERGE_TAG:
            merge = merge or key_node
        elif isinstance(key_node, ScalarNode) and key_node.value == key:
            if value_node.start_mark.index < key_node.end_mark.index:  # an alias: defined before
                raise UsageError(
                    f"{path}:{key_node.start_mark.line + 1}: the dates are written through a "
                    f"YAML alias ({where}); {_DIRECTLY}"
                )
            return value_node
    if merge is not None:
        raise UsageError(
            f"{path}:{merge.start_mark.line + 1}: the dates are written through a YAML merge "
            f"key ({where} comes from '<<'); {_DIRECTLY}"
        )
    raise UsageError(f"{path}: {where} is not written in the file")


def _check_edit(path: Path, text: str, end: dt.date, archive: dt.date) -> None:
    """Validate the edited text as `labsctl validate` would, and that it holds the new dates."""
    try:
        residency, problems = parse_spec(load_yaml_mapping(path, text))
        dates = residency.spec.dates if residency is not None else None
        landed = dates is not None and (dates.end, dates.archive_date) == (end, archive)
    except YamlSourceError as exc:
        raise UsageError(f"{path}: the edited spec does not load: {exc.message}") from exc
    except OverflowError:
        raise UsageError(
            f"the new dates of {path} leave no archive date before {dt.date.max}",
            hint="choose an earlier --until, or give --archive",
        ) from None
    if problems:
        detail = "; ".join(
            f"{p.path}: {p.message}" + (f" (allowed: {p.allowed})" if p.allowed else "")
            for p in problems
        )
        raise UsageError(
            f"the new dates would make {path} invalid: {detail}",
            hint="choose other dates; the file was not changed",
        ) from SpecError(problems)
    if not landed:
        raise UsageError(f"{path}: the new dates could not be written in place")
