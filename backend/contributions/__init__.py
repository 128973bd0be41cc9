"""Yearly assessment, counter collection and reversal, make-up, refunds, tax-bureau results."""
