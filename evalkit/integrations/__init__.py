"""evalkit inside other tools' loops: `sentence_transformers.CMTEBEvaluator` for `SentenceTransformerTrainer`.

Each module imports the tool it serves; `import evalkit` imports none of them.
"""
