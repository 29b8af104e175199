"""The Lambda function URL door: an HTTPS endpoint straight to one function, with none of a gateway's
features (no throttles, usage plans, caches, authorizers or validation) and no charge of its own.

For one attempt: AuthType AWS_IAM (an unsigned request gets 403) → a synchronous invoke of the
function, which the function's own limits throttle (its reserved concurrency and 10 × it requests
per second, the account's pool and rate): a throttled invoke is answered 429, as AWS documents
for function URLs. A function error or timeout is 502. Payload limits are checked when the
scenario is validated (every request of a client has the same size).
"""

from __future__ import annotations

from dataclasses import dataclass

from apisim.engine.direct import OK, DirectDoor
from apisim.engine.door import UsageLine, bytes_out
from apisim.engine.tally import Tally
from apisim.outcomes import Outcome

THROTTLED = (int(Outcome.THROTTLED), 429)


@dataclass
class FunctionUrl(DirectDoor):
    """One function URL. Its routes (paths clients name) all invoke the URL's function."""

    kind: str = "function_url"

    def usage(self, tally: Tally) -> list[UsageLine]:
        """Bytes out to the internet (a 200 its response, any other answer Lambda's error message);
        a function URL itself costs nothing, and its function bills as every function does."""
        gb = bytes_out(tally, self.callers, [OK]) / 2**30
        return [UsageLine(f"url.{self.name}", "data transfer out", "data_transfer.out", gb)]
