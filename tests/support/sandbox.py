"""Pytest fixtures that generate sandbox worlds and run the stand-in servers."""
