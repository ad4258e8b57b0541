"""Benchmarks behind ``lessdask bench``: each measures lessdask and a peer in the same run."""
