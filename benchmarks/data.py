"""Where benchmark bundles come from, and derived bundles (prefixes) built from them."""

from __future__ import annotations

import os
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.procs import REPO_ROOT

DATA_DIR = Path(__file__).resolve().parent / "data"
LARGE_ARCHIVE = DATA_DIR / "large_trace.tar.xz"
LARGE_ENV = "TRACE_VIEWER_BENCH_LARGE"
# The same session recorded with Codex 0.171.0: schema 3, payloads in 16 zstd shards.
LARGE3_ARCHIVE = DATA_DIR / "large_trace_schema3.tar.xz"
LARGE3_ENV = "TRACE_VIEWER_BENCH_LARGE3"
CORPUS_ENV = "TRACE_VIEWER_CORPUS"

_PAYLOAD_PATH = re.compile(rb'"path":"([^"]+)"')


@dataclass(slots=True)
class BundleInfo:
    path: Path
    events: int
    payload_files: int
    size_bytes: int

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6


def describe(bundle: Path) -> BundleInfo:
    """Event count and on-disk size of a bundle (manifest + log + payloads)."""
    log = bundle / "trace.jsonl"
    events = sum(1 for line in log.read_bytes().split(b"\n") if line.strip())
    size = log.stat().st_size + (bundle / "manifest.json").stat().st_size
    files = 0
    payloads = bundle / "payloads"
    if payloads.is_dir():
        for entry in os.scandir(payloads):
            files += 1
            size += entry.stat().st_size
    return BundleInfo(bundle, events, files, size)


def find_bundle(path: Path) -> Path | None:
    """``path`` itself if it is a bundle, else the newest bundle directory below it (depth ≤ 2)."""
    if (path / "manifest.json").is_file():
        return path
    if not path.is_dir():
        return None
    found = [p.parent for p in path.glob("*/manifest.json")] + [p.parent for p in path.glob("*/*/manifest.json")]
    found = [p for p in found if (p / "trace.jsonl").is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def extract_archive(archive: Path, dest: Path) -> Path | None:
    """Unpack a bundle archive (tar, optionally compressed) into ``dest``; return the bundle inside."""
    with tarfile.open(archive) as tar:
        try:
            tar.extractall(dest, filter="data")  # refuses links/paths leaving dest
        except TypeError:  # Python < 3.11.4 has no extraction filters
            for member in tar.getmembers():
                if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in member.name:
                    raise ValueError(f"unexpected archive member {member.name!r}") from None
            tar.extractall(dest)  # members checked above
    return find_bundle(dest)


def corpus_dir(cli_value: str | None) -> Path:
    """The schema 2 ground-truth corpus (holds ``long_session``)."""
    if cli_value:
        return Path(cli_value)
    if os.environ.get(CORPUS_ENV):
        return Path(os.environ[CORPUS_ENV])
    return (REPO_ROOT / ".." / "shared" / "corpus").resolve()


def large_source(
    cli_value: str | None, *, flag: str = "--large", env: str = LARGE_ENV, archive: Path = LARGE_ARCHIVE
) -> tuple[Path | None, str]:
    """Where a large trace is: flag, then env var, then the committed archive, then ../bench_data/large
    (schema 2 only).

    Returns the path (a bundle, a directory holding one, or an archive) and how it was chosen.
    """
    if cli_value:
        return Path(cli_value), flag
    if os.environ.get(env):
        return Path(os.environ[env]), env
    if archive.is_file():
        return archive, "benchmarks/data"
    fallback = (REPO_ROOT / ".." / "bench_data" / "large").resolve()
    if archive == LARGE_ARCHIVE and fallback.exists():
        return fallback, "../bench_data/large"
    return None, "not found"


def materialise_large(source: Path, workdir: Path, name: str = "large") -> Path | None:
    """A bundle directory for ``source``, extracting it under ``workdir/name`` if it is an archive."""
    if source.is_file():
        return extract_archive(source, workdir / name)
    return find_bundle(source)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def prefix_bundles(bundle: Path, fractions: list[float], workdir: Path) -> list[tuple[float, Path]]:
    """Bundles holding the first events of ``bundle``, cut where the referenced payload bytes
    reach each fraction of the total.

    A prefix is exactly what a reader sees while Codex is still writing the trace, so both
    reducers accept it; the sizes are what the growth rows compare. Payload files are
    hard-linked (copied across filesystems) and only those the prefix references are included.
    """
    lines = [line for line in (bundle / "trace.jsonl").read_bytes().split(b"\n") if line.strip()]
    refs_per_line: list[list[str]] = []
    sizes: dict[str, int] = {}
    for line in lines:
        refs = [m.decode() for m in _PAYLOAD_PATH.findall(line)]
        refs_per_line.append(refs)
        for ref in refs:
            if ref not in sizes:
                target = bundle / ref
                sizes[ref] = target.stat().st_size if target.is_file() else 0
    total = sum(sizes.values()) + sum(len(line) + 1 for line in lines)
    out: list[tuple[float, Path]] = []
    for fraction in fractions:
        if fraction >= 1.0:
            out.append((fraction, bundle))
            continue
        budget = fraction * total
        seen: set[str] = set()
        used = 0
        cut = 0
        for cut, (line, refs) in enumerate(zip(lines, refs_per_line), start=1):
            used += len(line) + 1 + sum(sizes[r] for r in refs if r not in seen)
            seen.update(refs)
            if used >= budget:
                break
        dest = workdir / f"prefix_{int(fraction * 100)}"
        (dest / "payloads").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundle / "manifest.json", dest / "manifest.json")
        (dest / "trace.jsonl").write_bytes(b"\n".join(lines[:cut]) + b"\n")
        for ref in seen:
            if (bundle / ref).is_file():
                (dest / ref).parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(bundle / ref, dest / ref)
        out.append((fraction, dest))
    return out
