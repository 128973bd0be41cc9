"""Transfers of contributors between counties and out of the province."""
