"""What AWS already logs, read into one shape: API Gateway access logs, Lambda REPORT lines,
CloudWatch ``get-metric-data`` output, and any per-request CSV or Parquet with a column map.

Every file is read bounded (:mod:`apisim.reading`); a line that cannot be read is counted with its
file and line number in :attr:`Observations.skipped`, never dropped silently; a file that is not
what it claims to be (no line of it readable) raises :class:`InputRefused`, which the command line
turns into exit 2.

Access logs: a line is JSON (any ``$context`` fields, named as the console's JSON template and the
HTTP API's default name them, or as the ``$context`` variables themselves), the console's XML, CLF
or CSV template, or any template given as its format string (``--access-format``: each
``$context.X`` becomes a field). REPORT lines: Lambda's text (tab-separated; ``Init Duration`` only
on a cold start), optionally after a timestamp, or inside ``aws logs filter-log-events`` JSON (its
``logStreamName`` is the execution environment: Lambda writes one stream per environment), or the
JSON ``platform.report`` records of the Telemetry API and JSON log format.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apisim.reading import InputRefused, decode_text, read_bounded

MAX_LOG_BYTES = 256 * 2**20
"""One log file's size (after decompression) without ``force``."""

MAX_SKIPPED_SHOWN = 20
"""Unreadable lines listed by number; the rest are counted."""

REQUEST_FIELDS = ("t", "route", "method", "path", "status", "latency_ms", "integration_ms", "response_bytes", "api_key")
INVOCATION_FIELDS = ("t", "function", "instance", "duration_ms", "init_ms", "billed_ms", "memory_mb", "cold", "end")


@dataclass
class Observations:
    """Everything read, in one shape: per-request rows, per-invocation rows, per-minute metrics."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    invocations: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # label → (epoch s, value)
    skipped: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, why)
    sources: list[str] = field(default_factory=list)

    def skip(self, path: Path | str, line: int, why: str) -> None:
        self.skipped.append((str(path), line, why))

    def skipped_text(self) -> list[str]:
        """The unreadable lines, for a person: the first few by number, then how many more."""
        out = [f"{f}:{n}: {why}" for f, n, why in self.skipped[:MAX_SKIPPED_SHOWN]]
        if len(self.skipped) > MAX_SKIPPED_SHOWN:
            out.append(f"... and {len(self.skipped) - MAX_SKIPPED_SHOWN:,} more lines")
        return out


def _text(path: Path, force: bool) -> str:
    data = read_bounded(path, None if force else MAX_LOG_BYTES, what="log file", decompress=path.name.endswith(".gz"))
    return decode_text(data, path)


def _number(value: Any) -> float | None:
    """A finite number from a log field ('-' and empty are missing, as API Gateway writes them)."""
    if value is None or value in ("-", ""):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


# ----------------------------------------------------------------------------------------------
# Access logs
# ----------------------------------------------------------------------------------------------

# The console's templates (API Gateway developer guide, "Set up CloudWatch logging": CLF, JSON, XML, CSV).
CLF_TEMPLATE = (
    "$context.identity.sourceIp $context.identity.caller $context.identity.user [$context.requestTime] "
    '"$context.httpMethod $context.resourcePath $context.protocol" $context.status $context.responseLength '
    "$context.requestId"
)
CSV_TEMPLATE = (
    "$context.identity.sourceIp,$context.identity.caller,$context.identity.user,$context.requestTime,"
    "$context.httpMethod,$context.resourcePath,$context.protocol,$context.status,$context.responseLength,"
    "$context.requestId"
)

# JSON keys (the console's JSON template, the HTTP API default, and common custom names) → $context field.
_ALIASES = {
    "requesttime": "requestTime", "requesttimeepoch": "requestTimeEpoch", "status": "status",
    "responselatency": "responseLatency", "latency": "responseLatency",
    "integrationlatency": "integrationLatency", "integration.latency": "integrationLatency",
    "routekey": "routeKey", "resourcepath": "resourcePath", "path": "path", "httpmethod": "httpMethod",
    "responselength": "responseLength", "apikey": "identity.apiKey", "identity.apikey": "identity.apiKey",
    "apikeyid": "identity.apiKeyId", "identity.apikeyid": "identity.apiKeyId",
}  # fmt: skip


def _field(key: str) -> str:
    k = key.removeprefix("$context.").removeprefix("context.")
    return _ALIASES.get(k.lower(), k)


def _clf_time(text: str) -> float | None:
    """``05/Dec/2026:10:00:00 +0000`` (``$context.requestTime``) → epoch seconds."""
    try:
        return dt.datetime.strptime(text.strip(), "%d/%b/%Y:%H:%M:%S %z").timestamp()
    except ValueError:
        return None


def _request(fields: dict[str, Any]) -> dict[str, Any] | None:
    """One access-log record from its ``$context`` fields; None without a time."""
    epoch = _number(fields.get("requestTimeEpoch"))
    t = epoch / 1000.0 if epoch is not None else _clf_time(str(fields.get("requestTime", "")))
    if t is None:
        return None
    method = fields.get("httpMethod")
    route = fields.get("routeKey")
    path = fields.get("resourcePath") or fields.get("path")
    if route in (None, "-", "") and method and path:
        route = f"{method} {path}"
    key = fields.get("identity.apiKey") or fields.get("identity.apiKeyId")
    status = _number(fields.get("status"))
    return {
        "t": t,
        "route": None if route in (None, "-", "") else str(route),
        "status": None if status is None else int(status),
        "latency_ms": _number(fields.get("responseLatency")),
        "integration_ms": _number(fields.get("integrationLatency")),
        "response_bytes": _number(fields.get("responseLength")),
        "api_key": None if key in (None, "-", "") else str(key),
    }


@dataclass(frozen=True)
class Template:
    """A regex reading lines written by an access-log format string, and the field of each group."""

    pattern: re.Pattern[str]
    names: dict[str, str]

    def fields(self, line: str) -> dict[str, Any] | None:
        m = self.pattern.match(line)
        return {_field(self.names[g]): v for g, v in m.groupdict().items()} if m else None


def template_regex(template: str) -> Template:
    """The reader of lines written by an access-log format string: each ``$context.X`` a field."""
    parts = re.split(r"(\$context\.[A-Za-z0-9_.]+)", template)
    out = []
    names: dict[str, str] = {}
    for i, part in enumerate(parts):
        if part.startswith("$context."):
            group = f"f{i}"
            names[group] = part
            # A field runs to the next literal of the template (or the line's end).
            out.append(f"(?P<{group}>.*?)")
        else:
            out.append(re.escape(part))
    return Template(re.compile("^" + "".join(out) + "$"), names)


def _records(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of a log file, or of the messages of ``aws logs filter-log-events`` JSON."""
    stripped = text.lstrip()
    if stripped.startswith("{") and '"events"' in stripped[:2000]:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("events"), list):
            for i, event in enumerate(doc["events"], start=1):
                if isinstance(event, dict):
                    yield i, json.dumps(event)
            return
    for i, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield i, line


