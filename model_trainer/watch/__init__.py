"""Watching trials and studies from their files: what `mtrain status` and the live view show.

Reads only files (status.json, recipe.yaml, the new tail of metrics.jsonl, the study
index), so it works from any terminal and on a copy rsynced from a cluster, and it costs
the trials nothing. Light on purpose: rich and PyYAML, no torch or pandas, so `mtrain
status` starts fast. It imports only the bottom helpers.
"""
