"""Peer: the same cold-start model as a bare heapq event loop in pure Python, written naively:
one heap entry per arrival, departure and expiry. The floor of any Python event loop.
Prints one JSON line like peers/simpy_model.py.
"""

from __future__ import annotations

import heapq
import json
import random
import resource
import sys
import time

ARRIVAL, DEPARTURE, EXPIRY = 0, 1, 2


def main(
    rate: float,
    horizon: float,
    seed: int,
    service: float = 0.2,
    cold: float = 1.0,
    expiry: float = 600.0,
    cap: int = 1000,
) -> dict:
    rnd = random.Random(seed)
    started = time.perf_counter()
    events: list[tuple[float, int, int, int]] = [(rnd.expovariate(rate), 0, ARRIVAL, 0)]
    seq = 1
    generation: list[int] = []  # per instance; -1 when gone
    idle: list[tuple[int, int]] = []
    busy = alive = cold_starts = requests = 0
    area = last = 0.0
    while events:
        t, _, kind, inst = heapq.heappop(events)
        if t > horizon:
            break
        if kind == ARRIVAL:
            requests += 1
            heapq.heappush(events, (t + rnd.expovariate(rate), seq, ARRIVAL, 0))
            seq += 1
            chosen = -1
            while idle:
                candidate, gen = idle.pop()
                if generation[candidate] == gen:
                    chosen = candidate
                    break
            extra = 0.0
            if chosen < 0:
                if busy >= cap:
                    continue
                chosen = len(generation)
                generation.append(0)
                area += alive * (t - last)
                last = t
                alive += 1
                cold_starts += 1
                extra = cold
            generation[chosen] += 1
            busy += 1
            heapq.heappush(events, (t + rnd.expovariate(1 / service) + extra, seq, DEPARTURE, chosen))
            seq += 1
        elif kind == DEPARTURE:
            busy -= 1
            idle.append((inst, generation[inst]))
            heapq.heappush(events, (t + expiry, seq, EXPIRY, inst * 1_000_000_000 + generation[inst]))
            seq += 1
        else:
            inst, gen = divmod(inst, 1_000_000_000)
            if generation[inst] == gen:
                generation[inst] = -1
                area += alive * (t - last)
                last = t
                alive -= 1
    area += alive * (horizon - last)
    wall = time.perf_counter() - started
    return {
        "requests": requests,
        "wall_s": wall,
        "mean_instances": area / horizon,
        "p_cold": cold_starts / requests,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    print(json.dumps(main(float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]))))
