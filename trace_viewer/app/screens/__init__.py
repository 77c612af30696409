"""Screens of the viewer: the trace itself, the bundle picker, help and prompts."""
