# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""An ansible-playbook started by labsctl dies with it, and its workers with it.

ansible-runner starts ansible-playbook in a session of its own with SIGHUP ignored, and each
worker makes a session of its own: a labsctl killed with SIGKILL (or by the OOM killer) left
them running, applying, unlocked (the lock's holder, labsctl, is gone) and racing the re-run,
which takes that lock at once. Enabled by `labsctl.runner` only (which names itself in
LABSCTL_PARENT_PID), this callback watches the parent from a daemon thread: once it is gone, it
kills each worker's process group (the worker, its module process and what that started), then
ansible-playbook itself. The collection's actions also ask Linux to kill their worker when
ansible-playbook dies, for when it is the one killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: labsctl_parent_guard
type: aggregate
short_description: ansible-playbook and its workers die with the labsctl that started them
description:
  - Watches the process named by LABSCTL_PARENT_PID; once it is gone, kills the workers'
    process groups and ansible-playbook.
requirements:
  - Linux (/proc)
"""

PARENT = "LABSCTL_PARENT_PID"
POLL_SECONDS = 0.1


def _children() -> list[int]:
    me = os.getpid()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == me:
                found.append(int(entry.name))
    return found


def _stop_everything() -> None:
    for _ in range(2):  # again, for a worker forked while we looked
        for child in _children():
            with contextlib.suppress(OSError):
                os.killpg(child, signal.SIGKILL)  # a worker leads its own group
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    _stop_everything()


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "labsctl_parent_guard"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        parent = os.environ.get(PARENT, "")
        if parent.isdigit():
            threading.Thread(
                target=_watch, args=(int(parent),), name="labsctl-parent-guard", daemon=True
            ).start()
