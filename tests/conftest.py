import os

# Tests share two cores; keep each worker's intra-op pool small.
os.environ.setdefault("OMP_NUM_THREADS", "1")
