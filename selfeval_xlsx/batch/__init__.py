"""The monthly batch: read and score every input in parallel, decide which submission of a
project counts, then write the department copies, the reports and the summary.

- :mod:`.options`: how a run behaves and what it did (:class:`RunOptions`, :class:`RunResult`);
- :mod:`.decisions`: superseded submissions and cross-department conflicts, as records;
- :mod:`.store`: the output folder's state (manifest, cached analyses, the lock);
- :mod:`.workers`: the executor (a process pool or a dask cluster) and per-input limits;
- :mod:`.run`: the two phases and the summary.
"""
from .options import RunOptions, RunResult
from .run import run

__all__ = ["RunOptions", "RunResult", "run"]
