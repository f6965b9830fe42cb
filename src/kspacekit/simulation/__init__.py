"""Simulated k-space: analytic phantoms, the coil/phase/noise acquisition model, a synthetic scalp,
the built-in brain template and whole simulated datasets in fastMRI's layout.
"""
