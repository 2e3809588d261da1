"""09-applications: the guestbook (Redis leader on a volume, two followers, three frontends) behind a MetalLB address.

- :mod:`~helpers.guestbook.objects`: the objects, as dictionaries;
- :mod:`~helpers.guestbook.install`: apply them and wait (:func:`ensure_guestbook`);
- :mod:`~helpers.guestbook.checks`: verification from the operator's machine (:func:`verify_guestbook`);
- :mod:`~helpers.guestbook.drills`: a lost frontend, scaling, a restarted leader, probed;
- :mod:`~helpers.guestbook.browser`: the page in Debian's Chromium (:func:`visit`);
- :mod:`~helpers.guestbook.figure`: the probes drawn.
"""

from helpers.guestbook.browser import missing_browser, visit
from helpers.guestbook.checks import call, read_entries, verify_guestbook
from helpers.guestbook.drills import (
    DRILLS,
    Drilled,
    drill,
    lose_frontend,
    restart_leader,
    scale_frontend,
)
from helpers.guestbook.figure import plot_probes
from helpers.guestbook.install import ensure_guestbook
from helpers.guestbook.objects import (
    FOLLOWER,
    FRONTEND,
    LEADER,
    NAMESPACE,
    REPLICAS,
    address,
    documents,
)
from helpers.guestbook.redis import redis_cli, replication

__all__ = [
    "DRILLS", "FOLLOWER", "FRONTEND", "LEADER", "NAMESPACE", "REPLICAS", "Drilled", "address", "call", "documents",
    "drill", "ensure_guestbook",
    "lose_frontend", "missing_browser", "plot_probes", "read_entries", "redis_cli", "replication", "restart_leader",
    "scale_frontend", "verify_guestbook", "visit",
]
