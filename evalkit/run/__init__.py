"""Running a suite: model loading, task data, the embedding cache, sampling, and the runner."""
