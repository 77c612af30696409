#!/usr/bin/env python3
"""Import rollouts recorded by scripts/record_rollouts.sh into the repository's test data.

    python scripts/import_rollouts.py /tmp/rec/0.164.0 tests/data/rollouts/0.164.0 [CASE...] [--bundles]

For each case this copies ``codex_home/sessions/**/rollout-*.jsonl`` to ``DEST/CASE/sessions/...``
and the mock model's log to ``DEST/CASE/requests.jsonl.zst`` (zstd) in the corpus layout
(``n``, ``path``, ``headers``, ``body`` without ``tools``, ``mock_plan``), and with ``--bundles``
the trace bundles as ``bundle`` / ``bundle_partK``. The recording's temporary paths are rewritten
the way ../shared/corpus-rollouts does (work directory → /home/dev/project, CODEX_HOME →
/home/dev/.codex) in every file, so rebuilt inputs and recorded requests still agree.
``--compress`` stores requests.jsonl as ``requests.jsonl.zst``; ``--archive`` packs the whole
destination into ``DEST.tar.zst`` (old-version test data; the tests unpack it into a temporary
directory). ``tools`` (the tool schemas, ~7 kB per request and not what the tests compare) is dropped and
listed in ``dropped_keys``.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import sys
import tarfile
from pathlib import Path

import zstandard

WORK = re.compile(r"/tmp/tg-work-[A-Za-z0-9_]+")
HOME = re.compile(r"/tmp/tg-home-[A-Za-z0-9_]+")
KEPT_HEADERS = ("session-id", "thread-id", "x-codex-window-id", "x-codex-turn-metadata", "originator", "user-agent")
DROPPED_BODY_KEYS = ("tools",)


def rewrite(text: str) -> str:
    return HOME.sub("/home/dev/.codex", WORK.sub("/home/dev/project", text))


def convert_request(raw: dict[str, object]) -> dict[str, object]:
    body = dict(raw.get("request") or raw.get("body") or {})  # type: ignore[call-overload]
    dropped = [key for key in DROPPED_BODY_KEYS if key in body]
    for key in dropped:
        del body[key]
    headers = raw.get("headers") or {}
    assert isinstance(headers, dict)
    return {
        "n": raw.get("n"),
        "path": raw.get("path"),
        "headers": {key: headers[key] for key in KEPT_HEADERS if key in headers},
        "body": body,
        "dropped_keys": dropped,
        "mock_plan": raw.get("plan") or raw.get("mock_plan") or {},
    }


def import_case(source: Path, dest: Path, bundles: bool, compress: bool) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    sessions = source / "codex_home" / "sessions"
    if not sessions.is_dir():  # a case of ../shared/corpus-rollouts (already rewritten)
        sessions = source / "sessions"
    files = sorted(sessions.rglob("rollout-*.jsonl"))
    if not files:
        print(f"{source.name}: no rollout files", file=sys.stderr)
        return
    for file in files:
        target = dest / "sessions" / file.relative_to(sessions)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(rewrite(file.read_text(encoding="utf-8")).encode("utf-8"))
    requests = source / "requests.jsonl"
    if not requests.is_file():
        requests = source / "requests.jsonl.zst"
    if requests.is_file():
        lines = []
        raw = requests.read_bytes()
        if requests.suffix == ".zst":
            raw = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
        for line in raw.decode("utf-8").splitlines():
            if line.strip():
                lines.append(json.dumps(convert_request(json.loads(rewrite(line))), ensure_ascii=False))
        data = ("\n".join(lines) + "\n").encode("utf-8")
        if compress:
            # Each request repeats the whole history: zstd shrinks the log ~10x (read with `zstd -dc`).
            (dest / "requests.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=19).compress(data))
        else:
            (dest / "requests.jsonl").write_bytes(data)
    if bundles:
        found = sorted(p for p in source.iterdir() if p.is_dir() and p.name.startswith(("trace-", "bundle")))
        for index, bundle in enumerate(found, 1):
            name = "bundle" if len(found) == 1 else f"bundle_part{index}"
            for file in bundle.rglob("*"):
                if file.is_file():
                    target = dest / name / file.relative_to(bundle)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if file.suffix in (".json", ".jsonl"):
                        target.write_text(rewrite(file.read_text(encoding="utf-8")), encoding="utf-8")
                    else:
                        shutil.copyfile(file, target)
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"{dest}: {len(files)} rollout file(s), {size // 1024} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("cases", nargs="*")
    parser.add_argument("--bundles", action="store_true", help="also copy the trace bundles of each run")
    parser.add_argument("--compress", action="store_true", help="store requests.jsonl zstd-compressed (.zst)")
    parser.add_argument("--archive", action="store_true", help="pack DEST into DEST.tar.zst (and remove DEST)")
    args = parser.parse_args()
    cases = args.cases or sorted(
        p.name for p in args.source.iterdir() if (p / "codex_home").is_dir() or (p / "sessions").is_dir()
    )
    for case in cases:
        import_case(args.source / case, args.dest / case, args.bundles, args.compress)
    if args.archive:
        archive(args.dest)


def archive(dest: Path) -> None:
    """One zstd frame over a tar of DEST: the files repeat each other (base instructions, history),
    which a long-window compressor shares across files (~12x smaller than compressing each file)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(dest.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(dest.parent)))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if path.is_file():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    params = zstandard.ZstdCompressionParameters.from_level(19, window_log=27)
    target = dest.with_name(dest.name + ".tar.zst")
    target.write_bytes(zstandard.ZstdCompressor(compression_params=params).compress(buffer.getvalue()))
    shutil.rmtree(dest)
    print(f"{target}: {target.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
