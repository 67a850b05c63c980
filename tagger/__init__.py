"""Anime image tagger: the shared code behind the seven pipeline scripts."""
