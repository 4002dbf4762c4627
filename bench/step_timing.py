"""What the PyTorch step benchmarks share: the stages' SGD and the timed loop with its spread."""
import time

import torch


def sgd(model):
    """SGD as the rmdnet stages run it: momentum 0.9, dampening 0, weight decay 5e-4."""
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, dampening=0, weight_decay=5e-4)


def time_steps(model, loss_fn, batch, steps):
    """Runs 2 warm-up and `steps` timed SGD steps of `loss_fn()`; returns the spread of the
    timed steps' images per second as a printable `model step median .. img/s (min .., max
    .., N steps)`."""
    opt = sgd(model)
    rates = []
    for step in range(steps + 2):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
        if step >= 2:
            rates.append(batch / (time.perf_counter() - t0))
    rates.sort()
    return (
        f"model step median {rates[len(rates) // 2]:.1f} img/s "
        f"(min {rates[0]:.1f}, max {rates[-1]:.1f}, {steps} steps)"
    )
