"""Evaluation: fastMRI's metrics, ``evaluate`` of submission folders, the method benchmark and its report.

:mod:`metrics` and :mod:`evaluate` do not import torch.
"""
