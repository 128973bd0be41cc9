"""Decision support (issue 16): indicators, report forms; read-side, writes only its own tables."""