def read_access_logs(
    paths: Iterable[Path], obs: Observations, *, template: str | None = None, force: bool = False
) -> None:
    """Add every request of the access-log files to ``obs`` (see the module's docstring for formats)."""
    given = template_regex(template) if template else None
    clf, csv_ = template_regex(CLF_TEMPLATE), CSV_TEMPLATE.split(",")
    for path in paths:
        read = 0
        lines = list(_records(_text(path, force)))
        for n, line in lines:
            fields: dict[str, Any] | None = None
            s = line.strip()
            if s.startswith("{"):
                try:
                    doc = json.loads(s)
                except json.JSONDecodeError:
                    doc = None
                if isinstance(doc, dict) and "message" in doc and "requestId" not in doc:
                    s = str(doc["message"]).strip()  # a filter-log-events record: its message is the line
                    doc = json.loads(s) if s.startswith("{") else None
                if isinstance(doc, dict):
                    fields = {_field(k): v for k, v in doc.items()}
            if fields is None and given is not None:
                fields = given.fields(s)
            elif fields is None and s.startswith("<"):
                fields = {_field(k): v for k, v in re.findall(r"<([A-Za-z.]+)>([^<]*)</\1>", s)}
            elif fields is None:
                fields = clf.fields(s)
                if fields is None:
                    row = next(csv.reader([s]))
                    if len(row) == len(csv_):
                        fields = {_field(k): v for k, v in zip(csv_, row, strict=True)}
            record = _request(fields) if fields else None
            if record is None:
                obs.skip(path, n, "not an access-log line with a request time")
                continue
            obs.requests.append(record)
            read += 1
        if read == 0:
            raise InputRefused(f"{path}: no line is an API Gateway access-log record ({len(lines):,} lines)")
        obs.sources.append(f"{path} ({read:,} requests)")


# ----------------------------------------------------------------------------------------------
# Lambda REPORT lines
# ----------------------------------------------------------------------------------------------

_REPORT = re.compile(r"REPORT RequestId:\s*(?P<id>\S+)(?P<rest>.*)")
_PART = re.compile(r"(Duration|Billed Duration|Memory Size|Max Memory Used|Init Duration):\s*([0-9.]+)")
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")


def _iso(text: str) -> float | None:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _report_text(message: str) -> dict[str, Any] | None:
    m = _REPORT.search(message)
    if not m:
        return None
    parts = dict(_PART.findall(m.group("rest")))
    if "Duration" not in parts:
        return None
    init = _number(parts.get("Init Duration"))
    return {
        "duration_ms": float(parts["Duration"]),
        "billed_ms": _number(parts.get("Billed Duration")),
        "memory_mb": _number(parts.get("Memory Size")),
        "init_ms": init,
        "cold": init is not None,
    }


