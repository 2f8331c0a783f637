"""All cores: with ``jobs > 1`` and more than one file, :func:`replay` reads files on a process pool (each
worker with its own :class:`~identity_auditor.archive.reader.Replayer` and engine), in chunks of consecutive
files; results come back in input order whatever ``jobs`` is, so the same archive gives the same findings
in the same order with ``--jobs 1`` and ``--jobs N``.

    for result in replay(plan_inputs(["trail/"]), jobs=4):   # FileResult per input, in input order
        ...
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from datetime import date, datetime, timezone
from types import MappingProxyType
from typing import IO, Any

from identity_auditor.archive.inputs import InputProblem
from identity_auditor.archive.reader import FileResult, Plan, PlanItems, Replayer, Source, Window, plan_inputs
from identity_auditor.engine import custom_rules
from identity_auditor.engine.registry import TAKEN_IDS, use_custom_rules
from identity_auditor.model.policy import DEFAULT_POLICY, OrgPolicy


def default_jobs() -> int:
    """The cores this process may use."""
    counter = getattr(os, "process_cpu_count", None)
    if counter is not None:
        return counter() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


# A parallel run pays for its workers (each forks and builds its engine: a few tenths of a second in all) and
# gains at most the cores that are free: below this much (compressed) input one process finishes first.
PARALLEL_MIN_BYTES = 24 * 1024 * 1024
_UNKNOWN_SIZE = 64 * 1024  # an input whose size is not known (stdin is never shared out) counts as this much


def auto_jobs(items: Sequence[Source | InputProblem]) -> int:
    """The worker count when ``--jobs`` is not given: 1 for a small input (less than
    :data:`PARALLEL_MIN_BYTES` to read, or a single file), else the cores this process may use that are free
    (:func:`_free_cores`: a busy machine gets fewer workers, down to 1: a pool on cores already taken is slower
    than one process), never more than the files."""
    cores = default_jobs()
    files = total = 0
    for item in items:  # one at a time: a plan of many files is not made into a list of them
        if isinstance(item, Source) and item.kind != "stdin":
            files += 1
            if total < PARALLEL_MIN_BYTES:
                total += item.size if item.size is not None else _local_size(item)
    if cores < 2 or files < 2 or total < PARALLEL_MIN_BYTES:
        return 1
    free = int(_free_cores(cores) + 0.5)
    return max(1, min(cores, free, files))


def _free_cores(cores: int) -> float:
    """How many of ``cores`` nothing else is using: the idle share of the machine's CPU time over a tenth of a
    second (Linux's /proc/stat: what is busy now, not the last minute's average, which still counts a run that
    just ended), else what the load average leaves."""
    sample = _idle_share(0.1)
    if sample is not None:
        return cores * sample
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform: assume nothing else runs
        load = 0.0
    return cores - load


def cpu_ticks() -> tuple[int, int] | None:
    """The machine's CPU time so far, all cores, in clock ticks: ``(idle, total)`` (idle and I/O wait; user,
    nice, system, idle, iowait, irq, softirq, steal), from Linux's /proc/stat; None where there is none."""
    try:
        with open("/proc/stat") as stat:
            values = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(values) < 4:
        return None
    return values[3] + (values[4] if len(values) > 4 else 0), sum(values[:8])


def _idle_share(seconds: float) -> float | None:
    before = cpu_ticks()
    if before is None:
        return None
    import time

    time.sleep(seconds)
    after = cpu_ticks()
    if after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def _local_size(source: Source) -> int:
    if source.kind != "file":
        return _UNKNOWN_SIZE
    try:
        return os.stat(source.name).st_size
    except OSError:
        return 0


def replay(
    inputs: Plan | Iterable[str | Source | InputProblem],
    *,
    jobs: int | None = 1,
    window: Window | None = None,
    since: str | date | datetime | None = None,
    until: str | date | datetime | None = None,
    policy: OrgPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
    stdin: IO[bytes] | None = None,
    chunk_size: int | None = None,
) -> Iterator[FileResult]:
    """Evaluate every input; yield one :class:`FileResult` per input (and per unreadable argument), in
    input order whatever ``jobs`` is.

    ``inputs``: a :class:`Plan`, or paths / ``s3://`` URLs (planned here). ``jobs``: worker processes;
    None chooses from the input's size and the free cores (:func:`auto_jobs`), 0 means every core, 1 evaluates
    in this process. ``window`` or ``since``/``until``
    (inclusive; see :meth:`Window.between`) restrict the records evaluated. ``now`` is the evaluation
    time every worker uses (suppression expiry); default: the time of the call."""
    if window is None:
        window = Window.between(since, until)
    if not isinstance(inputs, Plan):
        inputs = to_plan(inputs, window=window)
    jobs = auto_jobs(inputs.items) if jobs is None else default_jobs() if jobs == 0 else max(1, jobs)
    now = now or datetime.now(timezone.utc)
    if jobs > 1:  # counting the files walks the plan: only when there may be a pool to share them out
        files = sum(1 for item in inputs.items if isinstance(item, Source) and item.kind != "stdin")
        if files > 1:
            return _parallel(inputs.items, jobs, files, policy, window, now, stdin, chunk_size)
    return _sequential(inputs.items, Replayer(policy=policy, window=window, now=now), stdin)


