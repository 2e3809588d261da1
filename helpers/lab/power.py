"""A lab machine's power switch: off as a power cut, on as a cold boot, its disk kept.

11-resilience stops whole machines. On real hosts that is a BMC's job; in the lab it is
this module's:

- :func:`power_off` is a power cut, not a shutdown: the machine's cable is pulled first
  (its host-side veth down), so nothing it does while dying reaches the others (no etcd
  leadership hand-over, no VRRP priority-0 advert, no graceful memberlist leave), then
  every process in its cgroups gets SIGKILL. Its network namespace goes too, with what
  lived there (addresses keepalived added, flannel's devices, iptables rules, conntrack):
  a powered-off machine answers nothing, not even ARP.
- :func:`power_on` boots it again from the same disk (the overlay's upper directory):
  a fresh network namespace with the machine's address and route, systemd from PID 1,
  every enabled service started by its own unit, as after a real power cut.

    plan = load_plan("inventories/lab.yaml")
    power_off(plan, "kube-mast02")
    ...
    power_on(plan, "kube-mast02")      # returns once sshd answers
"""

from __future__ import annotations

import os
import threading
import time

from helpers.errors import LabError
from helpers.lab import cgroups, machines, network
from helpers.lab.base import ensure_base
from helpers.lab.files import is_mountpoint
from helpers.lab.plan import LabPlan, MachinePlan
from helpers.lab.state import LabState, host_lock


def _machine(plan: LabPlan, name: str) -> MachinePlan:
    found = next((m for m in plan.machines if m.name == name), None)
    if found is None:
        names = ", ".join(m.name for m in plan.machines)
        raise LabError(f"no machine {name!r} in lab {plan.name} (it has {names})")
    return found


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # not this process's child: its own parent reaps it


def is_on(plan: LabPlan, name: str) -> bool:
    """Whether the machine's nspawn process is alive and its root mounted."""
    m = _machine(plan, name)
    rec = LabState.load(plan.name).procs.get(machines.proc_key(m))
    return rec is not None and rec.alive() and is_mountpoint(m.root)


def power_off(plan: LabPlan, name: str) -> float:
    """Cut the machine's power (cable first, then SIGKILL to all it runs); return seconds taken.

    Raises:
        LabError: no such machine, it is already off, or its processes would not end.
    """
    m = _machine(plan, name)
    if not is_on(plan, name):
        raise LabError(f"lab machine {name} is already off")
    started = time.monotonic()
    network.set_machine_link(plan, name, up=False)
    rec = LabState.load(plan.name).procs.get(machines.proc_key(m))
    if rec is not None:
        # booted by this process (power_on): reap it, or its zombie would stay in the cgroup
        threading.Thread(target=_reap, args=(rec.pid,), daemon=True).start()
    cgroups.kill_all(plan.name, name)
    with host_lock():
        state = LabState.load(plan.name)
        machines.stop(m, state, timeout=5)
        network.remove_machine_net(m)
    return time.monotonic() - started


def power_on(plan: LabPlan, name: str, timeout: float = 90.0) -> float:
    """Boot the machine from its disk and wait for its sshd; return seconds until it answers.

    Raises:
        LabError: no such machine, or it did not boot (the console's tail is in the message).
    """
    m = _machine(plan, name)
    if is_on(plan, name):
        return 0.0
    started = time.monotonic()
    with host_lock():
        state = LabState.load(plan.name)
        base, _built = ensure_base(plan.release)
        network.ensure_machine_net(plan, m)
        machines.ensure_root(m, base)
        machines.ensure_identity(plan, m)
        machines.start(m, state)
    machines.wait_ssh(m, LabState.load(plan.name), timeout=timeout)
    return time.monotonic() - started
