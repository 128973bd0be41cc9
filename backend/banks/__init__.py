"""Bank batch files (代扣 withholding, 代发 pay-out), return files (回盘) and their import."""
