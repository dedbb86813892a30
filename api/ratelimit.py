"""A small in-process rate limiter for sign-in and refresh (429 with Retry-After).

Per-process on purpose: it blunts password-spray-like hammering of one API replica; several
replicas each allow the limit, which is still bounded.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque

from fastapi import HTTPException, Request


class RateLimiter:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def check(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        hits = self._hits[key]
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            retry = max(1, math.ceil(hits[0] + self.window - now))
            raise HTTPException(
                429, f"Too many attempts; retry in {retry} s.", headers={"Retry-After": str(retry)}
            )
        hits.append(now)
        if len(self._hits) > 10_000:  # forget idle clients so memory stays bounded
            for k in [k for k, v in self._hits.items() if not v]:
                del self._hits[k]

    def __call__(self, request: Request) -> None:
        self.check(request.client.host if request.client else "?")
