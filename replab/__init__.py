"""replab: a replication laboratory. See how replicated data systems behave, in simulated time."""

from replab.model import ReplicationModel, run
from replab.results import Results
from replab.scenario import Field, Scenario, ScenarioError
from replab.sweep import sweep

__all__ = ["Field", "ReplicationModel", "Results", "Scenario", "ScenarioError", "run", "sweep"]
__version__ = "0.1.0"
