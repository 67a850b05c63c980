"""Micro-batching: concurrent requests' pictures go through the model in one predict call,
after a short wait for company, behind a bounded queue."""
import asyncio
import concurrent.futures
from dataclasses import dataclass

import numpy as np

from .models import Refused


@dataclass(frozen=True)
class Batching:
    """How requests share the model: at most `max_batch` pictures per predict call, waiting
    at most `max_wait` seconds for more; at most `max_queue` pictures waiting (then 503)."""
    max_batch: int = 32
    max_wait: float = 0.005  # s
    max_queue: int = 256
    retry_after: int = 1  # s, told to a client turned away by a full queue


class Batcher:
    """One tagger's queue and the task that empties it into predict calls, one at a time."""

    def __init__(self, tagger, batching=Batching()):
        self.tagger, self.batching = tagger, batching
        self.queue = asyncio.Queue(batching.max_queue)
        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="predict")
        self.task = asyncio.get_running_loop().create_task(self._run())
        self.calls, self.pictures, self.waiting = 0, 0, 0  # waiting: queued or in predict

    async def scores(self, array):
        """The model's tag scores for one input array (waits its turn in a batch)."""
        return (await self.rated(array))[0]

    async def rated(self, array):
        """(tag scores, rating scores) for one input array (waits its turn in a batch)."""
        future = asyncio.get_running_loop().create_future()
        try:
            self.queue.put_nowait((array, future))
        except asyncio.QueueFull:
            raise Refused(503, "the server is busy: try again shortly",
                          {"Retry-After": str(self.batching.retry_after)}) from None
        self.waiting += 1
        try:
            return await future
        finally:
            self.waiting -= 1

    async def _next_batch(self):
        batch = [await self.queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.batching.max_wait
        while len(batch) < self.batching.max_batch:
            if self.queue.empty():
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), left))
                except asyncio.TimeoutError:
                    break
            else:
                batch.append(self.queue.get_nowait())
        return [(a, f) for a, f in batch if not f.done()]  # a timed-out request is gone

    async def _run(self):
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            if not batch:
                continue
            arrays = np.stack([a for a, _ in batch])
            try:
                rows = await loop.run_in_executor(self.pool, self._predict, arrays)
            except Exception as exc:  # the requests answer it; the server goes on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.calls, self.pictures = self.calls + 1, self.pictures + len(batch)
            for (_, future), row, rating in zip(batch, *rows):
                if not future.done():
                    future.set_result((np.asarray(row), np.asarray(rating)))

    def _predict(self, arrays):
        """(tag scores, rating scores) of a batch; no ratings from a tagger without any."""
        rated = getattr(self.tagger, "predict_rated", None)
        if rated is not None:
            return rated(arrays, len(arrays))
        scores = self.tagger.predict(arrays, len(arrays))
        return scores, np.zeros((len(scores), 0), np.float32)

    async def drain(self, timeout):
        """Wait, up to `timeout` seconds, for the pictures already queued to be answered."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.waiting and loop.time() < deadline:
            await asyncio.sleep(0.01)

    async def close(self):
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        self.pool.shutdown(wait=True)
