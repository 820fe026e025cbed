#!/usr/bin/env python
"""How much could better on-indicators help the ``scalable-1`` preset (the ``scalable`` rule before the gated
weights)? An oracle answers.

    python scripts/studies/oracle_on_indicators.py                      # the four points of the note
    python scripts/studies/oracle_on_indicators.py --point 16000 0.004 1 --batch-size 500

For each point (width D, load, z) the script builds the ``scalable-1`` network and runs one batch
three ways, layer by layer with :meth:`circuits.Network.step`:

- ``plain``: the network as built;
- ``oracle-on``: after every layer, the on-indicator rows (``system.on_rows``) of every slot are
  overwritten with what an exact network would hold there (:meth:`circuits.Network.place` of the
  small system's own run): no spurious on-indicator anywhere, every active one exact. No
  construction that only improves on-indicators (inhibition, redundant copies on independent slot
  sets, thresholded recovery) can do better than this;
- ``oracle-payload``: the same for the payload rows instead.

It prints, per layer, the active circuits' payload and on-indicator mean squared error against
the small system's run, and how many slots outside the active circuits' sets have an on-indicator
row / a payload row on (mean per sample). If ``oracle-on`` leaves the payload error near
``plain``'s, the binding failure is on the payload rows.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from circuits.experiments import ExperimentSpec, build

#: (D, load, z): at and beyond the scalable boundary, and one point below it.
POINTS = ((2000, 0.0106, 1), (16000, 0.002, 1), (16000, 0.004, 1), (16000, 0.004, 2))
MODES = ("plain", "oracle-on", "oracle-payload")


def run(net, active, inputs, reference, mode: str) -> list[tuple]:
    """Per layer: (layer, payload mse, on mse, unowned slots with an on row on, with a payload row on)."""
    system, fam = net.system, net.system.family
    on_rows = list(system.on_rows)
    payload_rows = [r for r in range(net.circuit_width) if r not in on_rows]
    fixed = {"oracle-on": on_rows, "oracle-payload": payload_rows}.get(mode, [])
    acts, out = net.embed(active, inputs), []
    for layer in range(1, net.network_layers + 1):
        acts = net.step(layer, acts)
        if fixed:
            acts[:, fixed, :] = net.place(active, reference[layer], layer)[:, fixed, :]
        small = net.read_out(acts, layer, active).double().numpy()
        err_payload = fam.read_payload(small) - fam.read_payload(reference[layer])
        err_on = fam.read_on(small) - fam.read_on(reference[layer])
        unowned = 1 - net.active_mask(active, layer)  # (B, 1, D/d)
        on_on = ((acts[:, on_rows, :] > 0).any(1, keepdim=True).float() * unowned).sum((1, 2)).mean().item()
        pay_on = ((acts[:, payload_rows, :] > 0).any(1, keepdim=True).float() * unowned).sum((1, 2)).mean().item()
        out.append((layer, float(np.mean(err_payload ** 2)), float(np.mean(err_on ** 2)), on_on, pay_on))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--point", nargs=3, action="append", metavar=("WIDTH", "LOAD", "Z"),
                        help="a point to run (repeatable); default: the four of the module docstring")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    points = [(int(w), float(x), int(z)) for w, x, z in args.point] if args.point else POINTS
    for width, load, z in points:
        n_circuits = round(load * width ** 2 / 16)  # rotation: d = 4
        spec = ExperimentSpec(width=width, n_circuits=n_circuits, n_active=z, n_layers=4, preset="scalable-1",
                              batch_size=args.batch_size, seed=args.seed)
        start = time.time()
        net = build(spec)
        active, payloads = net.system.draw(z, args.batch_size, np.random.default_rng(args.seed))
        inputs = net.system.encode(payloads, active.shape)
        reference = net.system.run(active, inputs, net.n_layers)
        print(f"== {net}")
        for mode in MODES:
            for layer, mse_payload, mse_on, on_on, pay_on in run(net, active, inputs, reference, mode):
                print(f"{mode:15s} layer {layer}: payload mse {mse_payload:.4g}  on mse {mse_on:.3g}  "
                      f"unowned slots on: on rows {on_on:.1f}, payload rows {pay_on:.1f}")
        print(f"({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
