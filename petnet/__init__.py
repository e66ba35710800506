"""The pure core of "gato ou cachorro?": images, networks, explanations and pt-BR texts.

Nothing in this package knows about any chat platform or front-end.
"""
