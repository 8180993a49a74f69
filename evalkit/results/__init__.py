"""Results: the one reader and writer of result files, the in-memory scores, and the model card's YAML."""
