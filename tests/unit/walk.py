"""Walking nested spec data and objects in tests: every string, and where each one is."""

from __future__ import annotations

from typing import Any


def string_paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path (keys and indexes) of every string value in `data`."""
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in string_paths(v, (*path, k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in string_paths(v, (*path, i))]
    return [path] if isinstance(data, str) else []


def all_strings(data: Any) -> list[str]:
    """Every string in `data`, keys included."""
    if isinstance(data, dict):
        return [s for key, value in data.items() for s in [str(key), *all_strings(value)]]
    if isinstance(data, list):
        return [s for item in data for s in all_strings(item)]
    return [data] if isinstance(data, str) else []
