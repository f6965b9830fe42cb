"""Pipelines that run a method over whole files: file -> slices -> method -> images -> file."""
