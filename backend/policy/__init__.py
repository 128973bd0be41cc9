"""Dated, regional rule tables: grades, subsidies, hardship groups, make-up, interest, benefits."""
