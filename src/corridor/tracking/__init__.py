"""Tracking: experiments, runs, params, metrics and artifacts."""