def _report_json(doc: dict[str, Any]) -> dict[str, Any] | None:
    """A ``platform.report`` record (Telemetry API, JSON log format)."""
    if doc.get("type") != "platform.report" or not isinstance(doc.get("record"), dict):
        return None
    metrics = doc["record"].get("metrics") or {}
    if _number(metrics.get("durationMs")) is None:
        return None
    init = _number(metrics.get("initDurationMs"))
    return {
        "t": _iso(str(doc.get("time", ""))),
        "duration_ms": float(metrics["durationMs"]),
        "billed_ms": _number(metrics.get("billedDurationMs")),
        "memory_mb": _number(metrics.get("memorySizeMB")),
        "init_ms": init,
        "cold": init is not None,
    }


def read_report_logs(
    paths: Iterable[Path], obs: Observations, *, function: str | None = None, force: bool = False
) -> None:
    """Add every invocation of the REPORT-line files to ``obs``. The function is ``function``, or the
    log group's name (``/aws/lambda/NAME``) where the file says it, or the file's name (``orders.log``)."""
    for path in paths:
        name = function or path.name.split(".")[0]
        read = 0
        lines = list(_records(_text(path, force)))
        for n, line in lines:
            t = instance = None
            s = line.strip()
            record = None
            if s.startswith("{"):
                try:
                    doc = json.loads(s)
                except json.JSONDecodeError:
                    doc = None
                if isinstance(doc, dict):
                    if "message" in doc:  # filter-log-events: the stream is the execution environment
                        instance = doc.get("logStreamName")
                        stamp = _number(doc.get("timestamp"))
                        t = stamp / 1000.0 if stamp is not None else None
                        group = str(doc.get("logGroupName") or "")
                        if group.startswith("/aws/lambda/") and function is None:
                            name = group.removeprefix("/aws/lambda/")
                        msg = str(doc["message"]).strip()
                        inner = json.loads(msg) if msg.startswith("{") else None
                        record = _report_json(inner) if isinstance(inner, dict) else _report_text(msg)
                    else:
                        record = _report_json(doc)
            else:
                record = _report_text(s)
                stamp = _STAMP.match(s)
                t = _iso(stamp.group(1)) if stamp else None
            if record is None:
                if "REPORT" in s or "platform.report" in s:
                    obs.skip(path, n, "a REPORT record without a readable Duration")
                continue  # START, END and the function's own lines are not REPORT lines
            record.setdefault("t", None)
            if t is not None:
                # A REPORT line is written when the invocation ends: its start is that minus its time.
                record["end"] = t
                record["t"] = t - (record["duration_ms"] + (record["init_ms"] or 0.0)) / 1000.0
            record.update(function=name, instance=instance)
            obs.invocations.append(record)
            read += 1
        if read == 0:
            raise InputRefused(f"{path}: no Lambda REPORT line in it ({len(lines):,} lines)")
        obs.sources.append(f"{path} ({read:,} invocations of {name})")


# ----------------------------------------------------------------------------------------------
# CloudWatch metrics
# ----------------------------------------------------------------------------------------------


