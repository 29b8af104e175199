"""Writes this folder's log files, derived from one file of real AWS Lambda measurements
(tests/data/aws-lambda-2020/, MIT licence, Mahmoudi and Khazaei 2020; see its NOTICE.md): the access
log an HTTP API in front would have written (its own overhead taken as 10 ms) and the REPORT lines
Lambda would have written (one log stream per execution environment; Init Duration, which the
measurements lack, taken as a cold request's time beyond the warm median). Run from the repository:
``.venv/bin/python examples/from-logs/derive.py``.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

HERE = Path(__file__).parent
SOURCE = HERE.parents[1] / "tests" / "data" / "aws-lambda-2020" / "res-01-2020-06-04_23-02-14.csv"

rows = list(csv.DictReader(SOURCE.open()))
warm = statistics.median(float(r["client_elapsed_time"]) for r in rows if r["is_cold"] == "False")
access, events = [], []
for i, r in enumerate(rows):
    start, elapsed, duration = float(r["client_start_time"]), float(r["client_elapsed_time"]), float(r["aws_duration"])
    latency = round(elapsed * 1000)
    access.append({"requestId": f"req-{i}", "requestTimeEpoch": round(start * 1000), "routeKey": "POST /work",
                   "status": 200, "responseLength": 120, "responseLatency": latency,
                   "integrationLatency": latency - 10})  # fmt: skip
    message = f"REPORT RequestId: req-{i}\tDuration: {duration:.2f} ms\tBilled Duration: {math.ceil(duration)} ms\t"
    message += "Memory Size: 128 MB\tMax Memory Used: 54 MB\t"
    init = 0.0
    if r["is_cold"] == "True":
        init = max(1.0, (elapsed - warm) * 1000.0)
        message += f"Init Duration: {init:.2f} ms\t"
    end = start + (duration + init) / 1000.0
    events.append({"logStreamName": r["inst_id"], "timestamp": round(end * 1000), "message": message})
(HERE / "access.json").write_text("".join(json.dumps(a) + "\n" for a in access))
(HERE / "worker.json").write_text(json.dumps({"events": events}, indent=1) + "\n")
