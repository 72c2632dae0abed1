"""Many runs, one table: sweeps and their engines, the costs of replication, buddy layouts,
push vs pull, switch layouts."""
