"""replab: a replication laboratory. See how replicated data systems behave, in simulated time.

    import replab
    results = replab.run(replab.Scenario.preset("failover"))

The names below load on first use (PEP 562), so `import replab` and `replab --help` do not
pay for Mesa, pandas and plotly until a run needs them.

Packages, each importing only those listed before it (tests/test_architecture.py checks it):
core, topology, agents, replication, config, analysis, sim, experiments, viz, lab, real.
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Field": "replab.config.scenario",
    "Scenario": "replab.config.scenario",
    "ScenarioError": "replab.config.scenario",
    "Results": "replab.analysis.results",
    "ReplicationModel": "replab.sim.model",
    "run": "replab.sim.model",
    "sweep": "replab.experiments.sweep",
    "summarise": "replab.analysis.summary",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'replab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
