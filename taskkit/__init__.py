"""What every process of the service shares: log setup, settings helpers, the process loop.

A leaf package: it imports nothing of the project, so every other package may import it.
"""