def to_plan(inputs: Iterable[str | Source | InputProblem], *, window: Window | None = None) -> Plan:
    """A plan from paths and ``s3://`` URLs (planned with :func:`plan_inputs`), sources and problems."""
    items = PlanItems()
    pruned = folders = 0
    for item in inputs:
        if isinstance(item, str):
            planned = plan_inputs([item], window=window)
            items.extend(planned.items)
            pruned += planned.pruned
            folders += planned.unlisted_folders
        else:
            items.append(item)
    return Plan(items, pruned, folders)


def _sequential(items: Sequence[Source | InputProblem], replayer: Replayer,
                stdin: IO[bytes] | None) -> Iterator[FileResult]:
    for item in items:
        if isinstance(item, InputProblem):
            yield FileResult(item.origin, read=False, problems=[item])
        else:
            yield replayer.run(item, stdin)


_WORKER: Replayer | None = None


def _init_worker(environment: dict[str, str], policy_state: dict, window: Window | None, now: datetime) -> None:
    """Set up a worker: the parent's environment as it is now (a forkserver keeps the one it started
    with), and a replayer with its own engine."""
    global _WORKER
    os.environ.clear()
    os.environ.update(environment)
    if environment.get(custom_rules.ENVIRONMENT):  # the command line's --rules-dir, checked by the parent
        use_custom_rules(custom_rules.load_directory(environment[custom_rules.ENVIRONMENT], TAKEN_IDS))
    _WORKER = Replayer(policy=_policy_from_state(policy_state), window=window, now=now)


def _run_chunk(sources: list[Source]) -> list[FileResult]:
    assert _WORKER is not None, "worker not initialised"
    return [_WORKER.run(source) for source in sources]


def _pool_context():
    """``fork`` when it is safe: this process runs one thread (no lock can be held by another at the
    fork) and its stdin is a real stream (a forked worker closes it); workers then start at once.
    Else ``forkserver`` (workers fork from a clean process that imported this module), else ``spawn``."""
    import multiprocessing
    import threading

    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1 and (
        sys.stdin is None or callable(getattr(sys.stdin, "close", None))
    ):
        for stream in (sys.stdout, sys.stderr):  # a child must not write again what is buffered here
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])  # workers fork with the engine already imported
        return context
    return multiprocessing.get_context("spawn")


def _parallel(
    items: Sequence[Source | InputProblem],
    jobs: int,
    files: int,
    policy: OrgPolicy,
    window: Window | None,
    now: datetime,
    stdin: IO[bytes] | None,
    chunk_size: int | None,
) -> Iterator[FileResult]:
    from concurrent.futures import ProcessPoolExecutor

    size = chunk_size or max(1, min(32, files // (jobs * 8)))

    def units() -> Iterator[tuple[str, Any]]:
        """("pool", [sources]) | ("here", item), in input order, made as they are submitted (a plan of many
        files is not made into a list of them)."""
        chunk: list[Source] = []
        for item in items:
            if isinstance(item, Source) and item.kind != "stdin":
                chunk.append(item)
                if len(chunk) == size:
                    yield "pool", chunk
                    chunk = []
            else:
                if chunk:
                    yield "pool", chunk
                    chunk = []
                yield "here", item
        if chunk:
            yield "pool", chunk

    chunks = sum(1 for kind, _ in units() if kind == "pool")
    workers = min(jobs, chunks)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_pool_context(),
        initializer=_init_worker,
        initargs=(dict(os.environ), _policy_state(policy), window, now),
    )
    here: list[Replayer] = []  # for stdin and problems, in this process, made when first needed

    def resolve(kind: str, unit: Any) -> Iterator[FileResult]:
        if kind == "pool":
            yield from unit.result()
            return
        if not here:
            here.append(Replayer(policy=policy, window=window, now=now))
        yield from _sequential([unit], here[0], stdin)

    try:
        pending: deque = deque()
        ahead = workers * 4  # chunks in flight: bounds what waits in memory for its turn
        for kind, unit in units():
            pending.append((kind, pool.submit(_run_chunk, unit) if kind == "pool" else unit))
            while len(pending) > ahead:
                yield from resolve(*pending.popleft())
        while pending:
            yield from resolve(*pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _policy_state(policy: OrgPolicy) -> dict:
    """The policy as picklable data (its read-only mappings as plain dicts)."""
    return {f.name: dict(value) if isinstance(value := getattr(policy, f.name), MappingProxyType) else value
            for f in fields(policy)}


def _policy_from_state(state: dict) -> OrgPolicy:
    return OrgPolicy(**{name: MappingProxyType(value) if isinstance(value, dict) else value
                        for name, value in state.items()})
