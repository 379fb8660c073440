"""gunicorn settings shared by every app under test; the rest is on the command line.

Each worker drops a file named after its pid in ``$BENCH_READY_DIR`` once it has loaded the app,
so the benchmark starts measuring only when every worker is ready.
"""
import os

accesslog = None


def post_worker_init(worker):
    directory = os.environ.get("BENCH_READY_DIR")
    if directory:
        with open(os.path.join(directory, str(worker.pid)), "w", encoding="ascii"):
            pass
