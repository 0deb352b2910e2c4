"""The flow language: models, YAML loading with line numbers, expressions and validation."""
