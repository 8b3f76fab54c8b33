"""Hub I/O: the dataset repo layout, cards from templates, and the one upload function."""