def read_metrics(paths: Iterable[Path], obs: Observations, *, force: bool = False) -> None:
    """Add the series of ``aws cloudwatch get-metric-data`` output files (``MetricDataResults``)
    to ``obs.metrics``, keyed by each result's Label (or Id)."""
    for path in paths:
        try:
            doc = json.loads(_text(path, force))
        except json.JSONDecodeError as exc:
            raise InputRefused(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
        results = doc.get("MetricDataResults") if isinstance(doc, dict) else None
        if not isinstance(results, list) or not results:
            raise InputRefused(f"{path}: no MetricDataResults (the output of aws cloudwatch get-metric-data)")
        for i, r in enumerate(results):
            label = str(r.get("Label") or r.get("Id") or f"series {i}")
            stamps, values = r.get("Timestamps") or [], r.get("Values") or []
            if len(stamps) != len(values):
                obs.skip(path, i + 1, f"series {label}: {len(stamps)} timestamps for {len(values)} values")
                continue
            series = obs.metrics.setdefault(label, [])
            for s, v in zip(stamps, values, strict=True):
                t, x = _iso(str(s)), _number(v)
                if t is None or x is None:
                    obs.skip(path, i + 1, f"series {label}: unreadable point {s!r}: {v!r}")
                    continue
                series.append((t, x))
            series.sort()
        obs.sources.append(f"{path} ({len(results)} series)")


# ----------------------------------------------------------------------------------------------
# Per-request tables with a column map
# ----------------------------------------------------------------------------------------------

COLUMN_KEYS = {
    "start": "t", "end": "end", "duration": "duration_ms", "init": "init_ms", "cold": "cold",
    "instance": "instance", "function": "function", "route": "route", "status": "status",
    "latency": "latency_ms", "integration": "integration_ms", "response_bytes": "response_bytes",
    "api_key": "api_key", "memory": "memory_mb",
}  # fmt: skip
"""``--columns`` keys → the field each fills."""
_TIMES = {"start", "end"}
_DURATIONS = {"duration", "init", "latency", "integration"}


def parse_columns(text: str) -> dict[str, tuple[str, str | None]]:
    """``start=client_start_time:s,duration=aws_duration:ms,cold=is_cold`` → {key: (column, unit)}.

    Times (start, end) are epoch seconds (``:s``) or milliseconds (``:ms``); durations (duration,
    init, latency, integration) are ``:ms`` (default) or ``:s``.
    """
    out: dict[str, tuple[str, str | None]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, rest = part.partition("=")
        if not sep or key not in COLUMN_KEYS:
            raise ValueError(
                f"--columns takes KEY=COLUMN[:UNIT] with KEY one of {', '.join(COLUMN_KEYS)}; got {part!r}"
            )
        column, _, unit = rest.partition(":")
        if unit and (key not in _TIMES | _DURATIONS or unit not in ("s", "ms")):
            raise ValueError(f"--columns: {key} takes no unit {unit!r} (times and durations take s or ms)")
        out[key] = (column, unit or None)
    if "start" not in out:
        raise ValueError("--columns needs start=COLUMN (when each request started)")
    return out


def _truth(value: Any) -> bool | None:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "t", "cold"):
        return True
    if text in ("false", "0", "no", "f", "warm"):
        return False
    return None


def read_requests(paths: Iterable[Path], columns: dict[str, tuple[str, str | None]], obs: Observations,
                  *, force: bool = False) -> None:  # fmt: skip
    """Add the rows of per-request CSV or Parquet files (an X-Ray or Athena export, a load test's
    measurements) to ``obs``: as requests, and as invocations where a duration or cold flag is mapped."""
    import pandas as pd

    for path in paths:
        if path.suffix == ".parquet":
            read_bounded(path, None if force else MAX_LOG_BYTES, what="table")  # its size, checked first
            frame = pd.read_parquet(path)
        else:
            data = read_bounded(
                path, None if force else MAX_LOG_BYTES, what="table", decompress=path.name.endswith(".gz")
            )
            try:
                frame = pd.read_csv(io.BytesIO(data))
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
                raise InputRefused(f"{path}: not a CSV file with a header line ({str(exc).splitlines()[0]})") from None
        missing = [c for c, _ in columns.values() if c not in frame.columns]
        if missing:
            shown = ", ".join(map(str, list(frame.columns)[:12]))
            raise InputRefused(f"{path}: no column {', '.join(missing)} (its columns: {shown})")
        read = 0
        invocation = any(k in columns for k in ("duration", "cold", "init", "instance"))
        for n, row in enumerate(frame.itertuples(index=False), start=2):
            values = dict(zip(frame.columns, row, strict=True))
            rec: dict[str, Any] = {}
            bad = None
            for key, (column, unit) in columns.items():
                raw = values[column]
                if key == "cold":
                    rec["cold"] = _truth(raw)
                    if rec["cold"] is None:
                        bad = f"{column}: {raw!r} is not true or false"
                elif key in _TIMES | _DURATIONS or key in ("status", "response_bytes", "memory"):
                    x = _number(raw)
                    if x is None:
                        bad = f"{column}: {raw!r} is not a number"
                        continue
                    if key in _TIMES:
                        x = x / 1000.0 if unit == "ms" else x
                    elif key in _DURATIONS:
                        x = x * 1000.0 if unit == "s" else x
                    rec[COLUMN_KEYS[key]] = x
                else:
                    rec[COLUMN_KEYS[key]] = (
                        None if raw is None or (isinstance(raw, float) and math.isnan(raw)) else str(raw)
                    )
            if bad is not None:
                obs.skip(path, n, bad)
                continue
            if "status" in rec:
                rec["status"] = int(rec["status"])
            obs.requests.append({k: rec.get(k) for k in REQUEST_FIELDS})
            if invocation:
                inv = {k: rec.get(k) for k in INVOCATION_FIELDS}
                inv["function"] = inv["function"] or path.name.split(".")[0]
                if inv["cold"] is None:
                    inv["cold"] = inv["init_ms"] is not None
                obs.invocations.append(inv)
            read += 1
        if read == 0:
            raise InputRefused(f"{path}: no readable row ({len(frame):,} rows)")
        obs.sources.append(f"{path} ({read:,} rows)")
