"""Evaluation of a packed artifact against its teacher: fidelity metrics (metrics.py), latency and size (artifact.py).
"""
