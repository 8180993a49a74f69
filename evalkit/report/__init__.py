"""Reports read from disk: the comparison model, its renderers, and the regression gate."""
