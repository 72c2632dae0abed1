"""The foundations every layer stands on, depending on nothing else in replab: the event
calendar, seeded randomness, the network, the recorder and its columns, the codes of
outcomes and reasons, a client operation, and the type of a scenario field."""
