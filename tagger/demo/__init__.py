"""The demo: generated Safebooru-like data and the whole pipeline on it; imports tagger.core only."""
