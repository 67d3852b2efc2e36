# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""The cluster options every labsctl.residency module shares."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description: Path to a kubeconfig; defaults to E(K8S_AUTH_KUBECONFIG), then the usual places.
    type: path
  context:
    description: kubeconfig context; defaults to E(K8S_AUTH_CONTEXT), then the current context.
    type: str
"""
