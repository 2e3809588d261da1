"""The idempotent primitives: probe a host first, change only what differs, return a Change.

Each ``ensure_*`` takes a :class:`~helpers.remote.HostConn`, reads the current state
(file digest and metadata, package status, unit state, sysctl values, kernel features),
and acts only where it differs; files are uploaded to a temporary path and moved into
place. This package builds on :mod:`helpers.remote`, which never imports it.

Modules: :mod:`~helpers.ensure.files` (files, directories, binaries),
:mod:`~helpers.ensure.packages`, :mod:`~helpers.ensure.services` (units and the restart
rule), :mod:`~helpers.ensure.kernel` (sysctls, kernel features),
:mod:`~helpers.ensure.templates`.
"""

from helpers.ensure.files import (
    ensure_absent,
    ensure_binary,
    ensure_directory,
    ensure_file,
    ensure_template,
    probe_paths,
)
from helpers.ensure.kernel import (
    ensure_kernel_feature,
    ensure_sysctl,
    kernel_feature_state,
    read_sysctl,
)
from helpers.ensure.packages import ensure_packages
from helpers.ensure.services import (
    STAMP_DIR,
    ensure_service,
    ensure_unit_current,
    inputs_fingerprint,
)
from helpers.ensure.templates import TEMPLATES, render_template

__all__ = [
    "STAMP_DIR",
    "TEMPLATES",
    "ensure_absent",
    "ensure_binary",
    "probe_paths",
    "ensure_directory",
    "ensure_file",
    "ensure_kernel_feature",
    "ensure_packages",
    "ensure_service",
    "ensure_sysctl",
    "ensure_template",
    "ensure_unit_current",
    "inputs_fingerprint",
    "kernel_feature_state",
    "read_sysctl",
    "render_template",
]
