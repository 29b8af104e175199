"""The front-door interface: what every way into the account (an API Gateway API, later an ALB, a
Function URL, CloudFront, a WebSocket API) promises the run loop and the bill.

A door takes one attempt of a request at an instant and answers it through the
:class:`~apisim.engine.ledger.Ledger`, now or later (a door may wait on the ledger's agenda, as a
request waits for its Lambda authorizer). After the run it reports what it consumed as
:class:`UsageLine` values keyed by resource; the bill prices them from ``data/prices.yaml`` and
knows no door by name. Doors are built from the scenario by :mod:`apisim.engine.build`, one
builder per door kind.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apisim.engine.clients import Population
    from apisim.engine.tally import Tally


class Request:
    """One client request; its attempts share everything but the attempt number."""

    __slots__ = ("api_key", "attempt", "cache_key", "client", "first", "id", "route", "token", "validation")

    def __init__(
        self,
        rid: int,
        client: Population,
        route: int,
        api_key: int,
        token: int,
        cache_key: int,
        validation: float,
        first: float,
    ) -> None:
        self.id = rid
        self.first = first  # when the first attempt was sent
        self.client = client
        self.route = route  # index into the client's door's routes
        self.api_key = api_key
        self.token = token
        self.cache_key = cache_key
        self.validation = validation
        self.attempt = 1


@dataclass(frozen=True)
class UsageLine:
    """Something a resource consumed, as the bill needs it.

    ``kind``: ``count`` is an amount measured in the simulated window after warm-up (requests,
    GB-seconds, bytes), scaled to the month by the bill; ``level`` is a quantity held for the
    whole month (a cache cluster, configured provisioned concurrency), which the bill multiplies
    by the month's length in the price's time unit. ``meter`` carries what a metered price needs
    (``bytes_per_request`` for HTTP APIs' 512 KB units; ``size_gb`` for a cache cluster).
    """

    resource: str  # "api.public.prod", "cache.public.prod", "function.orders"
    component: str  # "requests", "cache cluster", "duration", ...
    price: str  # a key of data/prices.yaml "prices"
    amount: float
    kind: str = "count"
    meter: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """One way in that clients name: a door's stage (a door without stages has one)."""

    door: str
    name: str


def bytes_out(tally: Tally, callers: list[Any], answered: list[int]) -> float:
    """Bytes a door sent to the internet: each answered attempt its client's response, every other
    answer its error message (``callers``: each with ``client``, ``response_bytes``, ``error_response_bytes``)."""
    refused = [o for o in range(tally.by_client.shape[1]) if o not in answered]
    return math.fsum(
        float(tally.by_client[c.client, answered].sum()) * c.response_bytes
        + float(tally.by_client[c.client, refused].sum()) * c.error_response_bytes
        for c in callers
    )


class Door(ABC):
    """A front door: answers attempts, and says afterwards what it consumed."""

    kind: str
    """The door's type as the scenario writes it (``rest``, ``http``, ...)."""
    name: str
    stages: list[str]

    @abstractmethod
    def attempt(self, now: float, req: Request) -> None:
        """Take attempt ``req.attempt`` of ``req`` at ``now``; answer it through the ledger, now or later."""

    @abstractmethod
    def usage(self, tally: Tally) -> list[UsageLine]:
        """What the door consumed in the run, from the run's counts (after warm-up)."""

    # Lifecycle and result hooks: a door that keeps state of its own (a WebSocket API's open
    # connections) uses them; the others need not.

    def start(self, clients: list[Population]) -> None:  # noqa: B027  (optional hook)
        """The run begins (t = 0): state already under way before it, for ``clients`` calling this door."""

    def finish(self, end: float) -> None:  # noqa: B027  (optional hook)
        """The run has ended at ``end``: close the door's own books."""

    def results(self, tally: Tally) -> dict[str, Any] | None:
        """The door's own block of the summary (under ``apis.NAME.<kind>``), or None."""
        return None
