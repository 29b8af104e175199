"""Child process: replications of the reference scenario serially, then on worker processes.

Prints one JSON line: wall seconds of each, the speed-up, and whether the results are identical.
Usage: python -m benchmarks.scaleout_case SCENARIO REPLICATIONS DURATION WORKERS
"""

from __future__ import annotations

import json
import sys
import time

import apisim
from apisim.output import to_json


def main() -> None:
    path, replications, duration, workers = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    sc = apisim.load(path)
    sc = sc.model_copy(update={"simulation": sc.simulation.model_copy(update={"duration": duration})})
    started = time.perf_counter()
    serial = apisim.replicate(sc, replications, workers=1)
    serial_s = time.perf_counter() - started
    started = time.perf_counter()
    parallel = apisim.replicate(sc, replications, workers=workers)
    parallel_s = time.perf_counter() - started
    same = [to_json(r.summary) for r in serial] == [to_json(r.summary) for r in parallel]
    requests = sum(r.log.events["requests"] for r in serial)
    print(
        json.dumps(
            {
                "requests": requests,
                "serial_s": serial_s,
                "parallel_s": parallel_s,
                "speedup": serial_s / parallel_s,
                "identical": same,
            }
        )
    )


if __name__ == "__main__":
    main()
