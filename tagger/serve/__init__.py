"""Serving taggers over HTTP: the models a server offers, micro-batching, the ASGI app."""
