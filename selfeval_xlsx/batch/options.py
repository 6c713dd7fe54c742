"""How a run behaves (:class:`RunOptions`) and what it did (:class:`RunResult`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..guard import Limits
from ..intake import Skipped
from ..issues import Issue
from ..models import ProjectResult
from ..vocab import Severity


@dataclass
class RunOptions:
    """How a run behaves. ``workers`` 0 means one per CPU core (on this machine; a cluster
    runs one job per worker thread). ``connect_timeout``: seconds to reach the scheduler and
    to wait for a first worker. ``break_lock``: take over a lock another machine holds."""

    output: Path = Path("output")
    rules_path: Path | None = None
    workers: int = 0
    scheduler: str | None = None
    connect_timeout: float = 10.0
    break_lock: bool = False
    force: bool = False
    report_template: Path | None = None
    reports: bool = True
    limits: Limits = field(default_factory=Limits)


@dataclass
class RunResult:
    """What a run did, for the command line to print and pick its exit code from."""

    output: Path
    inputs: int = 0
    rejected: int = 0
    reused: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    results: list[ProjectResult] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)

    @property
    def scored(self) -> int:
        return sum(r.total is not None for r in self.results)

    def count(self, severity: Severity) -> int:
        return sum(i.severity == severity for i in self.issues)

    @property
    def clean(self) -> bool:
        """Nothing rejected, every project scored, no error of any kind (a report that
        failed to render included)."""
        return (not self.rejected and not any(r.total is None for r in self.results)
                and not any(i.is_error for i in self.issues))
