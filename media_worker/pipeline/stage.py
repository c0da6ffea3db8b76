"""The stage contract: one concern, one input stream, one output stream.

Stages are linked into a chain. ``process`` handles one frame and must not block: it may update state, push
frames on (``push``) or back (``push_upstream``), or start background work (an STT decode, a reply) whose
results it pushes later. Pushing is a plain synchronous call into the neighbour, so the per-frame path creates
no task, takes no lock and allocates no queue; the asynchronous work lives in a few long-lived tasks owned by
the stages that need them. A stage never knows which stage or engine is its neighbour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from media_worker.frames import Frame


class Stage:
    """Base of every pipeline stage; the default forwards every frame unchanged."""

    def __init__(self) -> None:
        self._next: Stage | None = None
        self._prev: Stage | None = None

    def process(self, frame: Frame) -> None:
        """Handle a frame coming downstream."""
        self.push(frame)

    def process_upstream(self, frame: Frame) -> None:
        """Handle a frame coming back from a later stage (playback reports); default: pass it on."""
        self.push_upstream(frame)

    def push(self, frame: Frame) -> None:
        if self._next is not None:
            self._next.process(frame)

    def push_upstream(self, frame: Frame) -> None:
        if self._prev is not None:
            self._prev.process_upstream(frame)

    async def aclose(self) -> None:
        """Cancel background work; called once when the call ends."""


class Pipeline:
    """An ordered chain of stages; frames enter at the first, upstream reports leave at ``on_upstream``."""

    def __init__(self, stages: Sequence[Stage], on_upstream: Callable[[Frame], None] | None = None) -> None:
        self.stages = list(stages)
        for a, b in zip(self.stages, self.stages[1:], strict=False):
            a._next = b
            b._prev = a
        if on_upstream is not None:
            self.stages[0]._prev = _Sink(on_upstream)

    def push(self, frame: Frame) -> None:
        self.stages[0].process(frame)

    async def aclose(self) -> None:
        for stage in self.stages:
            await stage.aclose()


class _Sink(Stage):
    def __init__(self, callback: Callable[[Frame], None]) -> None:
        super().__init__()
        self._callback = callback

    def process_upstream(self, frame: Frame) -> None:
        self._callback(frame)
