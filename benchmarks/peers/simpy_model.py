"""Peer: the cold-start model written the plain SimPy way, a process per request and per expiry.

Same model as benchmarks/scenarios/cold-*.yaml: Poisson arrivals, exponential service, a cold
start adds a constant, the most recently used idle instance is reused, an idle instance
expires after a fixed time, requests over the concurrency cap are rejected.
Prints one JSON line: requests, wall seconds, mean instances, cold-start probability, peak RSS.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time

import simpy


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
    env = simpy.Environment()
    idle: list[tuple[list[int], int]] = []  # (instance, generation it went idle in); newest last
    s = {"busy": 0, "alive": 0, "area": 0.0, "last": 0.0, "cold": 0, "requests": 0, "rejected": 0}

    def alive(delta: int) -> None:
        s["area"] += s["alive"] * (env.now - s["last"])
        s["last"] = env.now
        s["alive"] += delta

    def expire(inst: list[int], generation: int):
        yield env.timeout(expiry)
        if inst[0] == generation:  # still idle since then
            inst[0] = -1
            alive(-1)

    def request():
        s["requests"] += 1
        inst = None
        while idle:
            candidate, generation = idle.pop()
            if candidate[0] == generation:
                inst = candidate
                break
        was_cold = inst is None
        if was_cold:
            if s["busy"] >= cap:
                s["rejected"] += 1
                return
            inst = [0]
            s["cold"] += 1
            alive(+1)
        inst[0] += 1  # busy: any pending expiry is void
        s["busy"] += 1
        yield env.timeout(rnd.expovariate(1 / service) + (cold if was_cold else 0.0))
        s["busy"] -= 1
        idle.append((inst, inst[0]))
        env.process(expire(inst, inst[0]))

    def arrivals():
        while True:
            yield env.timeout(rnd.expovariate(rate))
            env.process(request())

    started = time.perf_counter()
    env.process(arrivals())
    env.run(until=horizon)
    alive(0)
    wall = time.perf_counter() - started
    return {
        "requests": s["requests"],
        "wall_s": wall,
        "mean_instances": s["area"] / horizon,
        "p_cold": s["cold"] / s["requests"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    print(json.dumps(main(float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]))))
