"""The one-box lab: the inventory's hosts as systemd-nspawn machines plus site services.

Nothing outside this package knows the hosts are containers: to the runbook they are
SSH hosts with verified host keys, an apt proxy, an HTTP mirror and DNS at the gateway.

    plan = load_plan("inventories/small.yaml")
    print(up(plan))            # idempotent; repairs what a killed run left behind
    print(status(plan))
    print(down(plan.name))     # ends exactly what up started, restores host settings
"""

from helpers.lab.lab import LabReport, down, down_all, status, up
from helpers.lab.plan import LabPlan, MachinePlan, load_plan, plan_from_inventory

__all__ = [
    "LabPlan",
    "LabReport",
    "MachinePlan",
    "down",
    "down_all",
    "load_plan",
    "plan_from_inventory",
    "status",
    "up",
]
