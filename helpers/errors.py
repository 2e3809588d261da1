"""The project's exceptions: one base class, one subclass per kind of failure.

Every error carries structured fields (host, step, command, ...) and a message that
reads as "failed to <verb> <thing> on <host>: <cause>".
"""

from __future__ import annotations


class JourneyError(Exception):
    """Base class of every error the runbook raises on purpose."""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class InventoryError(JourneyError):
    """Raised when an inventory file cannot be read or fails validation.

    ``problems`` is a list of ``(field_path, reason)`` pairs, every problem at once.
    """

    #: At most this many problems are listed, each at most ``MAX_REASON`` characters: a
    #: hostile file must not turn into a message of megabytes.
    MAX_LISTED = 50
    MAX_REASON = 400

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = [(_clip(str(path), 120), _clip(str(reason), self.MAX_REASON)) for path, reason in problems]
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"invalid inventory {self.source}: {len(self.problems)} problem(s)"]
        lines += [f"  {path}: {reason}" for path, reason in self.problems[: self.MAX_LISTED]]
        if len(self.problems) > self.MAX_LISTED:
            lines.append(f"  ... and {len(self.problems) - self.MAX_LISTED} more")
        return "\n".join(lines)


class HostError(JourneyError):
    """Base class of failures that happened on one host during one step."""

    def __init__(self, host: str, step: str, cause: str):
        self.host = host
        self.step = step
        self.cause = cause
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"failed to {self.step} on {self.host}: {self.cause}"


class ConfigError(JourneyError):
    """Raised when local configuration (a key file, known_hosts, a path) is missing or wrong before any host is contacted."""


class UnreachableHost(HostError):
    """Raised when a host cannot be reached over SSH (refused, timed out, no route, auth failed)."""


class HostKeyMismatch(HostError):
    """Raised when a host presents an SSH host key that known_hosts does not list for it."""


class CommandFailed(HostError):
    """Raised when a remote command exits non-zero."""

    def __init__(self, host: str, step: str, command: str, exit_code: int, output: str):
        self.command = command
        self.exit_code = exit_code
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-15:])
        super().__init__(host, step, f"command `{command}` exited {exit_code}\n{tail}")


class ChecksumMismatch(JourneyError):
    """Raised when a downloaded or uploaded file does not have its expected sha256."""

    def __init__(self, name: str, expected: str, actual: str, source: str = "", host: str = ""):
        self.name = name
        self.expected = expected
        self.actual = actual
        self.source = source
        self.host = host
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" on {self.host}" if self.host else ""
        src = f" from {self.source}" if self.source else ""
        return (
            f"failed to verify {self.name}{src}{where}: sha256 mismatch "
            f"(expected {self.expected}, got {self.actual})"
        )


class StepFailed(JourneyError):
    """Raised once at the end of a step when one or more hosts failed; ``failures`` maps host to its error."""

    def __init__(self, title: str, failures: dict[str, BaseException], report=None):
        self.title = title
        self.failures = failures
        self.report = report
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"step '{self.title}' failed on {len(self.failures)} host(s):"]
        for host, err in self.failures.items():
            text = str(err).replace("\n", "\n    ")
            lines.append(f"  {host}: {text}")
        return "\n".join(lines)


class DownloadFailed(JourneyError):
    """Raised when an artifact or its .sha256 file cannot be fetched from its source."""

    def __init__(self, name: str, url: str, cause: str):
        self.name = name
        self.url = url
        self.cause = cause
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"failed to download {self.name} from {self.url}: {self.cause}"


class LabError(JourneyError):
    """Raised when the one-box lab cannot be brought up, inspected or torn down."""


class BuildError(JourneyError):
    """Raised when a release artifact cannot be built from source."""


class NotebookFailed(JourneyError):
    """Raised by the runner when a notebook fails; names the notebook, the cell and the executed copy."""

    def __init__(self, notebook: str, output_path: str, cell: str, error: str):
        self.notebook = notebook
        self.output_path = output_path
        self.cell = cell
        self.error = error
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"failed to run notebook {self.notebook}: {self.error}\n"
            f"  failing cell:\n    " + self.cell.strip().replace("\n", "\n    ") + "\n"
            f"  executed copy: {self.output_path}"
        )
