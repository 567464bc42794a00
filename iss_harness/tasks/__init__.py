"""The paper's experiments: Tables 1-3 (rows, training, evaluation, timing) and their results tree."""
