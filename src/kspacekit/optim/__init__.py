"""Optimisation: iterative solvers, proximal operators and the automatic regularisation rules.

Built on :mod:`kspacekit.physics` operators; used by the classical methods in :mod:`kspacekit.methods`.
"""
