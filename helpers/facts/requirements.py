"""What the cluster asks of a host: OS, kernel, CPUs and memory per role, clock, ports.

The thresholds :mod:`helpers.facts.checks` compares the gathered facts with, and the
TCP ports each role's services will listen on (:data:`STATS_PORT` is also HAProxy's
stats page, read by :mod:`helpers.loadbalancer`).
"""

from __future__ import annotations

SUPPORTED_OS = {("debian", "12"), ("debian", "13"), ("ubuntu", "22.04"), ("ubuntu", "24.04")}
MIN_KERNEL = (4, 19)  # the oldest LTS kernel Kubernetes still documents support for
MAX_CLOCK_OFFSET = 1.0  # seconds; etcd warns at 1 s of drift between members

# Honest per-role minimums. CPUs: the largest of the host's roles (stacked components
# share cores); memory: the sum (they do not share memory). Memory is compared with
# 10 % slack because the kernel keeps part of the RAM: a "2 GiB" VM reports ~1.9 GiB.
MIN_CPUS = {"lb": 1, "etcd": 1, "master": 2, "worker": 1}
MIN_MEMORY_MIB = {"lb": 512, "etcd": 1024, "master": 2048, "worker": 1024}
MEMORY_SLACK = 0.9

STATS_PORT = 8404
"""HAProxy's stats page on each load balancer's own address (see helpers.loadbalancer)."""

# Ports each role's services will listen on, and the process expected to hold them once
# the cluster is built (names as ``ss`` shows them: the kernel cuts them to 15 chars).
ROLE_PORTS: dict[str, dict[int, str]] = {
    "lb": {6443: "haproxy", STATS_PORT: "haproxy"},
    "master": {6443: "kube-apiserver", 10257: "kube-controller-manager", 10259: "kube-scheduler"},
    "etcd": {2379: "etcd", 2380: "etcd"},
    "worker": {10250: "kubelet", 10256: "kube-proxy"},
}
