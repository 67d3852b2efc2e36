"""Atomic, contained writes of the files labsctl owns: output trees and single files.

A tree labsctl writes (`write_tree`) holds `.labsctl-files` (MANIFEST): the relative paths of the
files labsctl wrote there, one per line, sorted. Only those are ever replaced or removed; any
other file in the tree is kept as it is.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from labsctl.errors import LabsctlError, RenderError


def contained(base: Path, name: str) -> Path:
    """`base/name`, refusing names that would leave `base` (.., absolute, separators, symlinks)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise RenderError(f"refusing to write to {name!r}: not a plain directory name")
    target = base / name
    if target.is_symlink():
        raise RenderError(
            f"refusing to write through the symbolic link {target} (to {_link_text(target)})",
            hint=_ELSEWHERE,
        )
    try:
        resolved_base = base.resolve()
        outside = target.resolve().parent != resolved_base
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop
        raise RenderError(f"cannot resolve {target}: {_reason(exc)}", hint=_ELSEWHERE) from exc
    if outside:
        raise RenderError(f"refusing to write {target}: it is outside {resolved_base}")
    return target


def write_tree(base: Path, name: str, files: Mapping[str, str]) -> Path:
    """Write `files` (relative path -> text) as the tree `base/name`, touching only what labsctl
    wrote there before (see MANIFEST); returns `base/name`.

    Files listed in the previous manifest (or, in a tree from before manifests, files starting
    with labsctl's header) are replaced or removed; everything else is kept byte for byte, with
    its mode. A non-empty directory that labsctl did not write, or a file about to be written
    that labsctl does not own, is refused with RenderError before anything is written.

    The new tree is built next to the old one (the files kept hard-linked, or copied, into it)
    and swapped in with renames, so a failure leaves the previous output intact and a reader
    never sees half of each.
    """
    wanted = _checked_files(files)
    check_directory(base, create=True)
    target = contained(base, name)
    previous = _previous_tree(target, wanted)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.new-", dir=base))
    except OSError as exc:
        raise RenderError(f"cannot write in {base}: {_reason(exc)}", hint=_ELSEWHERE) from exc
    old: Path | None = None
    try:
        if previous is not None:
            _carry_over(target, staging, previous)
        for relative in wanted:
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(files[relative].encode("utf-8"))
        (staging / MANIFEST).write_text("".join(f"{r}\n" for r in wanted), encoding="utf-8")
        _restore_modes(staging, previous)
        if previous is not None:
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=base))
            target.rename(old / name)
        staging.rename(target)
    except BaseException as exc:
        if old is not None and not os.path.lexists(target):
            with contextlib.suppress(OSError):
                (old / name).rename(target)
        shutil.rmtree(staging, ignore_errors=True)
        stranded = old / name if old is not None and os.path.lexists(old / name) else None
        if old is not None and stranded is None:
            shutil.rmtree(old, ignore_errors=True)
        if isinstance(exc, OSError):
            where = str(exc.filename or target).replace(str(staging), str(target), 1)
            kept = f"; the previous output is in {stranded}" if stranded else ""
            raise RenderError(
                f"cannot write {where}: {_reason(exc)}{kept}", hint=_ELSEWHERE
            ) from exc
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


MANIFEST = ".labsctl-files"
_ELSEWHERE = "choose another output directory"
_OLD_HEADER = re.compile(
    rb"# Rendered by labsctl\b|# [a-z-]+ objects of residency [a-z0-9-]+, rendered by labsctl\."
)
_UNSAFE_PATH = re.compile(r"[\x00-\x1f\x7f\\]")
_PSEUDO_FILE_SYSTEMS = frozenset(
    {
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "efivarfs",
        "fusectl",
        "mqueue",
        "proc",
        "pstore",
        "securityfs",
        "sysfs",
        "tracefs",
    }
)


def check_directory(
    path: Path, *, create: bool = False, error: type[LabsctlError] = RenderError
) -> Path:
    """Check that `path` is, or can be created as, a directory to write files into (with
    `create`, create it); raises `error` naming the path and why, before anything is written."""
    existing = path
    while True:
        try:
            st = existing.stat()
            break
        except (FileNotFoundError, NotADirectoryError):
            if existing.is_symlink():
                raise error(
                    f"{existing} is a symbolic link to {_link_text(existing)}, which does not "
                    "exist",
                    hint="choose another directory",
                ) from None
            if existing.parent == existing:
                raise error(f"cannot use {path}: nothing of it exists") from None
            existing = existing.parent
        except (OSError, RuntimeError) as exc:
            raise error(
                f"cannot use {path}: {_reason(exc)}", hint="choose another directory"
            ) from exc
    problem = None
    if not stat.S_ISDIR(st.st_mode):
        problem = f"{existing} is not a directory (it is {kind_of(st.st_mode)})"
    elif (file_system := _pseudo_file_system(existing)) is not None:
        problem = f"{existing} is on the {file_system} pseudo file system, not a place for files"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable"
    if problem is not None:
        raise error(
            problem if existing == path else f"cannot create {path}: {problem}",
            hint="choose another directory",
        )
    if create and existing != path:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise error(
                f"cannot create {path}: {_reason(exc)}", hint="choose another directory"
            ) from exc
    return path


