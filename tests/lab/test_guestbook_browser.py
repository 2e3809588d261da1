"""The guestbook in a real browser, as a test: Debian's Chromium driven by Playwright, nothing downloaded.

Chromium opens the guestbook at its LoadBalancer address, submits an entry and must see it
listed; the screenshot is kept with the tests' output, ``runs/tests/guestbook-browser.png``
(the notebook keeps its own in the cluster directory). Needs the cluster the notebooks
built through 09 and ``/usr/bin/chromium`` (``ci/setup.sh`` installs it).
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest
from labkit import require

from helpers import guestbook

pytestmark = pytest.mark.lab

OUTPUT = Path(__file__).resolve().parents[2] / "runs" / "tests" / "guestbook-browser.png"


def test_a_visitor_signs_the_guestbook_in_chromium(built_inventory):
    from kubernetes import client

    from helpers.kube import api_client

    why = guestbook.missing_browser()
    if why:
        require(why)
    try:
        client.AppsV1Api(api_client(built_inventory)).read_namespaced_deployment(guestbook.FRONTEND, guestbook.NAMESPACE)
    except Exception as err:  # noqa: BLE001 - no guestbook means 09 has not run
        require(f"no guestbook on the cluster of {built_inventory.path} (09 not run?): {err}")
    entry = f"signed by the browser test at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
    OUTPUT.unlink(missing_ok=True)
    seen = guestbook.visit(guestbook.address(built_inventory), OUTPUT, entry=entry)
    assert seen.ok, seen.problems
    assert ("the list", "the entry is listed: True") in [tuple(r) for r in seen.rows]
    png = OUTPUT.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is a PNG"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 800 and height >= 600, (width, height)
    # and the entry the browser wrote is what the frontend now reads back, from a follower
    read = guestbook.read_entries(guestbook.address(built_inventory))
    assert entry in read["entries"] and read["read_from"]["role"] == "slave"
