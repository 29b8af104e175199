"""The AWS account every door and API of a run shares: the API Gateway account bucket, the Lambda
concurrency pool (unreserved and reserved), the scaling rate, and the functions themselves.

Functions belong to the account, not to a door: two APIs calling one function share its
instances, and every unreserved function shares the account's concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass

from apisim.engine.door import UsageLine
from apisim.engine.functions import AccountPool, FunctionPool
from apisim.engine.throttle import TokenBucket


@dataclass
class FunctionSpec:
    """What the bill needs to know about a function besides what it did."""

    memory_mb: int
    arch: str
    provisioned: int


class Account:
    """The shared limits and the functions of one account."""

    def __init__(self, api_bucket: TokenBucket, unreserved: AccountPool) -> None:
        self.api_bucket = api_bucket  # API Gateway's account-level throttle, across every API and stage
        self.unreserved = unreserved  # concurrency shared by every function without a reservation
        self.functions: dict[str, FunctionPool] = {}  # by name, in name order
        self.specs: dict[str, FunctionSpec] = {}
        self.connections: TokenBucket | None = None  # new WebSocket connections, across every WebSocket API

    def add_function(self, pool: FunctionPool, spec: FunctionSpec) -> None:
        self.functions[pool.name] = pool
        self.specs[pool.name] = spec

    def function_index(self, name: str) -> int:
        """The function's position in name order (the ``function`` column of records)."""
        return list(self.functions).index(name)

    def usage(self) -> list[UsageLine]:
        """What every function consumed: invocations, on-demand and provisioned duration, configured
        provisioned concurrency (counts after warm-up; the configuration is held all month)."""
        lines = []
        for name, pool in self.functions.items():
            spec = self.specs[name]
            gb = spec.memory_mb / 1024.0
            stats = pool.stats
            resource = f"function.{name}"
            lines.append(UsageLine(resource, "requests", "lambda.requests", float(stats.invocations)))
            lines.append(
                UsageLine(resource, "duration", f"lambda.compute.{spec.arch}", stats.billed_ms_on_demand / 1000.0 * gb)
            )
            if spec.provisioned:
                lines.append(
                    UsageLine(
                        resource, "provisioned concurrency", f"lambda.provisioned_concurrency.{spec.arch}",
                        spec.provisioned * gb, kind="level",
                    )
                )  # fmt: skip
                lines.append(
                    UsageLine(
                        resource, "provisioned duration", f"lambda.provisioned_duration.{spec.arch}",
                        stats.billed_ms_provisioned / 1000.0 * gb,
                    )
                )  # fmt: skip
        return lines
