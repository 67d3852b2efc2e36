# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""The cluster options every labsctl.residency module shares."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig; defaults to E(K8S_AUTH_KUBECONFIG), then E(KUBECONFIG) (several
        files merged), then C(~/.kube/config).
      - Without this option and E(K8S_AUTH_KUBECONFIG), E(K8S_AUTH_HOST) with E(K8S_AUTH_API_KEY),
        E(K8S_AUTH_VERIFY_SSL) and E(K8S_AUTH_SSL_CA_CERT) (what AWX's Kubernetes credential
        injects) come first; without any of these, the in-cluster ServiceAccount.
      - E(K8S_AUTH_IMPERSONATE_USER) and E(K8S_AUTH_IMPERSONATE_GROUPS) act as another identity.
    type: path
  context:
    description: kubeconfig context; defaults to E(K8S_AUTH_CONTEXT), then the current context.
    type: str
"""
