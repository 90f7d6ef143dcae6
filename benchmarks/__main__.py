"""``python -m benchmarks``: the same as ``wess bench``."""

from wess_core.bench import bench_command

if __name__ == "__main__":
    bench_command(prog_name="python -m benchmarks")
