"""Offline quality of recommendations, measured as ../shared/EVALUATION.md describes."""
