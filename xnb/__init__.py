"""xnb: the residents' pension and social security card platform (command-line root)."""
