"""The micro-batcher in-process, with a tagger whose predict call is slow and counted: one
predict call for concurrent pictures, and a full queue refused with 503 and Retry-After."""
import asyncio
import threading

import numpy as np
import pytest

from tagger.serve.batcher import Batcher, Batching
from tagger.serve.models import Refused


class SlowTagger:
    """predict returns each picture's mean as its one score, after `delay` seconds."""

    def __init__(self, delay=0.0):
        self.delay, self.calls, self.release = delay, [], threading.Event()

    def predict(self, arrays, batch_size):
        self.calls.append(len(arrays))
        self.release.wait(self.delay)
        return arrays.reshape(len(arrays), -1).mean(axis=1, keepdims=True)


def pictures(n):
    return [np.full((4, 4, 3), i, np.uint8) for i in range(n)]


def test_concurrent_pictures_share_one_predict_call_and_get_their_own_rows():
    async def scenario():
        tagger = SlowTagger()
        batcher = Batcher(tagger, Batching(max_batch=32, max_wait=0.2, max_queue=64))
        rows = await asyncio.gather(*(batcher.scores(a) for a in pictures(10)))
        await batcher.close()
        return tagger.calls, [float(r[0]) for r in rows]

    calls, rows = asyncio.run(scenario())
    assert calls == [10] and rows == list(range(10))


def test_batches_stay_under_max_batch():
    async def scenario():
        tagger = SlowTagger()
        batcher = Batcher(tagger, Batching(max_batch=4, max_wait=0.2, max_queue=64))
        await asyncio.gather(*(batcher.scores(a) for a in pictures(10)))
        await batcher.close()
        return tagger.calls

    assert asyncio.run(scenario()) == [4, 4, 2]


def test_a_full_queue_is_refused_with_503_and_retry_after():
    async def scenario():
        tagger = SlowTagger(delay=5)
        batcher = Batcher(tagger, Batching(max_batch=1, max_wait=0, max_queue=2, retry_after=3))
        first = asyncio.ensure_future(batcher.scores(pictures(1)[0]))
        await asyncio.sleep(0.1)  # the first is in its predict call: the queue is empty
        waiting = [asyncio.ensure_future(batcher.scores(a)) for a in pictures(2)]
        await asyncio.sleep(0)
        with pytest.raises(Refused) as refused:
            await batcher.scores(pictures(1)[0])
        tagger.release.set()
        await asyncio.gather(first, *waiting)
        await batcher.close()
        return refused.value

    refused = asyncio.run(scenario())
    assert refused.status == 503 and refused.headers == {"Retry-After": "3"}


def test_a_failing_predict_fails_its_requests_and_the_batcher_goes_on():
    class Flaky(SlowTagger):
        def predict(self, arrays, batch_size):
            if not self.calls:
                self.calls.append(len(arrays))
                raise RuntimeError("out of memory")
            return super().predict(arrays, batch_size)

    async def scenario():
        batcher = Batcher(Flaky(), Batching(max_wait=0))
        with pytest.raises(RuntimeError):
            await batcher.scores(pictures(1)[0])
        row = await batcher.scores(pictures(2)[1])
        await batcher.close()
        return float(row[0])

    assert asyncio.run(scenario()) == 1.0
