"""The simulation engine: domain components (buckets, caches, function pools) and the run loop.

Nothing here imports the scenario schema except :mod:`apisim.engine.simulation`, which builds
components from a validated scenario; components take plain numbers and can be tested alone.
"""
