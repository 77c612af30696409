"""Widgets grouped by the pane they draw: timeline, context, inspector, usage, header, event bar."""
