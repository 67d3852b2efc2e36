"""The command group; each verb lives in its own module."""

from __future__ import annotations

import click

from labsctl._version import __version__
from labsctl.cli import (
    apply,
    completion,
    export,
    extend,
    freeze,
    init,
    plan,
    rbac,
    render,
    sandbox,
    schema,
    status,
    teardown,
    validate,
)
from labsctl.cli.options import verbose


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="labsctl")
@verbose
def cli() -> None:
    """Residency environments on Kubernetes and OpenShift, as code.

    Write a spec (init), check it (validate), see what it makes (render),
    provision it (plan, apply, status), end it (freeze, extend, export,
    teardown). No cluster? `labsctl apply --sandbox SPEC`.
    Exit codes: 0 ok, 1 internal error, 2 invalid input, 3 cluster, 4 conflict,
    5 Ansible run failed, 6 drift, 130 interrupted.
    """


for module in (
    init,
    validate,
    schema,
    render,
    apply,
    plan,
    status,
    freeze,
    extend,
    export,
    teardown,
    rbac,
    sandbox,
    completion,
):
    cli.add_command(module.command)
cli.add_command(plan.command, name="diff")
