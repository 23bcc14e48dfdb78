"""Frontends: each turns what the user wrote into an SSA Program."""
