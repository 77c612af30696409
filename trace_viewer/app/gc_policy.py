"""How the interactive app tunes CPython's garbage collector — the one place that does.

Why: a loaded large trace is a heap of a few hundred thousand container objects
(state dicts, item versions, timeline rows) that live as long as the viewer.
With the default thresholds, the frames drawn while scrubbing allocate enough
short-lived objects to trigger full (generation 2) collections every few key
presses, and each walks the whole heap: 150–370 ms pauses, the p95 misses of the
scrub benchmark. Two measures remove them (measured together: p95 step/jump
under 50 ms on the large trace):

- ``freeze_loaded_state()`` after each slice of a progressive load and once a
  bundle has finished loading: ``gc.freeze()`` moves everything alive into the
  permanent generation, which collections skip. Frozen objects are still freed by
  reference counting; only cycles among them would stay, and the state is plain
  trees of dicts and lists; the young generations are collected just before, so
  no garbage cycle of the moment is frozen. While loading, this spares the
  collections that walk the growing state: with the raised thresholds alone, the
  load of the large schema 3 trace still met one full collection of it
  (≈ 100–200 ms) and a few of generation 1 (≈ 60 ms each); a young collection
  before each freeze costs ≈ 3 ms per 50 ms slice.
- ``install()`` while the app runs: a larger generation-0 threshold, so young
  collections (and the older ones they cascade into) run rarely. Not too large:
  a young collection's cost grows with it (at 50,000 one took ≈ 17 ms, in the
  middle of a frame); 20,000 gave the best p95 over 5,000–50,000.

The CLI's ``reduce``/``context`` never import this: it only concerns the UI.
"""

from __future__ import annotations

import gc

# Allocations (minus deallocations) between young collections; CPython's default is 700.
GEN0_THRESHOLD = 20_000
GEN1_THRESHOLD = 10
GEN2_THRESHOLD = 10

_saved: tuple[int, int, int] | None = None


def install() -> None:
    """Raise the collection thresholds for the lifetime of the app (``restore`` undoes it)."""
    global _saved
    if _saved is None:
        _saved = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)


def freeze_loaded_state() -> None:
    """Exempt everything alive now (the loaded trace) from future collections.

    The young generations are collected first, so garbage cycles of the moment are freed rather
    than frozen (a few milliseconds: they only hold what was allocated since the last freeze).
    """
    gc.collect(1)
    gc.freeze()


def restore() -> None:
    """Back to the thresholds from before ``install``; frozen objects become collectable again."""
    global _saved
    if _saved is not None:
        gc.set_threshold(*_saved)
        _saved = None
    gc.unfreeze()
