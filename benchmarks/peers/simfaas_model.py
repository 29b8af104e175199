"""Peer: SimFaaS (pacslab, ``pip install simfaas``) on the same model, run in its own environment.

SimFaaS takes the cold request's whole service time from one process: here exponential(200 ms)
plus 1 s, as in the scenario. Prints one JSON line like peers/simpy_model.py.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np
from simfaas.ServerlessSimulator import ServerlessSimulator
from simfaas.SimProcess import ExpSimProcess, SimProcess


class ColdService(SimProcess):
    """The warm service time plus a constant cold start."""

    def __init__(self, mean: float, extra: float) -> None:
        super().__init__()
        self.mean = mean
        self.extra = extra

    def generate_trace(self) -> float:
        return np.random.exponential(self.mean) + self.extra


def main(rate: float, horizon: float, seed: int) -> dict:
    np.random.seed(seed)
    sim = ServerlessSimulator(
        arrival_rate=rate,
        warm_service_process=ExpSimProcess(rate=5.0),
        cold_service_process=ColdService(0.2, 1.0),
        expiration_threshold=600,
        max_time=horizon,
        maximum_concurrency=1000,
    )
    started = time.perf_counter()
    sim.generate_trace()
    wall = time.perf_counter() - started
    sim.calculate_time_lengths()
    return {
        "requests": sim.total_req_count,
        "wall_s": wall,
        "mean_instances": float(sim.get_average_server_count()),
        "p_cold": sim.total_cold_count / sim.total_req_count,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    print(json.dumps(main(float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]))))
