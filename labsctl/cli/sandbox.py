"""`labsctl sandbox up|down|status|kubeconfig`: a local control plane for trying labsctl."""

from __future__ import annotations

import click

from labsctl import api
from labsctl.cli.builds import build_progress
from labsctl.cli.options import output, verbose
from labsctl.output import emit_data, note, table


@click.group("sandbox")
def command() -> None:
    """A real local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager),
    built from source on first use, running on 127.0.0.1 in the background."""


@command.command("up")
@click.option(
    "--flavour",
    "--flavor",
    "flavour",
    type=click.Choice(["kubernetes", "tekton-argocd", "openshift"]),
    default="kubernetes",
    show_default=True,
    help="Plain Kubernetes, with Tekton and Argo CD CRDs, or OpenShift-like.",
)
@verbose
def up(flavour: str) -> None:
    """Start the sandbox (idempotent); prints the kubeconfig path."""
    note(f"starting the {flavour} sandbox (the first run builds Kubernetes from source)...")
    state = api.sandbox_up(flavour, on_progress=build_progress)
    note(f"sandbox running at {state.server} ({state.flavour})")
    note(f"use it: export KUBECONFIG={state.kubeconfig}")
    click.echo(state.kubeconfig)


@command.command("down")
@verbose
def down() -> None:
    """Stop the sandbox and free its ports."""
    api.sandbox_down()
    note("sandbox stopped")


@command.command("status")
@output("table", "json", "yaml", default="table")
@verbose
def status(output_format: str) -> None:
    """Whether the sandbox runs and is healthy (exit 3 when not)."""
    state = api.sandbox_status()
    if output_format != "table":
        emit_data(state.as_dict(), output_format)  # type: ignore[arg-type]
    else:
        table(
            ["RUNNING", "HEALTHY", "FLAVOUR", "SERVER", "KUBECONFIG"],
            [
                [
                    state.running,
                    state.healthy,
                    state.flavour or "-",
                    state.server or "-",
                    state.kubeconfig or "-",
                ]
            ],
        )
    if not state.healthy:
        raise SystemExit(3)


@command.command("kubeconfig")
@verbose
def kubeconfig() -> None:
    """Print the sandbox's kubeconfig path (the last line of output)."""
    click.echo(str(api.sandbox_kubeconfig()))
