"""Reference timing of ott-jax's W2NeuralDual (ICNN W2 neural dual) on CPU.

Usage: reference.py OUT.json [--dims "2 16"] [--steps K] [--seed S]

Problem, for each d: source rho = N(0, I_d); target = F#rho with F(x) = A x,
A = Q1 diag(s) Q2, Q1 and Q2 orthogonal with det +1 (QR of seeded Gaussian
matrices, column signs fixed), s log-spaced from 1 to 8 (condition number 8,
det A > 0). Fresh batches of 1024 source and 1024 target samples every step.

Model (ott.neural.methods.neuraldual.W2NeuralDual, ott-jax 0.6.0):
  neural_f = ott.neural.networks.icnn.ICNN(dim_hidden=[64]*4, ranks=1,
             pos_weights=True)  -- low-rank (1) + diagonal positive quadratic
             layers on x, identity initialisation (gaussian_map_samples=None)
  neural_g = ott.neural.networks.potentials.PotentialMLP(dim_hidden=[64]*4,
             is_potential=False)  -- the amortization map g(y) = y + MLP(y)
  conjugate_solver = ott.neural.networks.layers.conjugate.FenchelConjugateLBFGS(
             gtol=1e-5, max_iter=20, max_linesearch_iter=20,
             linesearch_type="backtracking")  (the same values as ott's
             DEFAULT_CONJUGATE_SOLVER; jaxopt.LBFGS underneath)
  amortization_loss = "regression"
  optimizer_f = optimizer_g = optax.adam(1e-3) (b1 0.9, b2 0.999, eps 1e-8),
             NOT ott's default adam(1e-4, b1=0.5, b2=0.9).
  W2NeuralDual defaults relied on: num_inner_iters=1 and parallel_updates=True
  (one jitted step updates f and g together on loss = dual + amortization),
  back_and_forth=False (f is not a PotentialMLP), pos_weights=True (ICNN
  w_z kernels through a relu rectifier), beta unused, no validation step (valid_freq
  never reached).

Timing: W2NeuralDual's own loop (__call__ -> train_neuraldual_parallel) only
pulls batches from iterators and calls the jitted `train_step_parallel`
(ott's get_step_fn(train=True, to_optimize="both")); its validation and
logging are off the timed path at our settings. We therefore drive
`solver.train_step_parallel` directly, exactly as the loop does: per step, a
fresh numpy batch is drawn (not timed), turned into device arrays, and the
step is called and jax.block_until_ready'd on its outputs; the wall time of
that call is the step time. The first call (tracing + XLA compilation + one
step) is timed separately as warm-up and excluded. Float32 (JAX default).
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


class _Parser(argparse.ArgumentParser):

  def error(self, message):  # one line instead of usage + error
    self.exit(2, f"bench-reference: {message} (usage: run OUT.json "
              f"[--dims \"2 16\"] [--steps K])\n")


def parse_args(argv):
  p = _Parser(description=__doc__.split("\n")[0])
  p.add_argument("out")
  p.add_argument("--dims", default="2 16")
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--seed", type=int, default=0)
  a = p.parse_args(argv)
  a.dims = [int(t) for t in a.dims.replace(",", " ").split()]
  if not a.dims or any(d < 1 for d in a.dims) or a.steps < 1:
    p.error("need at least one dimension >= 1 and --steps >= 1")
  out_dir = os.path.dirname(os.path.abspath(a.out))
  if not os.path.isdir(out_dir) or not os.access(out_dir, os.W_OK):
    p.error(f"cannot write {a.out}: no writable directory {out_dir}")
  return a


BATCH = 1024
HIDDEN = [64, 64, 64, 64]
RANK = 1
LR = 1e-3
CONDITION = 8.0
LBFGS = dict(gtol=1e-5, max_iter=20, max_linesearch_iter=20,
             linesearch_type="backtracking")


def rotation(rng, d):
  """Orthogonal d x d matrix with det +1 from the QR of a Gaussian matrix."""
  q, r = np.linalg.qr(rng.standard_normal((d, d)))
  q = q * np.sign(np.diag(r))
  if np.linalg.det(q) < 0:
    q[:, 0] = -q[:, 0]
  return q


def linear_field(d, seed):
  rng = np.random.default_rng(seed)
  s = np.geomspace(1.0, CONDITION, d) if d > 1 else np.ones(1)
  a = rotation(rng, d) @ np.diag(s) @ rotation(rng, d)
  assert np.linalg.det(a) > 0
  return a.astype(np.float32)


def bench_dim(d, steps, seed):
  import jax
  import optax
  from ott.neural.methods import neuraldual
  from ott.neural.networks import icnn, potentials
  from ott.neural.networks.layers import conjugate

  a = linear_field(d, seed)
  solver = neuraldual.W2NeuralDual(
      dim_data=d,
      neural_f=icnn.ICNN(dim_data=d, dim_hidden=HIDDEN, ranks=RANK,
                         pos_weights=True),
      neural_g=potentials.PotentialMLP(dim_hidden=HIDDEN, is_potential=False),
      optimizer_f=optax.adam(LR),
      optimizer_g=optax.adam(LR),
      num_train_iters=steps + 1,
      conjugate_solver=conjugate.FenchelConjugateLBFGS(**LBFGS),
      amortization_loss="regression",
      rng=jax.random.key(seed),
  )
  assert solver.train_fn == solver.train_neuraldual_parallel
  rng = np.random.default_rng(seed + 1000 * d + 1)

  def batch():
    x = rng.standard_normal((BATCH, d)).astype(np.float32)
    z = rng.standard_normal((BATCH, d)).astype(np.float32)
    return x, z @ a.T  # source ~ rho, target ~ F#rho (independent draws)

  def step():
    x, y = batch()
    t0 = time.perf_counter()
    out = solver.train_step_parallel(
        solver.state_f, solver.state_g,
        {"source": jax.numpy.asarray(x), "target": jax.numpy.asarray(y)})
    out = jax.block_until_ready(out)
    dt = time.perf_counter() - t0
    solver.state_f, solver.state_g, loss, loss_f, loss_g, _ = out
    if not np.isfinite(float(loss)):
      raise RuntimeError(f"d={d}: non-finite loss")
    return dt

  warmup = step()
  times = [step() for _ in range(steps)]
  return {
      "median_step_seconds": statistics.median(times),
      "min": min(times),
      "max": max(times),
      "steps": steps,
      "step_seconds": list(times),
      "warmup_seconds": warmup,
  }


def main(argv):
  args = parse_args(argv)
  import importlib.metadata as md
  import jax

  xla_flags = os.environ.get("XLA_FLAGS", "")
  result = {
      "library": {p: md.version(p) for p in ("ott-jax", "jax", "jaxlib")},
      "device": str(jax.devices()),
      "threads": {
          "os_cpu_count": os.cpu_count(),
          "affinity_cpus": len(os.sched_getaffinity(0)),
          "XLA_FLAGS": xla_flags,
          "note": "no thread-limiting flags set: XLA CPU uses all cores",
      },
      "settings": {
          "problem": "rho = N(0, I_d); target = A#rho, A = Q1 diag(s) Q2, "
                     "Q det +1, s geomspace(1, 8)",
          "batch_source": BATCH, "batch_target": BATCH,
          "icnn": {"dim_hidden": HIDDEN, "ranks": RANK, "pos_weights": True,
                   "init": "identity"},
          "amortizer": {"class": "PotentialMLP", "dim_hidden": HIDDEN,
                        "is_potential": False},
          "conjugate": dict(LBFGS, solver="FenchelConjugateLBFGS"),
          "amortization_loss": "regression",
          "optimizer": f"optax.adam({LR}) for f and g (b1 0.9, b2 0.999)",
          "updates": "parallel (num_inner_iters=1), back_and_forth=False",
          "dtype": "float32",
          "timing": "jitted train_step_parallel, block_until_ready, "
                    "warm-up (compile + 1 step) excluded",
          "seed": args.seed,
      },
      "dims": {},
  }
  for d in args.dims:
    r = bench_dim(d, args.steps, args.seed)
    result["dims"][str(d)] = r
    print(f"ott-jax W2NeuralDual d={d}: median {r['median_step_seconds']:.3f} s/step "
          f"(min {r['min']:.3f}, max {r['max']:.3f}, K={args.steps}), "
          f"warm-up {r['warmup_seconds']:.1f} s", flush=True)
  with open(args.out, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")


if __name__ == "__main__":
  try:
    main(sys.argv[1:])
  except Exception as e:  # one-line message for the run script
    print(f"bench-reference: {type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
