"""The data stages: the Safebooru CSV, fetching, counting, dealing and checking; imports only tagger.core."""
