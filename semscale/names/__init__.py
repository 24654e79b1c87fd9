"""Names for classes: label sets and their files, WordNet and word commonness, display names, name schemes."""
