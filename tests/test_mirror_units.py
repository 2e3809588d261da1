"""The mirror's build units without building: CoreDNS's plugin set, the runtime units, progress reports."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from helpers import artifacts, coredns
from helpers.errors import BuildError
from helpers.mirror import cli
from helpers.mirror import coredns as coredns_build
from helpers.mirror.progress import Progress

VERSIONS = artifacts.load_versions()

PLUGIN_CFG = """\
# comment
root:root
reload:reload
errors:errors
prometheus:metrics
kubernetes:kubernetes
on:github.com/coredns/caddy/onevent
forward:forward
"""


def corefile_directives(text: str) -> set[str]:
    """The plugin directives of a one-server-block Corefile (first word of each top-level line)."""
    names = set()
    depth = 0
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if depth == 1 and not stripped.startswith("}"):
            names.add(stripped.split()[0])
        depth += stripped.count("{") - stripped.count("}")
    return names


def test_the_corefile_uses_only_plugins_the_image_has():
    used = corefile_directives(coredns.render_corefile("cluster.local"))
    assert {"kubernetes", "forward", "cache", "health", "ready"} <= used
    assert used <= set(coredns_build.PLUGINS), f"not compiled in: {used - set(coredns_build.PLUGINS)}"


def test_main_go_registers_plugins_in_plugin_cfg_order():
    text = coredns_build.main_go(PLUGIN_CFG, ("forward", "errors", "prometheus", "kubernetes", "on"))
    assert '_ "github.com/coredns/coredns/plugin/metrics"' in text      # prometheus lives in plugin/metrics
    assert '_ "github.com/coredns/caddy/onevent"' in text               # a full package path stays as is
    order = [line.strip().strip('",') for line in text.split("Directives = []string{", 1)[1].split("}", 1)[0].splitlines()
             if line.strip()]
    assert order == ["errors", "prometheus", "kubernetes", "on", "forward"]
    assert "root" not in text and "reload" not in text


def test_main_go_refuses_a_plugin_upstream_does_not_have():
    with pytest.raises(BuildError, match="plugin.cfg has no plugin nosuch"):
        coredns_build.main_go(PLUGIN_CFG, ("errors", "nosuch"))


def test_every_published_artifact_has_one_unit_and_upstream_path():
    paths = {}
    for unit in cli.units(VERSIONS):
        for out in unit.outputs:
            assert out.release == artifacts.release(out.release.name, VERSIONS), out.release.name
            assert out.release.path not in paths, f"{out.release.path} published by {paths.get(out.release.path)} and {unit.name}"
            paths[out.release.path] = unit.name
    assert set(artifacts.artifact_names(VERSIONS)) == {
        out.release.name for unit in cli.units(VERSIONS) for out in unit.outputs
    }


def test_runtime_units_in_the_build_order():
    names = [u.name for u in cli.units(VERSIONS)]
    for unit in ("containerd", "containerd-service", "runc", "cni-plugins", "crictl"):
        assert unit in names
    assert names.index("kubernetes") < names.index("agnhost")   # agnhost reuses Kubernetes' packages


def test_progress_estimates_and_stops_reporting_when_a_unit_fails(caplog, tmp_path, monkeypatch):
    monkeypatch.setenv("KJ_CACHE_DIR", str(tmp_path))
    chosen = cli.select(cli.units(VERSIONS), ["crictl", "runc"])
    progress = Progress(chosen, interval=0.02)
    assert progress.remaining() == pytest.approx(27 + 16)        # TYPICAL_SECONDS: no build on record
    before = threading.active_count()
    caplog.set_level(logging.INFO, logger="helpers.mirror.progress")
    with pytest.raises(RuntimeError), progress.track(chosen[0], "building"):
        time.sleep(0.1)
        raise RuntimeError("the build failed")
    assert threading.active_count() == before                      # the reporter thread ended
    text = caplog.text
    assert "[1/2] crictl" in text and "packages compiled" in text and "left" in text
    progress.done(chosen[0], 20.0, "built")
    assert progress.remaining() == pytest.approx(16)
