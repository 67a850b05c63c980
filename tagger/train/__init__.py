"""Training: the input pipeline, the networks, the loop, distribution and metrics; imports tagger.core and tagger.data."""
