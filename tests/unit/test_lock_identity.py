"""Who holds a lock, named even where the user has no passwd entry."""

from __future__ import annotations

import getpass
import os

import pytest

from labsctl import lock


def test_a_uid_without_a_passwd_entry_still_names_the_holder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_entry() -> str:
        raise KeyError("getpwuid(): uid not found: 1000650000")

    monkeypatch.setattr(getpass, "getuser", no_entry)
    holder = lock.holder_identity("apply")
    assert holder.startswith(f"uid{os.getuid()}@")
    assert holder.endswith(f"pid {os.getpid()} (apply)")


def test_the_lease_duration_comes_from_the_environment_when_it_is_a_positive_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(lock.LEASE_SECONDS_ENV, "5")
    assert lock.lease_seconds() == 5
    for wrong in ("0", "-3", "soon", ""):
        monkeypatch.setenv(lock.LEASE_SECONDS_ENV, wrong)
        assert lock.lease_seconds() == lock.LEASE_SECONDS
