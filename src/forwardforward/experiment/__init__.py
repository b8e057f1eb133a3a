"""From a config to results: the config schema, the builders, the run layer, sweeps, plots and the CLI."""
