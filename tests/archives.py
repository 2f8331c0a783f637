"""Large synthetic CloudTrail archives for tests and benchmarks (not shipped with the auditor).

:func:`replicate_invictus` copies the real invictus corpus (``tests/corpus/invictus``) any number of
times with fresh event ids, laid out as CloudTrail lays out its bucket.
"""

from __future__ import annotations

import gzip
import re
import uuid
from pathlib import Path

import orjson

# -- a large archive for tests and benchmarks ------------------------------------------------------------

_INVICTUS_NAME = re.compile(r"^(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{4})(\d{2})(\d{2})T(\d{4})Z_([A-Za-z0-9]+)\.json$")


def invictus_corpus() -> Path:
    """The real invictus CloudTrail archive vendored in ``tests/corpus/invictus``."""
    return Path(__file__).resolve().parent / "corpus" / "invictus"


def replicate_invictus(target_dir: str | Path, copies: int, *, corpus: str | Path | None = None,
                       compresslevel: int = 6) -> tuple[list[Path], int]:
    """Write ``copies`` copies of every invictus log file into ``target_dir`` as gzipped CloudTrail log
    files under CloudTrail's key layout (``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/...json.gz``),
    each record identical but for a fresh ``eventID`` (uuid4). Returns the files written, sorted, and
    the number of records (2,900 per copy: 20 copies give 58,000 records, 104 copies over 300,000)."""
    source_dir = Path(corpus) if corpus else invictus_corpus()
    sources = sorted(p for p in source_dir.glob("*.json") if not p.name.startswith(("_", ".")))
    if not sources:
        raise FileNotFoundError(f"no CloudTrail log files in {source_dir}")
    target = Path(target_dir)
    originals = [(path.name, orjson.loads(path.read_bytes())["Records"]) for path in sources]
    written: list[Path] = []
    total = 0
    for copy in range(copies):
        for name, records in originals:
            match = _INVICTUS_NAME.match(name)
            if match:
                account, region, year, month, day, clock, suffix = match.groups()
                folder = target / "AWSLogs" / account / "CloudTrail" / region / year / month / day
                file_name = f"{account}_CloudTrail_{region}_{year}{month}{day}T{clock}Z_{suffix}{copy:05d}.json.gz"
            else:
                folder = target / "AWSLogs" / "000000000000" / "CloudTrail" / "us-east-1" / "1970" / "01" / "01"
                file_name = f"{Path(name).stem}-{copy:05d}.json.gz"
            folder.mkdir(parents=True, exist_ok=True)
            fresh = [{**record, "eventID": str(uuid.uuid4())} for record in records]
            path = folder / file_name
            path.write_bytes(gzip.compress(orjson.dumps({"Records": fresh}), compresslevel=compresslevel, mtime=0))
            written.append(path)
            total += len(fresh)
    return sorted(written), total


def invictus_in_files_of(target_dir: str | Path, records: int, per_file: int, *, corpus: str | Path | None = None,
                         compresslevel: int = 6) -> tuple[list[Path], int]:
    """``records`` invictus records (the corpus repeated in order, each with a fresh ``eventID``) in gzipped
    CloudTrail log files of ``per_file`` records each (a busy account's delivery: CloudTrail writes a file
    every 5 minutes per region, up to thousands of records), under CloudTrail's key layout, one day folder.
    Returns the files written, sorted, and the number of records."""
    source_dir = Path(corpus) if corpus else invictus_corpus()
    originals = [record for path in sorted(source_dir.glob("*.json")) if not path.name.startswith(("_", "."))
                 for record in orjson.loads(path.read_bytes())["Records"]]
    folder = Path(target_dir) / "AWSLogs" / "218007301253" / "CloudTrail" / "us-east-1" / "2023" / "07" / "10"
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for number, start in enumerate(range(0, records, per_file)):
        chunk = [{**originals[i % len(originals)], "eventID": str(uuid.uuid4())}
                 for i in range(start, min(start + per_file, records))]
        path = folder / f"218007301253_CloudTrail_us-east-1_20230710T1200Z_{number:06d}.json.gz"
        path.write_bytes(gzip.compress(orjson.dumps({"Records": chunk}), compresslevel=compresslevel, mtime=0))
        written.append(path)
    return written, records
