"""Monthly pension payroll: build, review, approve, bank files, return files, ledger posting."""
