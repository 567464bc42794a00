"""Tables, figures and the one-page report, read from results files (no torch)."""
