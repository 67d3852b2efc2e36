"""Options shared by several commands, declared once."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from labsctl import secretsources, timeouts
from labsctl.cli.builds import build_progress
from labsctl.cluster import Target, resolve_target
from labsctl.errors import UsageError
from labsctl.output import note
from labsctl.sandbox import service

F = Callable[..., Any]


def verbose(func: F) -> F:
    """`-v` on every command, as kubectl and Ansible users type it (read early by `main`)."""
    return click.option(
        "-v", "--verbose", count=True, expose_value=False, help="More output; tracebacks on errors."
    )(func)


def verbose_level(func: F) -> F:
    """`-v` counted: 1 shows Ansible's output, 2 and more pass -v.. to ansible-playbook."""
    return click.option(
        "-v",
        "--verbose",
        count=True,
        help="More output; -vv and more for Ansible's own verbosity; tracebacks on errors.",
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


_CLUSTER_OPTIONS = "labsctl.cluster-options"


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    # Kept aside for `target_from`, so every command taking the cluster options gets them
    # (impersonation, request timeout) without a parameter of its own.
    ctx.meta.setdefault(_CLUSTER_OPTIONS, {})[param.name] = value


class Duration(click.ParamType):
    """A duration as kubectl takes it (`30s`, `1m`, `500ms`, a number of seconds); in seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float | int):
            return float(value)
        try:
            return timeouts.parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def cluster(func: F) -> F:
    """--kubeconfig, --context, --as, --as-group, --request-timeout and --sandbox, with the
    environment variables pipelines set."""
    func = click.option(
        "--request-timeout",
        type=Duration(),
        default=timeouts.format_duration(timeouts.DEFAULT_REQUEST_TIMEOUT),
        show_default=True,
        envvar=timeouts.REQUEST_TIMEOUT_ENV,
        expose_value=False,
        callback=_remember,
        help="How long to wait for the API server to connect or answer, per request (30s, 1m; "
        "0: no limit); reads and refused requests are tried 3 times, within 3 times this "
        f"[env {timeouts.REQUEST_TIMEOUT_ENV}].",
    )(func)
    func = click.option(
        "--sandbox",
        is_flag=True,
        envvar="LABSCTL_SANDBOX",
        help="Use the local sandbox cluster, starting it when it is not running.",
    )(func)
    func = click.option(
        "--as-group",
        "as_groups",
        multiple=True,
        envvar="LABSCTL_AS_GROUP",
        expose_value=False,
        callback=_remember,
        help="Group to impersonate, with --as; repeatable [env LABSCTL_AS_GROUP, "
        "separated by spaces].",
    )(func)
    func = click.option(
        "--as",
        "as_user",
        envvar="LABSCTL_AS",
        default=None,
        expose_value=False,
        callback=_remember,
        help="User (or system:serviceaccount:NS:NAME) to impersonate [env LABSCTL_AS].",
    )(func)
    func = click.option(
        "--context",
        envvar="LABSCTL_CONTEXT",
        default=None,
        help="kubeconfig context [env LABSCTL_CONTEXT].",
    )(func)
    return click.option(
        "--kubeconfig",
        envvar="LABSCTL_KUBECONFIG",
        default=None,
        type=click.Path(dir_okay=False),
        help="kubeconfig file [env LABSCTL_KUBECONFIG, then every file in KUBECONFIG, then "
        "~/.kube/config, then the in-cluster ServiceAccount].",
    )(func)


def target_from(kubeconfig: str | None, context: str | None, sandbox: bool) -> Target:
    """The cluster to use, and as whom; with --sandbox, the local one (started when needed)."""
    ctx = click.get_current_context(silent=True)
    remembered = ctx.meta.get(_CLUSTER_OPTIONS, {}) if ctx is not None else {}
    user: str | None = remembered.get("as_user")
    groups: tuple[str, ...] = tuple(remembered.get("as_groups") or ())
    request_timeout: float | None = remembered.get("request_timeout")
    if sandbox:
        if kubeconfig:
            raise UsageError("--sandbox and --kubeconfig exclude each other")
        state = service.status()
        if not state.healthy:
            note("starting the sandbox (the first run builds Kubernetes from source)...")
            state = service.up(state.flavour or "kubernetes", on_progress=build_progress)
        assert state.kubeconfig is not None
        return resolve_target(
            state.kubeconfig,
            context,
            impersonate_user=user,
            impersonate_groups=groups,
            request_timeout=request_timeout,
        )
    return resolve_target(
        kubeconfig,
        context,
        impersonate_user=user,
        impersonate_groups=groups,
        request_timeout=request_timeout,
    )


specs_argument = click.argument(
    "specs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
lock_timeout = click.option(
    "--lock-timeout",
    type=float,
    default=60.0,
    show_default=True,
    envvar="LABSCTL_LOCK_TIMEOUT",
    help="Seconds to wait for another run's lock of a residency [env LABSCTL_LOCK_TIMEOUT].",
)
templates = click.option(
    "--templates",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of templates that override or add to the built-in ones.",
)


def _export_secrets_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    # The roles read secret files there (the collection's secret_values filter), in the Ansible
    # run this process starts: the flag is the environment variable, made absolute.
    if value is not None:
        os.environ[secretsources.secrets_dir_env()] = str(value.resolve())


secrets_dir = click.option(
    "--secrets-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    envvar="LABSCTL_SECRETS_DIR",
    expose_value=False,
    callback=_export_secrets_dir,
    help="The only directory spec.secrets[].file may read from [env LABSCTL_SECRETS_DIR].",
)
