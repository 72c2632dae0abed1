"""Results and what is read from them alone: the frames, the summary, the history
checkers and replays, outages and data-centre figures."""
