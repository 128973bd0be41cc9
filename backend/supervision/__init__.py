"""Fund supervision (基金监管): rules that read the operational data and raise findings."""
