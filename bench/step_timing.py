"""What the PyTorch step benchmarks share: the stages' SGD, the command line, and the timed
loop with its spread."""
import argparse
import json
import os
import time

import torch


def sgd(model):
    """SGD as the rmdnet stages run it: momentum 0.9, dampening 0, weight decay 5e-4."""
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, dampening=0, weight_decay=5e-4)


def parser(description, default_batch):
    """The flags every step bench takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--steps", type=int, default=12, help="timed steps (after 2 warm-up steps)")
    p.add_argument("--batch", type=int, default=default_batch, help="images per step")
    p.add_argument("--device", default="cpu", help="cpu or cuda (or cuda:N)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model first (warm-up steps compile it)")
    p.add_argument("--json", action="store_true", help="print one JSON object per network instead of a line")
    return p


def setup(args, model):
    """Sets the CPU threads (RMD_BENCH_THREADS) and moves the model to the device."""
    torch.set_num_threads(int(os.environ.get("RMD_BENCH_THREADS", torch.get_num_threads())))
    model = model.to(args.device)
    return model


def time_steps(model, loss_fn, batch, steps, device="cpu", compiled=False):
    """Runs 2 warm-up and `steps` timed SGD steps of `loss_fn()`, each ended by a device
    synchronisation on a GPU; returns the timed steps' images per second as a dict (median,
    min, max, steps, warmup_seconds)."""
    opt = sgd(model)
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    rates = []
    warm = time.perf_counter()
    warmup_seconds = 0.0
    for step in range(steps + 2):
        if step == 2:
            warmup_seconds = time.perf_counter() - warm
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
        sync()
        if step >= 2:
            rates.append(batch / (time.perf_counter() - t0))
    rates.sort()
    return {
        "median": rates[len(rates) // 2],
        "min": rates[0],
        "max": rates[-1],
        "steps": steps,
        "warmup_seconds": warmup_seconds,
        "compiled": compiled,
    }


def measure(objective, net, model, loss_fn, args, steps):
    """Times `steps` steps (time_steps) with the command line's batch, device and compile
    flag, and prints `pytorch OBJECTIVE NET batch B[ compiled]: model step median .. img/s
    (min .., max .., N steps)`, or with --json one JSON object."""
    spread = time_steps(model, loss_fn, args.batch, steps, args.device, args.compile)
    if args.json:
        fields = {"objective": objective, "net": net, "batch": args.batch, "device": args.device}
        print(json.dumps({**fields, "torch": torch.__version__, "model_img_per_s": spread}))
    else:
        tag = " compiled" if args.compile else ""
        print(
            f"pytorch {objective} {net} batch {args.batch}{tag}: model step median {spread['median']:.1f} img/s "
            f"(min {spread['min']:.1f}, max {spread['max']:.1f}, {spread['steps']} steps)"
        )
