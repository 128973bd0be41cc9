"""The reviewer's inbox: a read model over the domains' pending maker-checker items."""
