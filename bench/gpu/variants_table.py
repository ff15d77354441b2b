#!/usr/bin/env python3
"""Side-by-side table of the library variants that `bench/device.sh variants` timed.

Reads variants.log: per variant a line `=== variant-NAME: ...` (bench/device.sh's step header),
then gpu_bench's tables. Prints, per shape and token count, ropekit's time under each variant
next to the touch kernels and the copy of the same run (the first variant's row), and the MRoPE
ratios per variant.
"""
import re
import sys


def parse(path):
    variants = {}  # name -> {"main": {(shape, T): row}, "mrope": {(shape, kind, T): (plain, mrope)}}
    order = []
    current = None
    with open(path) as log:
        for line in log:
            header = re.match(r"=== variant-(\S+):", line)
            if header:
                current = header.group(1)
                order.append(current)
                variants[current] = {"main": {}, "mrope": {}}
                continue
            if current is None:
                continue
            fields = line.split()
            # main table: shape T ropekit no_pdl naive touch touch_cs copy of_copy touch GB/s ...
            if len(fields) >= 11 and fields[1].isdigit() and fields[8].endswith("%"):
                variants[current]["main"][(fields[0], int(fields[1]))] = [
                    float(f) for f in fields[2:8]]
            # MRoPE table: shape sections T plain mrope ratio
            elif len(fields) >= 6 and fields[1] in ("contiguous", "interleaved") and fields[2].isdigit():
                variants[current]["mrope"][(fields[0], fields[1], int(fields[2]))] = (
                    float(fields[3]), float(fields[4]))
    return order, variants


def main():
    order, variants = parse(sys.argv[1])
    if not order:
        print("no variants in", sys.argv[1])
        return
    first = variants[order[0]]
    print(f"{'shape':22} {'T':>6} " + " ".join(f"{v:>9}" for v in order) +
          f" {'touch':>8} {'touch_cs':>8} {'copy':>8}   (us per call)")
    for key, row in first["main"].items():
        cells = []
        for v in order:
            r = variants[v]["main"].get(key)
            cells.append(f"{r[0]:9.2f}" if r else f"{'-':>9}")
        print(f"{key[0]:22} {key[1]:6d} " + " ".join(cells) +
              f" {row[3]:8.2f} {row[4]:8.2f} {row[5]:8.2f}")
    print()
    print(f"{'mrope shape':22} {'sections':12} {'T':>6} " + " ".join(f"{v:>11}" for v in order) +
          "   (mrope us / ratio to the variant's own plain RoPE)")
    for key in first["mrope"]:
        cells = []
        for v in order:
            r = variants[v]["mrope"].get(key)
            cells.append(f"{r[1]:6.1f}/{r[1] / r[0]:.2f}" if r else f"{'-':>11}")
        print(f"{key[0]:22} {key[1]:12} {key[2]:6d} " + " ".join(cells))


if __name__ == "__main__":
    main()
