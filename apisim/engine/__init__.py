"""The simulation engine: domain components, the front doors, the account they share, and the run loop.

- components that take plain numbers and can be tested alone: :mod:`.throttle` (``TokenBucket``,
  ``Quota``, ``UsagePlan``), :mod:`.cache` (``TtlCache``), :mod:`.functions` (``FunctionPool``,
  ``AccountPool``), :mod:`.clients` (arrivals, retries), :mod:`.levels`, :mod:`.sketch`;
- :mod:`.door` (the front-door interface), :mod:`.apigateway` (the API Gateway door),
  :mod:`.account` (what every door shares), :mod:`.ledger` (the agenda, the tally and records,
  the warm-up rule, retries), :mod:`.tally` and :mod:`.records` (what attempts came to);
- :mod:`.build` (the only module that reads the scenario schema) and :mod:`.simulation` (the loop).
"""
