"""The benchmark: every stage's speed and memory against the original project's way (python bench/run.py)."""
