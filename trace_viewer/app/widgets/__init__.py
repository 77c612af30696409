"""Widgets grouped by the pane they draw: timeline, context, inspector, panels (header, event bar, usage)."""
