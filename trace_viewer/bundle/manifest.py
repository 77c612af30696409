"""The bundle manifest: what the trace is, checked before anything else is read."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trace_viewer.bundle._files import describe_os_error, open_regular
from trace_viewer.bundle.event_log import parse_json_bytes
from trace_viewer.errors import BundleError

MANIFEST_FILE = "manifest.json"
# Schema versions whose reduction rules this viewer implements.
KNOWN_SCHEMAS = (1, 2, 3)
# A manifest is a few hundred bytes; anything huge is not one, and must not be slurped.
MAX_MANIFEST_BYTES = 1 << 20

# Field -> expected JSON type. raw_event_log / payloads_dir are ignored by the
# official reducer (the names are fixed), so they are not required here either.
_REQUIRED: dict[str, type] = {
    "schema_version": int,
    "trace_id": str,
    "rollout_id": str,
    "root_thread_id": str,
    "started_at_unix_ms": int,
}


def load_manifest(bundle_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate ``manifest.json``; raise ``BundleError`` naming the file on any problem."""
    path = Path(bundle_dir) / MANIFEST_FILE
    try:
        with open_regular(path) as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise BundleError(MANIFEST_FILE, f"missing (no {MANIFEST_FILE} in {bundle_dir})") from None
    except OSError as error:
        raise BundleError(MANIFEST_FILE, f"cannot read: {describe_os_error(error)}") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise BundleError(MANIFEST_FILE, "is too large to be a manifest")
    try:
        manifest = parse_json_bytes(data)  # guarded against nesting deep enough to crash the parser
    except ValueError as error:
        raise BundleError(MANIFEST_FILE, f"invalid JSON ({error})") from None
    return validate_manifest(manifest)


def validate_manifest(manifest: object) -> dict[str, Any]:
    """The manifest, once the fields replay depends on are checked to have the documented types."""
    if not isinstance(manifest, dict):
        raise BundleError(MANIFEST_FILE, "is not a JSON object")
    for name, kind in _REQUIRED.items():
        if name not in manifest:
            raise BundleError(MANIFEST_FILE, f"missing field `{name}`")
        value = manifest[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise BundleError(MANIFEST_FILE, f"field `{name}` must be {'an integer' if kind is int else 'a string'}")
    if manifest["schema_version"] < 1:
        raise BundleError(MANIFEST_FILE, f"invalid schema_version {manifest['schema_version']}")
    return manifest


def manifest_warnings(manifest: dict[str, Any]) -> list[str]:
    """Things worth telling the user that do not stop replay."""
    version = manifest.get("schema_version")
    if version not in KNOWN_SCHEMAS:
        return [
            (
                f"trace schema {version} is newer than this viewer knows ({KNOWN_SCHEMAS[-1]}): "
                f"reduced by schema {KNOWN_SCHEMAS[-1]} rules, events of unknown types skipped (shown raw)"
            )
        ]
    return []
