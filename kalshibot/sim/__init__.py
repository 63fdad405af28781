"""Simulation: fill simulator, paper and sim exchanges, and the sample-data generator."""
