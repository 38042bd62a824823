"""Speed and quality benchmarks; each prints a table against its baseline and, with --json, one JSON object."""
