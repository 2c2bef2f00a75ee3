"""The lake's Feast feature store: feature tables, the registry, online sync and retrieval."""
