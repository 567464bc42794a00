"""What the sparsity-speed measurement times and where it writes it: shared, without torch, by the
measurement (``iss_harness.tasks.sparsity_speed``) and the figure and report that read its file."""

RESULT_NAME = "sparsity_speed.json"
KINDS = ("structured", "csr", "csr_int64", "dense_masked")
KIND_LABELS = {
    "structured": "structured (ISS: smaller dense GEMM)",
    "csr": "non-structured, CSR (int32 indices)",
    "csr_int64": "non-structured, CSR (int64 indices)",
    "dense_masked": "non-structured, dense kernel (zeros kept)",
}
