"""Developer tools that are not installed with Parley (run them from a checkout)."""
