"""The simulation as a whole: the Mesa model that wires agents and a replication strategy
together, the workload, and `run(scenario) -> Results`."""
