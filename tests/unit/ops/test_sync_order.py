"""`sync`'s item-level lines come in plan order, whatever order parallel items finish in."""

from __future__ import annotations

import random
import threading

from toolkit.ops.sync import _OrderedEvents


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def message(self, text: str) -> None:
        with self.lock:
            self.lines.append(text)


def test_lines_of_later_items_wait_for_earlier_ones() -> None:
    out = Recorder()
    events = _OrderedEvents(out)
    events.message(2, "third")
    events.message(1, "second a")
    assert out.lines == []  # item 0 is not finished: nothing after it may go out
    events.message(0, "first")
    assert out.lines == ["first"]  # the first unfinished item speaks live
    events.finish(1)
    assert out.lines == ["first"]
    events.finish(0)
    # 0 and 1 finished: 1's held line, then 2 (now first unfinished) goes out, and is live
    assert out.lines == ["first", "second a", "third"]
    events.message(2, "third b")
    assert out.lines[-1] == "third b"
    events.finish(2)
    events.flush()
    assert out.lines == ["first", "second a", "third", "third b"]


def test_flush_passes_on_what_an_early_end_left_held() -> None:
    out = Recorder()
    events = _OrderedEvents(out)
    events.message(3, "d")
    events.message(1, "b")
    events.flush()
    assert out.lines == ["b", "d"]


def test_many_threads_finishing_in_random_order() -> None:
    out = Recorder()
    events = _OrderedEvents(out)
    count = 40
    order = list(range(count))
    random.Random(7).shuffle(order)
    gates = {i: threading.Event() for i in range(count)}

    def item(index: int) -> None:
        gates[index].wait(10)
        events.message(index, f"line {index}")
        events.finish(index)

    threads = [threading.Thread(target=item, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for index in order:
        gates[index].set()
    for thread in threads:
        thread.join(10)
    assert out.lines == [f"line {i}" for i in range(count)]
