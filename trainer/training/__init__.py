"""Training: YAML run configs, the multi-partitioning loss, the (distributed) training loop and run folders."""
