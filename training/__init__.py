"""Point-in-time training sets, fit, tune, evaluate, register; also the root of the `spend` CLI."""
