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
  request_timeout:
    description:
      - How long to wait for the API server, per request, as kubectl's C(--request-timeout)
        takes it (C(30s), C(1m), C(500ms), a number of seconds); C(0) waits without limit.
      - It bounds the connection, the TLS handshake and every read. A request is tried up to
        three times, all within three times this, and only when that cannot do a change twice
        (no connection made; a read answered by 5xx or not at all; 429, honouring Retry-After).
      - Defaults to E(LABSCTL_REQUEST_TIMEOUT) (which labsctl sets from its own
        C(--request-timeout)), then C(30s).
    type: str
"""
