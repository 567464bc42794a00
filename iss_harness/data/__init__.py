"""The data sets: fetching (verified), reading PTB and SQuAD, the official SQuAD metric."""
