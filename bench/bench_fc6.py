"""fc6's two costs per tracking frame on this machine: the forward pass and the stage-2 step.

    python -m bench.bench_fc6 [--repeats 10]

Prints ms per fc6 forward (4096 x 9216 weight) for a frame's row counts (and phase 2's 256
samples) three ways: MKL's ``x W^T``, MKL's ``W x^T`` on rows padded to a multiple of 16 (what
``GDTNet.fc6_out`` runs with autograd or on a GPU) and oneDNN's linear (what it runs without
autograd on the CPU); and ms to write a stage-2 step ``W += U V`` of rank r into the weight,
with the cost per step of 16 rows when steps are written ``flush rank`` rows at a time
(gdt_core.tracking.fc6_steps) -- the numbers behind those choices, measured in one run.
"""

from __future__ import annotations

import argparse
import time

import torch

from gdt_core.network.network import FC6_ROW_BLOCK, GDTNet, linear_onednn, linear_weight_left


def _ms(fn, repeats: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--step-rows", type=int, default=16, help="sample rows per step")
    args = parser.parse_args()
    net = GDTNet().eval()
    weight, bias = net.fc6.weight.detach(), net.fc6.bias.detach()
    print(f"torch threads {torch.get_num_threads()}")
    print(
        f"{'rows':>5} {'x W^T ms':>9} {'W x^T padded ms':>16} {'oneDNN ms':>10} "
        f"{'x W^T / oneDNN':>15} {'W x^T / oneDNN':>15}"
    )
    with torch.no_grad():
        for rows in (48, 63, 64, 79, 80, 256):
            x = torch.randn(rows, weight.shape[1])
            plain = _ms(lambda x=x: torch.addmm(bias, x, weight.T), args.repeats)
            left = _ms(lambda x=x: linear_weight_left(net.fc6, x, FC6_ROW_BLOCK), args.repeats)
            onednn = _ms(lambda x=x: linear_onednn(net.fc6, x), args.repeats)
            print(
                f"{rows:>5} {plain:>9.1f} {left:>16.1f} {onednn:>10.1f} "
                f"{plain / onednn:>14.2f}x {left / onednn:>14.2f}x"
            )
        print(f"\n{'flush rank':>10} {'write ms':>9} {'ms per step':>11} {'vs every step':>13}")
        every = None
        for rank in (args.step_rows, 2 * args.step_rows, 4 * args.step_rows, 8 * args.step_rows):
            u, v = torch.randn(weight.shape[0], rank) * 1e-6, torch.randn(rank, weight.shape[1])
            write = _ms(lambda u=u, v=v: weight.addmm_(u, v), args.repeats)
            per_step = write * args.step_rows / rank
            every = every or per_step
            print(f"{rank:>10} {write:>9.1f} {per_step:>11.1f} {every / per_step:>12.2f}x")


if __name__ == "__main__":
    main()
