"""replab: a replication laboratory. See how replicated data systems behave, in simulated time."""

from replab.model import ReplicationModel, run
from replab.results import Results
from replab.scenario import Field, Scenario, ScenarioError

__all__ = ["Field", "ReplicationModel", "Results", "Scenario", "ScenarioError", "run"]
__version__ = "0.1.0"
