"""How a run behaves (:class:`RunOptions`) and what it did (:class:`RunResult`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..guard import Limits
from ..intake import Skipped
from ..issues import Issue
from ..models import ProjectResult
from ..vocab import Severity

if TYPE_CHECKING:
    from ..targets import Targets


@dataclass
class RunOptions:
    """How a run behaves. ``workers`` 0 means one per CPU core (on this machine; a cluster
    runs one job per worker thread); ``strict`` makes an empty narrative cell an error (no
    score, no report) instead of a warning. ``targets``: the approved targets to compare with
    (see :func:`selfeval_xlsx.targets.load_targets`), and ``score_on_approved`` to score on
    them; ``replies``: write one reply draft per department into ``replies/`` (with the
    reports attached too: ``replies_with_reports``). ``connect_timeout``: seconds to reach
    the scheduler and to wait for a first worker. ``break_lock``: take over a lock another
    machine holds."""

    output: Path = Path("output")
    rules_path: Path | None = None
    workers: int = 0
    scheduler: str | None = None
    connect_timeout: float = 10.0
    break_lock: bool = False
    force: bool = False
    report_template: Path | None = None
    reports: bool = True
    strict: bool = False  # an empty narrative cell is an error that holds the report back
    limits: Limits = field(default_factory=Limits)
    targets: Targets | None = None
    score_on_approved: bool = False
    replies: bool = False
    replies_with_reports: bool = False


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
    replies: list[Path] = field(default_factory=list)
    rejections: dict[str, list[Issue]] = field(default_factory=dict)  # rejected input -> why

    @property
    def counted(self) -> list[ProjectResult]:
        """The projects that count: all but those a newer submission replaced (DOMAIN §8)."""
        return [r for r in self.results if not r.superseded_by]

    @property
    def superseded(self) -> list[ProjectResult]:
        """The projects a newer submission replaced (状态 已取代)."""
        return [r for r in self.results if r.superseded_by]

    @property
    def scored(self) -> int:
        return sum(r.total is not None for r in self.counted)

    def count(self, severity: Severity) -> int:
        return sum(i.severity == severity for i in self.issues)

    @property
    def clean(self) -> bool:
        """Nothing rejected, every project that counts scored, no error of any kind (a
        report that failed to render included)."""
        return (not self.rejected and not any(r.total is None for r in self.counted)
                and not any(i.is_error for i in self.issues))
