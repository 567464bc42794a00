"""The paper's published tables and claims, and the comparison of a run against them."""
