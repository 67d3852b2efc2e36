"""Move a residency's end (and archive) date in its spec file, touching nothing else.

The dates are replaced in the text at the positions the YAML loader reports, so comments, quotes,
order and indentation stay exactly as written: in a GitOps flow the diff is the dates alone.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from labsctl.errors import UsageError
from labsctl.validation import load_spec

_DATE = re.compile(r"""(["']?)\d{4}-\d{2}-\d{2}\1""")


@dataclass(frozen=True)
class Extension:
    path: Path
    old_end: dt.date
    new_end: dt.date
    old_archive: dt.date
    new_archive: dt.date

    def as_dict(self) -> dict[str, str]:
        return {
            "file": str(self.path),
            "oldEnd": self.old_end.isoformat(),
            "newEnd": self.new_end.isoformat(),
            "oldArchive": self.old_archive.isoformat(),
            "newArchive": self.new_archive.isoformat(),
        }


def extend(path: Path, until: dt.date, archive: dt.date | None = None) -> Extension:
    """Set `dates.end` to `until` (and `dates.archive`, when the spec sets one, by the same
    number of days, or to `archive`); validates before and after; writes atomically."""
    residency = load_spec(path)
    dates = residency.spec.dates
    if until < dates.start:
        raise UsageError(f"--until {until} is before the residency's start {dates.start}")
    if archive is not None and archive < until:
        raise UsageError(f"--archive {archive} is before the new end {until}")
    text = path.read_text(encoding="utf-8")
    node = YAML(typ="rt").load(text)["spec"]["dates"]
    edits = {"end": until}
    new_archive = archive or (until + (dates.archive_date - dates.end))
    if dates.archive is not None or archive is not None:
        if dates.archive is None:
            raise UsageError(
                "the spec sets no dates.archive; it follows end by gracePeriodDays",
                hint="leave out --archive, or add dates.archive to the spec first",
            )
        edits["archive"] = new_archive
    lines = text.splitlines(keepends=True)
    for key, value in edits.items():
        line, column = node.lc.value(key)
        match = _DATE.match(lines[line], column)
        if match is None:
            raise UsageError(
                f"{path}:{line + 1}: dates.{key} is not written as YYYY-MM-DD",
                hint="write the date plainly, then run extend again",
            )
        quote = match.group(1)
        lines[line] = (
            lines[line][: match.start()]
            + f"{quote}{value.isoformat()}{quote}"
            + lines[line][match.end() :]
        )
    _write_checked(path, "".join(lines))
    return Extension(path, dates.end, until, dates.archive_date, new_archive)


def _write_checked(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        load_spec(Path(temporary))  # never leave an invalid spec behind
        Path(temporary).chmod(path.stat().st_mode & 0o777)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
