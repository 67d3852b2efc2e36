"""Output paths are untrusted: labsctl writes and removes only files it owns, checks every output
path before writing, never follows a link it did not expect, and edits specs byte for byte."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from labsctl import api
from labsctl.cli import main
from labsctl.errors import RenderError, UsageError
from labsctl.export import export
from labsctl.extend import extend
from labsctl.files import MANIFEST, write_tree

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMALL = EXAMPLES / "small-team.yaml"  # residency `payments`, no explicit archive date
PLATFORM = EXAMPLES / "openshift-platform.yaml"  # residency `mobile-banking`, archive set
SMALL_DATES = "  dates:\n    start: 2026-11-02\n    end: 2026-12-24\n"

# The modules: the package attributes `labsctl.export` and `labsctl.extend` are the functions.
EXPORT_MODULE = importlib.import_module("labsctl.export")
EXTEND_MODULE = importlib.import_module("labsctl.extend")


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `root` with its bytes and mode."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _spec(tmp_path: Path, source: Path = SMALL, name: str | None = None) -> Path:
    target = tmp_path / (name or source.name)
    shutil.copy(source, target)
    return target


# render and export write and remove only the files they own


def test_render_lists_the_files_it_wrote_in_a_sorted_manifest(tmp_path: Path) -> None:
    result = api.render_spec(SMALL, tmp_path / "out")
    manifest = (result.directory / MANIFEST).read_text(encoding="utf-8")
    assert manifest == "".join(f"{name}\n" for name in sorted(result.files))
    assert manifest.splitlines() == [
        "group_vars/all.yml",
        "host_vars/payments.objects.json",
        "host_vars/payments.yml",
        "hosts.yml",
    ]


def test_rerender_keeps_files_labsctl_did_not_write_byte_for_byte_with_their_modes(
    tmp_path: Path,
) -> None:
    directory = api.render_spec(SMALL, tmp_path).directory
    (directory / "notes.txt").write_bytes(b"team notes\r\n\x00\xff")
    (directory / "notes.txt").chmod(0o600)
    (directory / "group_vars" / "extra.yml").write_text("mine: true\n")
    (directory / "group_vars" / "extra.yml").chmod(0o751)
    (directory / "mine" / "deeper").mkdir(parents=True)
    (directory / "mine" / "deeper" / "x").write_text("x")
    (directory / "empty").mkdir()
    (directory / "link").symlink_to("/nonexistent/target")
    before = _tree(directory)
    api.render_spec(SMALL, tmp_path)
    after = _tree(directory)
    for name in ("notes.txt", "group_vars/extra.yml", "mine/deeper/x"):
        assert after[name] == before[name]
    assert (directory / "empty").is_dir()
    assert (directory / "link").readlink() == Path("/nonexistent/target")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["payments"]  # no staging left


def test_rerender_removes_the_files_it_wrote_before_and_no_longer_writes(tmp_path: Path) -> None:
    write_tree(
        tmp_path, "demo", {"hosts.yml": "a\n", "stage/qa.yml": "b\n", "stage/dev.yml": "c\n"}
    )
    (tmp_path / "demo" / "stage" / "own.txt").write_text("kept")
    write_tree(tmp_path, "demo", {"hosts.yml": "new\n", "other/x.yml": "d\n"})
    assert sorted(_tree(tmp_path / "demo")) == [
        MANIFEST,
        "hosts.yml",
        "other/x.yml",
        "stage/own.txt",
    ]
    assert (tmp_path / "demo" / "hosts.yml").read_text() == "new\n"
    write_tree(tmp_path, "demo", {"hosts.yml": "new\n"})
    assert not (tmp_path / "demo" / "other").exists()  # held only labsctl's files


def test_render_refuses_a_non_empty_directory_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "payments").mkdir()
    (tmp_path / "payments" / "hosts.yml").write_text("someone else's\n")
    code, out, err = _run(["render", str(SMALL), "--output-dir", str(tmp_path)], capsys)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert f"{tmp_path / 'payments' / 'hosts.yml'}, which labsctl did not write" in err
    assert "hint: remove" in err and "choose another output directory" in err
    assert (tmp_path / "payments" / "hosts.yml").read_text() == "someone else's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["payments"]


def test_render_refuses_to_replace_a_file_missing_from_its_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = api.render_spec(SMALL, tmp_path).directory
    manifest = directory / MANIFEST
    manifest.write_text(manifest.read_text().replace("hosts.yml\n", ""))
    (directory / "hosts.yml").write_text("edited by the team\n")
    code, _, err = _run(["render", str(SMALL), "--output-dir", str(tmp_path)], capsys)
    assert code == 2
    assert f"{directory / 'hosts.yml'} exists and was not written by labsctl" in err
    assert (directory / "hosts.yml").read_text() == "edited by the team\n"


def test_render_adopts_a_directory_written_by_an_older_labsctl(tmp_path: Path) -> None:
    directory = tmp_path / "payments"
    directory.mkdir()
    header = "# Rendered by labsctl from the residency spec of payments; do not edit by hand.\n"
    (directory / "hosts.yml").write_text(header + "stale: true\n")
    (directory / "retired.yml").write_text(header + "stale: true\n")
    (directory / "README").write_text("ours\n")
    result = api.render_spec(SMALL, tmp_path)
    assert sorted(_tree(directory)) == sorted([MANIFEST, "README", *result.files])
    assert "stale" not in (directory / "hosts.yml").read_text()
    assert (directory / "README").read_text() == "ours\n"


def test_a_failed_write_leaves_the_previous_output_and_other_files_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, "demo", {"a.yml": "old a\n", "b.yml": "old b\n"})
    (tmp_path / "demo" / "team.txt").write_text("team")
    before = _tree(tmp_path / "demo")
    real_write = Path.write_bytes

    def failing_write(self: Path, data: Any) -> int:
        if self.name == "b.yml":
            raise OSError(28, "No space left on device", str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    with pytest.raises(RenderError, match=r"cannot write .*demo/b\.yml: No space left on device"):
        write_tree(tmp_path, "demo", {"a.yml": "new a\n", "b.yml": "new b\n"})
    assert _tree(tmp_path / "demo") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_export_keeps_the_teams_other_files_and_replaces_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "payments-dev", "labels": {"labsctl.dev/stage": "dev"}},
    }
    monkeypatch.setattr(EXPORT_MODULE, "_live", lambda cluster, residency: [namespace])
    to = tmp_path / "handover"
    export(None, "payments", to)  # type: ignore[arg-type]
    (to / ".git").mkdir()
    (to / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (to / "stages" / "dev" / "team-extra.yaml").write_text("kind: ConfigMap\n")
    (to / "README.md").write_text("edited\n")
    export(None, "payments", to)  # type: ignore[arg-type]
    assert (to / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert (to / "stages" / "dev" / "team-extra.yaml").read_text() == "kind: ConfigMap\n"
    assert (to / "README.md").read_text().startswith("# Residency payments")


def test_export_refuses_a_directory_it_did_not_write_before_reading_the_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_cluster(cluster: Any, residency: str) -> list[dict[str, Any]]:
        raise AssertionError("the cluster was read before the output directory was checked")

    monkeypatch.setattr(EXPORT_MODULE, "_live", no_cluster)
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "main.tf").write_text("x")
    with pytest.raises(RenderError, match=r"repo/main\.tf, which labsctl did not write"):
        export(None, "payments", tmp_path / "repo")  # type: ignore[arg-type]


# every output path is checked before anything is written


@pytest.mark.parametrize(
    ("output_dir", "reason"),
    [
        ("/dev/null", "/dev/null is not a directory (it is a character device)"),
        ("/dev/null/sub", "cannot create /dev/null/sub: /dev/null is not a directory"),
        ("/proc/labsctl-out", "cannot create /proc/labsctl-out: /proc is on the proc pseudo file"),
        ("{tmp}/file", "{tmp}/file is not a directory (it is a regular file)"),
        ("{tmp}/dangling", "{tmp}/dangling is a symbolic link to {tmp}/nowhere"),
    ],
)
def test_render_refuses_an_output_dir_that_is_not_a_usable_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], output_dir: str, reason: str
) -> None:
    if not Path("/proc/self/mountinfo").exists() and "/proc" in output_dir:
        pytest.skip("no /proc on this system")
    (tmp_path / "file").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    args = ["render", str(SMALL), "--output-dir", output_dir.format(tmp=tmp_path)]
    code, out, err = _run(args, capsys)
    assert code == 2
    assert out == ""
    assert err.startswith(f"error: {reason.format(tmp=tmp_path)}")
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "file"]


def test_render_checks_the_output_dir_before_reading_the_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_spec(path: Any) -> Any:
        raise AssertionError("the spec was read before the output directory was checked")

    monkeypatch.setattr("labsctl.api.load_spec", no_spec)
    with pytest.raises(RenderError, match="/dev/null is not a directory"):
        api.render_spec(SMALL, "/dev/null")


def test_render_refuses_an_output_dir_it_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root writes anywhere; have the permission check say what it would
        real_access = os.access
        monkeypatch.setattr(
            os,
            "access",
            lambda p, m, **k: (Path(p) != locked or not m & os.W_OK) and real_access(p, m, **k),
        )
    code, _, err = _run(["render", str(SMALL), "--output-dir", str(locked)], capsys)
    assert code == 2
    assert err.startswith(f"error: {locked} is not writable\n")
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize(
    ("directory", "reason"),
    [
        ("/dev/null", "/dev/null is not a directory (it is a character device)"),
        ("/proc", "/proc is on the proc pseudo file system"),
    ],
)
def test_init_refuses_a_dir_that_is_not_a_usable_directory(
    capsys: pytest.CaptureFixture[str], directory: str, reason: str
) -> None:
    if directory == "/proc" and not Path("/proc/self/mountinfo").exists():
        pytest.skip("no /proc on this system")
    code, out, err = _run(["init", "demo", "--dir", directory], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith(f"error: {reason}")


# init never follows a link it did not expect


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_init_refuses_a_dangling_symlink_at_the_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], force: bool
) -> None:
    (tmp_path / "demo.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    args = ["init", "demo", "--dir", str(tmp_path), *(["--force"] if force else [])]
    code, _, err = _run(args, capsys)
    assert code == 2
    link, target = tmp_path / "demo.yaml", tmp_path / "elsewhere.yaml"
    assert err.startswith(f"error: {link} is a symbolic link to {target}")
    assert f"hint: remove the link {link} first" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.yaml"]
    assert not target.exists()


def test_init_force_leaves_the_target_of_a_symlink_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "precious.txt").write_text("precious\n")
    (tmp_path / "demo.yaml").symlink_to("precious.txt")
    code, _, err = _run(["init", "demo", "--dir", str(tmp_path), "--force"], capsys)
    assert code == 2
    assert "is a symbolic link to precious.txt" in err
    assert (tmp_path / "precious.txt").read_text() == "precious\n"
    assert (tmp_path / "demo.yaml").is_symlink()


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_init_does_not_follow_a_symlink_planted_after_its_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    link, outside = tmp_path / "demo.yaml", tmp_path / "outside.yaml"

    def checked_then_planted(path: Path, **_: Any) -> None:
        link.symlink_to(outside)  # a link created between the check and the write

    monkeypatch.setattr("labsctl.api.check_new_file", checked_then_planted)
    if force:
        api.init("demo", tmp_path, force=True)
        assert not link.is_symlink() and "kind: Residency" in link.read_text()
    else:
        with pytest.raises(UsageError, match="already exists"):
            api.init("demo", tmp_path)
        assert link.is_symlink()
    assert not outside.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.yaml"]


def test_init_force_replaces_a_file_atomically_keeping_its_mode(tmp_path: Path) -> None:
    (tmp_path / "demo.yaml").write_text("old\n")
    (tmp_path / "demo.yaml").chmod(0o640)
    path = api.init("demo", tmp_path, force=True, today=dt.date(2026, 11, 24))
    assert api.validate([path]) == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.yaml"]  # no temporary left


# extend edits the dates alone, byte for byte, through links


def test_extend_keeps_crlf_line_endings_and_changes_only_the_date_bytes(tmp_path: Path) -> None:
    spec = tmp_path / "crlf.yaml"
    spec.write_bytes(SMALL.read_bytes().replace(b"\n", b"\r\n"))
    before = spec.read_bytes()
    extend(spec, dt.date(2027, 2, 26))
    after = spec.read_bytes()
    assert len(after) == len(before)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    start = before.index(b"end: 2026-12-24\r\n") + len(b"end: ")
    assert after[start : start + 10] == b"2027-02-26"
    assert all(start <= i < start + 10 for i in changed)


def test_extend_through_a_symlink_edits_its_target_and_keeps_the_link_and_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "real").mkdir()
    target = _spec(tmp_path / "real", PLATFORM)
    target.chmod(0o640)
    link = tmp_path / "spec.yaml"
    link.symlink_to(Path("real") / PLATFORM.name)
    code, _, err = _run(["extend", str(link), "--until", "2027-01-15", "--no-apply"], capsys)
    assert code == 0, err
    assert link.is_symlink() and link.readlink() == Path("real", PLATFORM.name)
    text = target.read_text()
    assert "    end: 2027-01-15\n" in text and "    archive: 2027-02-28\n" in text
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == [PLATFORM.name]


def test_extend_to_the_last_representable_date_exits_2_and_leaves_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path)
    before = spec.read_bytes()
    code, _, err = _run(["extend", str(spec), "--until", "9999-12-31", "--no-apply"], capsys)
    assert code == 2
    assert "Traceback" not in err and "internal error" not in err
    assert err.startswith("error: --until 9999-12-31 would move the archive date past 9999-12-31")
    assert spec.read_bytes() == before


@pytest.mark.parametrize(
    ("dates", "line", "how"),
    [
        ("  dates:\n    <<: {start: 2026-11-02, end: 2026-12-24}\n", 14, "merge key"),
        (
            "  tooling:\n    tools:\n      - name: nexus\n"
            "        values: {x: &d {start: 2026-11-02, end: 2026-12-24}}\n"
            "  dates: {<<: *d}\n",
            17,
            "merge key",
        ),
        (
            "  tooling:\n    tools:\n      - name: nexus\n"
            "        values: {x: &d {start: 2026-11-02, end: 2026-12-24}}\n"
            "  dates: *d\n",
            17,
            "alias",
        ),
    ],
    ids=["inline-merge", "merge-of-anchor", "alias"],
)
def test_extend_refuses_dates_written_through_a_yaml_alias_or_merge_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dates: str, line: int, how: str
) -> None:
    spec = tmp_path / "merged.yaml"
    spec.write_text(SMALL.read_text().replace(SMALL_DATES, dates))
    assert api.validate([spec]) == []
    before = spec.read_bytes()
    code, _, err = _run(["extend", str(spec), "--until", "2027-01-10", "--no-apply"], capsys)
    assert code == 2
    assert err.startswith(f"error: {spec}:{line}: the dates are written through a YAML {how}")
    assert "write them directly under spec.dates to use extend" in err
    assert spec.read_bytes() == before


def test_extend_validates_the_edited_spec_before_writing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(tmp_path)
    before = spec.read_bytes()
    # An edit gone wrong (here: the start moved too) must never reach the file.
    monkeypatch.setattr(
        EXTEND_MODULE,
        "_edited",
        lambda path, text, edits: text.replace("2026-11-02", "2027-12-01"),
    )
    code, _, err = _run(["extend", str(spec), "--until", "2027-01-10", "--no-apply"], capsys)
    assert code == 2
    assert f"error: the new dates would make {spec} invalid: spec.dates.end: end is before" in err
    assert spec.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [spec.name]


@pytest.mark.parametrize("kind", ["read-only", "device", "fifo"])
def test_extend_refuses_a_spec_it_cannot_rewrite_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    if kind == "read-only":
        spec = _spec(tmp_path)
        spec.chmod(0o444)
        reason = f"{spec} is read-only (mode 0444)"
    elif kind == "device":
        spec, reason = (
            Path("/dev/null"),
            "/dev/null is not a regular file (it is a character device)",
        )
    else:
        spec = tmp_path / "pipe.yaml"
        os.mkfifo(spec)
        reason = f"{spec} is not a regular file (it is a named pipe)"
    code, _, err = _run(["extend", str(spec), "--until", "2027-01-10", "--no-apply"], capsys)
    assert code == 2
    assert err.startswith(f"error: {reason}")
    if kind == "read-only":
        assert spec.read_bytes() == SMALL.read_bytes()
