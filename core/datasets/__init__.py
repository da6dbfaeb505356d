"""Labelled photo datasets: class folders registered by name (`registry`), their
near-duplicate groups (`duplicates`) and the split that keeps those groups together
(`split`)."""
