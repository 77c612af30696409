"""trace_viewer: replay and inspect Codex rollout trace bundles."""

__version__ = "0.1.0"
