"""replab.real: drivers for real systems that produce the same Results as the simulator:
the same scenario on real Redis replication, beside the simulation.

    from replab import Scenario, run
    from replab import real

    scenario = real.calibrate(Scenario.preset("leader-follower"))  # service times measured here
    table = real.compare(real.run(scenario), run(scenario))       # key figures side by side

`run` starts a real Redis primary, its replicas and (with failover.promote) Sentinels as
child processes, drives them with redis-py, does the faults for real and returns the same
Results as a simulated run. Without redis-server, `available()` is False and `missing()`
says in one line how to install it.
"""

from replab.real.calibrate import calibrate, measure
from replab.real.compare import FIGURES, compare, figures, milestones
from replab.real.driver import run
from replab.real.install import INSTALL_HINT, RedisMissing, available, missing
from replab.real.network import cleanup_leftovers, namespaces_possible
from replab.real.plan import FAULT_ACTIONS, RealFault


def host_faults() -> str | None:
    """None where host crashes, partitions and isolation can be done (network namespaces,
    as root), else the one line saying why not (process-level faults still work)."""
    return namespaces_possible()


__all__ = ["FAULT_ACTIONS", "FIGURES", "INSTALL_HINT", "RealFault", "RedisMissing", "available", "calibrate",
           "cleanup_leftovers", "compare", "figures", "host_faults", "measure", "milestones", "missing", "run"]
