"""Replay a whole bundle from disk (the offline `reduce`)."""

from __future__ import annotations

import os

from trace_viewer.bundle import Bundle
from trace_viewer.reducer import Fault, Reducer, ReduceError


def reduce_bundle(path: str | os.PathLike[str]) -> Reducer:
    """Reduce every event; on a fault, stop and keep the state before it (see ``reducer.fault``)."""
    bundle = Bundle(path)
    reducer = Reducer(bundle.manifest, bundle.payloads)
    for entry in bundle.entries():
        if entry.error is not None:
            reducer.record_fault(Fault(entry.error, line=entry.line))
            break
        try:
            reducer.apply(entry.event, line=entry.line)
        except ReduceError:
            break
    if reducer.fault is None:
        reducer.finish()
    return reducer
