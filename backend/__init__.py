"""The provincial backend: all business of the residents' pension programme."""
