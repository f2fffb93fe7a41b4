"""The console's pages, one module each; common.py holds what they share (rendering,
role checks, the CSRF check of every form)."""
