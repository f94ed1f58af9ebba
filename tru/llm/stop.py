"""Stop sequences in a stream: the text up to the first one, as the whole answer is cut.

The end of the text that may be the start of a stop sequence is held back until the next piece
decides it, so a stop sequence split across two pieces is still found and never sent.
"""

from __future__ import annotations


def _partial_length(text: str, stop: list[str]) -> int:
    """Length of the longest end of ``text`` that is the start, but not the whole, of a stop sequence."""
    longest = 0
    for sequence in stop:
        for size in range(min(len(sequence) - 1, len(text)), longest, -1):
            if text.endswith(sequence[:size]):
                longest = size
                break
    return longest


def first_stop(text: str, stop: list[str]) -> int | None:
    """Where the earliest stop sequence in ``text`` starts, or None."""
    positions = [text.find(sequence) for sequence in stop if sequence in text]
    return min(positions) if positions else None


class StopCutter:
    """Feed text pieces in order; get the text to send. ``stopped`` once a stop sequence was met."""

    def __init__(self, stop: list[str]):
        self.stop = [sequence for sequence in stop if sequence]
        self.stopped = False
        self._held = ""

    def feed(self, piece: str) -> str:
        if self.stopped or not self.stop:
            return "" if self.stopped else piece
        text = self._held + piece
        cut = first_stop(text, self.stop)
        undecided = len(text) - _partial_length(text, self.stop)  # a stop sequence may still start here
        if cut is not None and cut < undecided:
            self.stopped, self._held = True, ""
            return text[:cut]
        self._held = text[undecided:]
        return text[:undecided]

    def finish(self) -> str:
        """What was held back, once the generation has ended."""
        held, self._held = self._held, ""
        cut = first_stop(held, self.stop)
        self.stopped = self.stopped or cut is not None
        return held if cut is None else held[:cut]
