"""``python -m benchmarks``: the same as ``wess bench``."""

from wess_emulator.bench import bench_command

if __name__ == "__main__":
    bench_command(prog_name="python -m benchmarks")