def check_output(base: Path, name: str) -> Path:
    """The checks `write_tree(base, name, ...)` makes before writing, for a caller that wants
    them before its long work (reading a cluster): `base/name`, or RenderError."""
    check_directory(base)
    target = contained(base, name)
    _previous_tree(target, [])
    return target


def check_new_file(
    path: Path, *, replace: bool, error: type[LabsctlError] = RenderError
) -> int | None:
    """Before `write_file(path, ..., replace=replace)`: refuses a symbolic link (even dangling),
    anything but a regular file, and an existing file unless `replace`. Returns the mode of the
    file to replace, or None when there is none."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise error(f"cannot use {path}: {_reason(exc)}") from exc
    if stat.S_ISLNK(st.st_mode):
        raise error(
            f"{path} is a symbolic link to {_link_text(path)}; refusing to write through it",
            hint=f"remove the link {path} first",
        )
    if not stat.S_ISREG(st.st_mode):
        raise error(
            f"{path} exists and is not a regular file (it is {kind_of(st.st_mode)})",
            hint=f"remove {path} first, or choose another directory",
        )
    if not replace:
        raise error(f"{path} already exists", hint="use --force to overwrite it")
    return stat.S_IMODE(st.st_mode)


def write_file(
    path: Path,
    data: bytes,
    *,
    replace: bool,
    mode: int | None = None,
    owner: tuple[int, int] | None = None,
    error: type[LabsctlError] = RenderError,
) -> None:
    """Write `path` atomically: a new file in its directory (O_EXCL, O_NOFOLLOW), renamed over
    `path` when `replace` (a symbolic link there is replaced, never followed), else linked in
    only if nothing at all is at `path`. `mode` defaults to 0666 less the umask."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        descriptor = os.open(temporary, flags, 0o600 if mode is not None else 0o666)
    except OSError as exc:
        raise error(f"cannot write {path}: {_reason(exc)}") from exc
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
            if owner is not None:
                with contextlib.suppress(OSError):  # only root may give a file away
                    os.fchown(out.fileno(), *owner)
            if mode is not None:
                os.fchmod(out.fileno(), mode)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            temporary.replace(path)
        else:
            try:
                _link_new(temporary, path)
            except FileExistsError:
                raise error(f"{path} already exists", hint="use --force to overwrite it") from None
            finally:
                temporary.unlink(missing_ok=True)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise error(f"cannot write {path}: {_reason(exc)}") from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _link_new(source: Path, path: Path) -> None:
    """Give `source` the name `path` only if nothing is there; FileExistsError otherwise."""
    try:
        os.link(source, path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        if os.path.lexists(path):  # a file system without hard links: check, then rename
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from exc
        source.rename(path)


@dataclass(frozen=True)
class _Previous:
    """What `write_tree` keeps of the tree already at its target."""

    mode: int
    directories: dict[str, int]  # every directory (relative path -> mode)
    kept_directories: tuple[str, ...]  # those holding something labsctl did not write
    kept: tuple[str, ...]  # files, links and special files labsctl did not write


def _checked_files(files: Mapping[str, str]) -> list[str]:
    names = sorted(files)
    for relative in names:
        problem = _path_problem(relative)
        if problem is not None:
            raise RenderError(f"refusing to write {relative!r}: {problem}")
    both = sorted(_ancestors(names) & set(names))
    if both:
        raise RenderError(f"refusing to write {both[0]!r} both as a file and as a directory")
    return names


def _path_problem(relative: str) -> str | None:
    if relative == MANIFEST:
        return f"{MANIFEST} is where labsctl lists what it wrote"
    if not relative or relative.startswith("/") or _UNSAFE_PATH.search(relative):
        return "outside the output directory, or not a plain relative path"
    if any(part in ("", ".", "..") for part in relative.split("/")):
        return "outside the output directory, or not a plain relative path"
    return None


def _ancestors(paths: list[str]) -> set[str]:
    out: set[str] = set()
    for relative in paths:
        parts = relative.split("/")
        out.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return out


def _previous_tree(target: Path, wanted: list[str]) -> _Previous | None:
    """What is at `target` and what of it is kept; refuses what `wanted` would overwrite."""
    try:
        st = target.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RenderError(f"cannot use {target}: {_reason(exc)}", hint=_ELSEWHERE) from exc
    if not stat.S_ISDIR(st.st_mode):
        raise RenderError(
            f"{target} exists and is not a directory (it is {kind_of(st.st_mode)})",
            hint=f"remove it, or {_ELSEWHERE}",
        )
    if not os.access(target, os.R_OK | os.W_OK | os.X_OK):
        raise RenderError(f"{target} is not writable", hint=_ELSEWHERE)
    directories, entries = _scan(target)
    owned = _owned(target, directories, entries)
    kept = [e for e in entries if e not in owned and e != MANIFEST]
    empty = set(directories) - _ancestors([*entries, *directories])
    kept_directories = _ancestors([*kept, *empty]) | empty
    not_ours = set(kept)
    for relative in wanted:
        parts = relative.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if prefix in not_ours or (i == len(parts) and prefix in kept_directories):
                raise RenderError(
                    f"{target / prefix} exists and was not written by labsctl (it is not "
                    f"listed in {target / MANIFEST}); refusing to replace it",
                    hint=f"remove it (or move it away), or {_ELSEWHERE}",
                )
    return _Previous(
        stat.S_IMODE(st.st_mode), directories, tuple(sorted(kept_directories)), tuple(kept)
    )


def _scan(root: Path) -> tuple[dict[str, int], list[str]]:
    """Every directory (with its mode) and every other entry under `root`, links not followed."""
    directories: dict[str, int] = {}
    entries: list[str] = []
    pending = [""]
    try:
        while pending:
            folder = pending.pop()
            with os.scandir(root / folder) as listing:
                for entry in listing:
                    relative = f"{folder}/{entry.name}" if folder else entry.name
                    if entry.is_dir(follow_symlinks=False):
                        directories[relative] = stat.S_IMODE(
                            entry.stat(follow_symlinks=False).st_mode
                        )
                        pending.append(relative)
                    else:
                        entries.append(relative)
    except OSError as exc:
        raise RenderError(
            f"cannot read {exc.filename or root}: {_reason(exc)}", hint=_ELSEWHERE
        ) from exc
    return directories, sorted(entries)


def _owned(target: Path, directories: dict[str, int], entries: list[str]) -> set[str]:
    """The files labsctl wrote under `target`: those its manifest lists or, in a tree written
    before manifests, those starting with labsctl's header."""
    if MANIFEST in entries:
        return _read_manifest(target, target / MANIFEST)
    adopted = {e for e in entries if _has_old_header(target / e)}
    if (entries or directories) and not adopted:
        first = sorted([*entries, *directories])[0]
        raise RenderError(
            f"{target} already exists and holds {target / first}, which labsctl did not write "
            f"(there is no {MANIFEST} listing what labsctl wrote); refusing to write into it",
            hint=f"remove {target}, or {_ELSEWHERE}",
        )
    return adopted


def _read_manifest(target: Path, manifest: Path) -> set[str]:
    fix = f"restore {manifest} (the files labsctl wrote, one per line), or remove {target}"
    try:
        if not stat.S_ISREG(manifest.lstat().st_mode):
            raise RenderError(f"{manifest} is not a regular file", hint=fix)
        text = manifest.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RenderError(f"cannot read {manifest}: {_reason(exc)}", hint=fix) from exc
    owned: set[str] = set()
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        if _path_problem(line) is not None:
            raise RenderError(
                f"{manifest}:{number}: {line!r} is not a file labsctl writes", hint=fix
            )
        owned.add(line)
    return owned


def _has_old_header(path: Path) -> bool:
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return False
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(descriptor, "rb") as handle:
            return _OLD_HEADER.match(handle.read(200)) is not None
    except OSError:
        return False


def _carry_over(target: Path, staging: Path, previous: _Previous) -> None:
    for relative in previous.kept_directories:
        (staging / relative).mkdir(parents=True, exist_ok=True)
    for relative in previous.kept:
        _link_or_copy(target / relative, staging / relative)


def _link_or_copy(source: Path, destination: Path) -> None:
    """The same file under a second name (so byte for byte, with its mode), else a copy."""
    try:
        os.link(source, destination, follow_symlinks=False)
        return
    except OSError as exc:
        failure = exc
    mode = source.lstat().st_mode
    if stat.S_ISLNK(mode):
        destination.symlink_to(source.readlink())
    elif stat.S_ISREG(mode):
        shutil.copy2(source, destination, follow_symlinks=False)
    else:
        raise RenderError(
            f"cannot keep {source} ({kind_of(mode)}) in the new output: {_reason(failure)}",
            hint="move it out of the output directory",
        ) from failure


def _restore_modes(staging: Path, previous: _Previous | None) -> None:
    if previous is None:
        staging.chmod(0o755)
        return
    for relative, mode in sorted(previous.directories.items(), reverse=True):
        if (staging / relative).is_dir():
            (staging / relative).chmod(mode)
    staging.chmod(previous.mode)


def _pseudo_file_system(path: Path) -> str | None:
    """The type of the kernel's pseudo file system (proc, sysfs, ...) `path` is on, if any."""
    try:
        resolved = os.path.realpath(path)
        with Path("/proc/self/mountinfo").open(encoding="utf-8", errors="replace") as handle:
            mounts = handle.read().splitlines()
    except OSError:
        return None
    best, kind = "", ""
    for line in mounts:
        fields, _, rest = line.partition(" - ")
        parts = fields.split(" ")
        if len(parts) < 5 or not rest:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[4])
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, rest.split(" ", 1)[0]
    return kind if kind in _PSEUDO_FILE_SYSTEMS else None


def kind_of(mode: int) -> str:
    """What a file of this `st_mode` is, for messages: "a regular file", "a named pipe", ..."""
    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "a special file")


def _link_text(path: Path) -> str:
    try:
        return str(path.readlink())
    except OSError:
        return "an unreadable target"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
