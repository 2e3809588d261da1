"""How a drill takes a whole machine away on hosts this project cannot power off.

On the lab the notebook passes the lab's power switch (``helpers.lab.power``): a power
cut and a cold boot. Real hosts have no switch this project may pull (that is a BMC's
job), so :func:`service_switch` stops what the machine's roles run instead, and says so:

- a load balancer: keepalived and HAProxy (the VIP moves as it would: no more adverts);
- a master: etcd, the API server, the controller manager and the scheduler;
- a worker: the kubelet and kube-proxy, then every pod's containers (``crictl stopp``),
  so that the node stops reporting and its pods stop answering.

What differs from a lost machine: its address still answers ARP and refuses connections
at once (a dead machine lets them time out), so clients fail faster than they would.
"""

from __future__ import annotations

from helpers.resilience.runner import Switch

SERVICES = {
    "lb": ["keepalived", "haproxy"],
    "master": ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"],
    "worker": ["kubelet", "kube-proxy"],
}


def services_of(host) -> list[str]:
    """The units a host's roles run, in the order they are stopped."""
    units: list[str] = []
    for role in ("lb", "master", "worker"):
        if role in host.roles:
            units += [u for u in SERVICES[role] if u not in units]
    return units


def stop_command(host) -> str:
    """The shell command that takes ``host``'s roles away (see the module's docstring)."""
    units = " ".join(f"{u}.service" for u in services_of(host))
    cmd = f"systemctl stop {units}"
    if "worker" in host.roles:
        cmd += "; crictl stopp $(crictl pods -q) >/dev/null 2>&1 || true"
    return cmd


def start_command(host) -> str:
    """The shell command that brings them back (in reverse order)."""
    return "systemctl start " + " ".join(f"{u}.service" for u in reversed(services_of(host)))


def service_switch(fleet) -> Switch:
    """A :class:`~helpers.resilience.runner.Switch` that stops and starts a host's services over SSH."""
    hosts = {h.name: h for h in fleet.inventory.hosts}

    def off(name: str) -> str:
        cmd = stop_command(hosts[name])
        fleet.hosts(name)[0].run(cmd, timeout=120)
        return f"not a lab: `{cmd}` on {name} (the machine itself keeps running)"

    def on(name: str) -> str:
        cmd = start_command(hosts[name])
        fleet.hosts(name)[0].run(cmd, timeout=180)
        return cmd

    return Switch("not a lab: each drill stops the lost machine's services instead of the machine", off, on)
