"""Readers of the job's inputs: event logs (files or S3) and the replica tables (SQLAlchemy)."""
