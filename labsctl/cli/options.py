"""Options shared by several commands, declared once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

F = Callable[..., Any]


def verbose(func: F) -> F:
    """`-v` on every command, as kubectl and Ansible users type it (read early by `main`)."""
    return click.option(
        "-v", "--verbose", count=True, expose_value=False, help="More output; tracebacks on errors."
    )(func)


def output(*choices: str, default: str) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        return click.option(
            "-o",
            "--output",
            "output_format",
            type=click.Choice(choices),
            default=default,
            show_default=True,
            help="Output format.",
        )(func)

    return decorate
