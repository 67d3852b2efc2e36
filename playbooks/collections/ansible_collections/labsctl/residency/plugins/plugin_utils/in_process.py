# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Run a module of this collection inside Ansible's worker, on the controller.

A module process costs about 0.4 s a task (a Python start, AnsiballZ packaging, imports) against
tens of milliseconds of requests; the modules talk to the API server over HTTP, which the worker
can do itself. So each module has an action plugin of its name that validates the arguments
against the module's own argument spec and calls the module's `run` in the worker: the same
code, the same arguments, the same result. A task delegated to another host (any connection but
`local`) still runs the module there.

A worker running one of these actions dies with its ansible-playbook (Linux): killed by the OOM
killer or with SIGKILL, ansible-playbook can no longer stop its workers, and one in the middle
of a task would go on writing to the cluster, unlocked.
"""

from __future__ import annotations

import ctypes
import importlib
import multiprocessing
import os
import signal

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible_collections.labsctl.residency.plugins.module_utils.client import ClientError
from ansible_collections.labsctl.residency.plugins.module_utils.results import ModuleFailure

COLLECTION = "labsctl.residency"
_PR_SET_PDEATHSIG = 1
_GUARDED = []  # this worker asked already (a worker runs one task)


def die_with_the_play():
    """Ask Linux for a SIGKILL when ansible-playbook dies; False when it is gone already."""
    parent = multiprocessing.parent_process()
    if not _GUARDED:
        _GUARDED.append(True)
        try:
            libc = ctypes.CDLL(None, use_errno=True)  # the C library this process runs on
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # not Linux-like: nothing to ask for
            return True
    return parent is None or parent.pid == os.getppid()


class InProcessAction(ActionBase):
    """Subclasses name their module in `module`."""

    module = ""
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self.module_args(dict(self._task.args))
        if self._connection.transport != "local":
            result.update(
                self._execute_module(
                    module_name=f"{COLLECTION}.{self.module}",
                    module_args=args,
                    task_vars=task_vars,
                )
            )
            return result
        if not die_with_the_play():
            result.update(
                failed=True,
                reason="Orphaned",
                msg="ansible-playbook, which started this worker, is gone: nothing was done",
            )
            return result
        module = importlib.import_module(
            f"ansible_collections.labsctl.residency.plugins.modules.{self.module}"
        )
        validated = ArgumentSpecValidator(module.ARGUMENT_SPEC).validate(args)
        if validated.error_messages:
            result.update(failed=True, msg="; ".join(validated.error_messages))
            return result
        try:
            result.update(
                module.run(
                    validated.validated_parameters,
                    bool(self._task.check_mode),
                    bool(self._task.diff),
                )
            )
        except ModuleFailure as exc:
            result.update(failed=True, msg=exc.msg, **exc.fields)
        except ClientError as exc:  # a request a module did not expect to fail
            result.update(failed=True, msg=exc.message, status=exc.status, reason=exc.reason)
        return result

    def module_args(self, args):
        """The arguments the module gets (a subclass may add controller-side values)."""
        return args
