"""Run steps on the cluster's hosts over SSH (Fabric), in parallel, and change only what differs.

:class:`Fleet` holds one Fabric connection per inventory host. Every connection
authenticates with the inventory's identity file and verifies the host key against the
inventory's ``known_hosts`` file only: an unknown or changed key is refused, never
accepted. :meth:`Fleet.step` runs one function on every selected host in parallel
(bounded by ``max_parallel``); every host runs, failures are collected, and one
:class:`~helpers.errors.StepFailed` is raised at the end naming all of them.

The ``ensure_*`` primitives live in :mod:`helpers.ensure`, which builds on this package
(never the other way round): they probe the host first, change only what differs, and
return a :class:`Change`. Commands run through ``sudo -n`` when the SSH user is not
root. One logger, ``helpers``, gets a line per host and step:
``[host] step: status (detail)``.

Modules: :mod:`~helpers.remote.values` (RunResult, Change), :mod:`~helpers.remote.hostkeys`
(known_hosts and identity files), :mod:`~helpers.remote.connection` (HostConn),
:mod:`~helpers.remote.fleet` (Fleet).
"""

from helpers.remote.connection import HostConn
from helpers.remote.fleet import Fleet
from helpers.remote.values import Change, RunResult

__all__ = ["Change", "Fleet", "HostConn", "RunResult"]
