"""A teardown's backup never overwrites an earlier one."""

from __future__ import annotations

from pathlib import Path

from labsctl.teardown import backup_directory


def test_each_teardown_of_the_day_backs_up_into_a_directory_of_its_own(tmp_path: Path) -> None:
    first = backup_directory(tmp_path, "payments", "2026-11-25")
    assert first == tmp_path / "payments-2026-11-25"
    first.mkdir()
    second = backup_directory(tmp_path, "payments", "2026-11-25")
    assert second == tmp_path / "payments-2026-11-25.2"
    second.mkdir()
    assert backup_directory(tmp_path, "payments", "2026-11-25").name == "payments-2026-11-25.3"
    assert backup_directory(tmp_path, "payments", "2026-11-26").name == "payments-2026-11-26"
