# Copyright: The labsctl authors
# Apache License 2.0 (see LICENSE in the repository root)
"""Run a module of this collection once for every residency of the play's batch.

Each task execution costs Ansible a worker fork, its templating and its result handling, about
30-50 ms whatever the task does; at 50 residencies and 10 tasks that is most of a no-op apply
(bench/results/profile.md). A batched action (`BYPASS_HOST_LOOP`) runs once for the play's
batch and does, for each residency (inventory host), what the task would have done on it:

- its arguments are templated with that residency's own variables (role defaults, inventory,
  facts, registered results), as Ansible would have templated them for it;
- the variables of the task's role are checked against the role's `meta/argument_specs.yml`
  when the role was imported without Ansible's own check (`rolespec_validate: false`);
- the module's `run` is called in a thread per residency (at most `LABSCTL_BATCH_CONCURRENCY`,
  8 by default), with one client and one discovery per cluster (`shared_clients`).

One residency's failure does not fail the others: the task itself never fails for it. Its
result holds each residency's own result under `residencies.<residency>`; failed residencies
are recorded in the fact `labsctl_failed_residencies` ({residency: {msg, reason, ...}}), which
every later batched task reads to leave them alone (a residency whose role failed is neither
applied further nor pruned), and which the playbooks turn into a failure of just those hosts at
their end. The task's own `when` is decided once for the batch: conditions that differ between
residencies are arguments (k8s_apply's `enabled` and `sets[].when`). A task delegated to
another host (any connection but `local`) runs the module there, once per residency.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.template import is_trusted_as_template
from ansible_collections.labsctl.residency.plugins.module_utils.client import (
    ClientError,
    shared_clients,
)
from ansible_collections.labsctl.residency.plugins.module_utils.results import ModuleFailure
from ansible_collections.labsctl.residency.plugins.plugin_utils.in_process import (
    COLLECTION,
    die_with_the_play,
)

FAILED_FACT = "labsctl_failed_residencies"
CONCURRENCY_ENV = "LABSCTL_BATCH_CONCURRENCY"
DEFAULT_CONCURRENCY = 8
_FAILURE_KEYS = ("msg", "reason", "object", "status")


def concurrency():
    try:
        return max(1, int(os.environ.get(CONCURRENCY_ENV, DEFAULT_CONCURRENCY)))
    except ValueError:
        return DEFAULT_CONCURRENCY


class BatchedAction(ActionBase):
    """Subclasses name their module in `module`."""

    BYPASS_HOST_LOOP = True
    module = ""
    leaves_failed_alone = True  # residencies that failed in an earlier task are passed over
    _supports_check_mode = True
    _supports_async = False

    @classmethod
    def finalize_task_arg(cls, name, value, templar, context):
        return value  # templated in `run`, once for each residency with its own variables

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        failed = dict((task_vars.get("ansible_facts") or {}).get(FAILED_FACT) or {})
        batch = list(task_vars.get("ansible_play_batch") or [])
        if task_vars["inventory_hostname"] not in batch:
            # A failed host's task: an `always` after a task that failed every residency.
            batch = list(task_vars.get("ansible_play_hosts_all") or [])
            batch = batch or [task_vars["inventory_hostname"]]
        hosts = [h for h in batch if h not in failed or not self.leaves_failed_alone]
        if self._connection.transport == "local" and not die_with_the_play():
            result.update(
                failed=True,
                reason="Orphaned",
                msg="ansible-playbook, which started this worker, is gone: nothing was done",
            )
            return result
        module = importlib.import_module(
            f"ansible_collections.labsctl.residency.plugins.modules.{self.module}"
        )
        outcomes, prepared = {}, {}
        for host in hosts:
            host_vars = task_vars if host == task_vars["inventory_hostname"] else None
            try:
                host_vars = host_vars or self._variables_of(host, task_vars)
                args, outcome = self._arguments(module, host_vars)
            except AnsibleError as exc:
                args, outcome = None, _failure(f"cannot template the task's arguments: {exc}")
            if outcome is not None:
                outcomes[host] = outcome
            else:
                prepared[host] = (args, host_vars)
        ran = self._run_all(module, prepared)
        outcomes.update({h: o if o.get("failed") else self.finish(o) for h, o in ran.items()})
        return self._combine(result, hosts, outcomes, failed)

    # -- per residency -------------------------------------------------------------------------

    def _variables_of(self, host, task_vars):
        """The variables Ansible would give this task on `host`."""
        manager = self._task.get_variable_manager()
        return manager.get_vars(
            play=self._task.get_play(),
            host=manager._inventory.get_host(host),
            task=self._task,
            _hosts=task_vars.get("ansible_play_hosts_all"),
            _hosts_all=task_vars.get("ansible_play_hosts_all"),
        )

    def _arguments(self, module, host_vars):
        """(validated parameters, None), or (None, an outcome that ends the residency's task)."""
        missing = objects_not_read(host_vars)
        if missing:
            return None, _failure(missing, reason="ObjectsNotRead")
        templar = self._templar.copy_with_new_env(available_variables=host_vars)
        problems = self._role_problems(templar, host_vars)
        if problems:
            return None, _failure(problems, reason="InvalidArguments")
        args = self.module_args(template_data(templar, dict(self._task.args), host_vars))
        skip = self.skip_reason(args)
        if skip:
            return None, {"changed": False, "skipped": True, "skip_reason": skip}
        if self._connection.transport != "local":
            return args, None  # the module validates them where it runs
        validated = ArgumentSpecValidator(module.ARGUMENT_SPEC).validate(plain(args))
        if validated.error_messages:
            return None, _failure("; ".join(validated.error_messages), reason="InvalidArguments")
        return validated.validated_parameters, None

    def _role_problems(self, templar, host_vars):
        """The task's role arguments checked as `validate_argument_spec` would, when Ansible
        was told not to (a play that imports the role with `rolespec_validate: false`)."""
        role = self._task._role
        if role is None or role._should_validate:
            return ""
        spec = (role._get_role_argspecs().get("main") or {}).get("options") or {}
        provided = {k: _value_of(templar, host_vars, k) for k in spec if k in host_vars}
        validated = ArgumentSpecValidator(spec).validate(provided)
        if not validated.error_messages:
            return ""
        return (
            f"the variables of role {role.get_name()} do not match its meta/argument_specs.yml: "
            + "; ".join(validated.error_messages)
        )

    def _run_all(self, module, prepared):
        if self._connection.transport != "local":
            return {
                host: self._execute_module(
                    module_name=f"{COLLECTION}.{self.module}",
                    module_args=args,
                    task_vars=host_vars,
                )
                for host, (args, host_vars) in prepared.items()
            }
        check, diff = bool(self._task.check_mode), bool(self._task.diff)
        workers = min(concurrency(), len(prepared)) or 1
        with shared_clients(), ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {
                host: pool.submit(_guarded, self.run_one, module, ready[0], check, diff, host)
                for host, ready in prepared.items()
            }
            return {host: future.result() for host, future in futures.items()}

    # -- the task's result ---------------------------------------------------------------------

    def _combine(self, result, hosts, outcomes, failed):
        residencies = {host: outcomes[host] for host in hosts}
        newly = {
            host: {k: o[k] for k in _FAILURE_KEYS if o.get(k) is not None}
            for host, o in residencies.items()
            if o.get("failed")
        }
        for failure in newly.values():
            failure["task"] = self._task.get_name()
            failure["role"] = self._task._role.get_name() if self._task._role else ""
        diffs, warnings, facts = [], [], {}
        for host, outcome in residencies.items():
            diffs.extend(outcome.pop("diff", None) or [])
            warnings.extend(f"{host}: {w}" for w in outcome.pop("warnings", None) or [])
            if outcome.get("ansible_facts") is not None:
                facts[host] = outcome.pop("ansible_facts")
        result.update(
            changed=any(o.get("changed") for o in residencies.values()),
            residencies=residencies,
        )
        if newly and len(newly) == len(residencies):
            # Every residency failed: the task fails (and so every host), with the message of
            # its residency when it had one, as the module run on its own would.
            if len(newly) == 1:
                only = next(iter(newly.values()))
                result.update(failed=True, **{k: only[k] for k in _FAILURE_KEYS if k in only})
            else:
                result.update(
                    failed=True,
                    msg="every residency failed: "
                    + "; ".join(f"{h}: {f.get('msg', '')}" for h, f in newly.items()),
                )
        if self._task.diff:
            result["diff"] = diffs
        if warnings:
            result["warnings"] = warnings
        shared = {}
        if facts:
            values = list(facts.values())
            if len(facts) == len(hosts) - len(newly) and all(v == values[0] for v in values):
                shared = dict(values[0])  # the same for every residency: a fact of each host
            else:
                result["facts_by_residency"] = facts  # the role's next task gives them out
        result["ansible_facts"] = {**shared, FAILED_FACT: {**failed, **newly}}
        return result

    # -- what a subclass may change ------------------------------------------------------------

    def module_args(self, args):
        """The arguments the module gets (a subclass may add controller-side values)."""
        return args

    def skip_reason(self, args):
        """Why this residency has nothing to do with these arguments, or None."""
        del args

    def run_one(self, module, params, check_mode, diff, host):
        """One residency's run of the module (in a thread of its own)."""
        del host
        return module.run(params, check_mode, diff)

    def finish(self, outcome):
        """A residency's successful outcome, as the task registers it."""
        return outcome


# Templating walks and copies every value, about 5 ms an object on Ansible 2.19, and the
# argument spec validator deep-copies tagged values at a similar cost: 0.1-0.2 s a residency for a
# role's objects. A value that holds no template (the objects of a labsctl inventory, marked
# `!unsafe`) would come out of templating as it went in, so an argument that is just a variable
# (`"{{ namespaces_objects }}"`) takes that variable's value as plain data, as a module process
# would receive it; anything else is templated by Ansible.
_VARIABLE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_PLACEHOLDER = "\0labsctl-batch-value-{}"


def objects_not_read(host_vars):
    """Why a labsctl inventory's residency has no objects, or "": from inventory format 2 on,
    they are in `host_vars/<residency>.objects.json`, which only the collection's vars plugin
    reads. Without it the roles would see no objects and prune would keep nothing."""
    try:
        inventory_format = int(host_vars.get("labsctl_inventory_format") or 0)
    except (TypeError, ValueError):
        return ""
    if inventory_format < 2 or "labsctl_keep" in host_vars:
        return ""
    residency = host_vars.get("inventory_hostname")
    return (
        f"the objects of residency {residency} were not read: host_vars/{residency}.objects.json"
        " is read by the vars plugin labsctl.residency.residency_objects, which did not run."
        " Run the playbooks of the labsctl repository (playbooks/vars_plugins has it), or enable"
        " it: vars_plugins_enabled = ansible.builtin.host_group_vars,"
        " labsctl.residency.residency_objects"
    )


def template_data(templar, args, host_vars):
    """`args` templated with `host_vars` (see above)."""
    taken = []

    def swap(value):
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        if isinstance(value, str) and is_trusted_as_template(value):
            found = _VARIABLE.match(value)
            if found and found.group(1) in host_vars:
                raw = host_vars[found.group(1)]
                if isinstance(raw, (dict, list)) and not _holds_template(raw):
                    taken.append(plain(raw))
                    return _PLACEHOLDER.format(len(taken) - 1)
        return value

    def put_back(value):
        if isinstance(value, dict):
            return {k: put_back(v) for k, v in value.items()}
        if isinstance(value, list):
            return [put_back(v) for v in value]
        if isinstance(value, str) and value.startswith("\0labsctl-batch-value-"):
            return taken[int(value.rsplit("-", 1)[1])]
        return value

    return put_back(templar.template(swap(args)))


def _value_of(templar, host_vars, name):
    raw = host_vars[name]
    if isinstance(raw, (dict, list)) and not _holds_template(raw):
        return plain(raw)
    return plain(templar.template(raw))


def _holds_template(value):
    if isinstance(value, str):
        return is_trusted_as_template(value)
    if isinstance(value, dict):
        return any(_holds_template(k) or _holds_template(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_template(v) for v in value)
    return False


def plain(value):
    """`value` as plain JSON data, as a module process receives its arguments."""
    return json.loads(json.dumps(value, default=str))


def by_cluster(prepared):
    """{(kubeconfig, context, request_timeout): [residency, ...]} of `prepared` parameters: the
    residencies reached in one way, on one cluster."""
    clusters = {}
    for host, ready in prepared.items():
        params = ready[0]
        way = (params["kubeconfig"], params["context"], params["request_timeout"])
        clusters.setdefault(way, []).append(host)
    return clusters


def _failure(msg, **fields):
    return {"failed": True, "changed": False, "msg": msg, **fields}


def _guarded(run_one, *args):
    """One residency's run of the module: its result, or its failure as a result."""
    try:
        return run_one(*args)
    except ModuleFailure as exc:
        return _failure(exc.msg, **exc.fields)
    except ClientError as exc:  # a request the module did not expect to fail
        return _failure(exc.message, status=exc.status, reason=exc.reason or "Error")
    except Exception as exc:  # one residency's crash must not end the others
        return _failure(
            f"{type(exc).__name__}: {exc}", reason="Error", exception=traceback.format_exc()
        )
