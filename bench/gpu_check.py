"""The GPU lane: the checks that need a GPU, for PyTorch (CUDA) and Keras on JAX's CUDA backend.

GPU machines often have torch and JAX but no TensorFlow, so Keras runs on JAX here. Four checks,
all on the chapter's CIFAR-10 CNN (``specs/cifar10_cnn.yaml``), float32 with TF32 off
(torch: :func:`archdsl.backends.torch.parity_mode`, which also makes the kernels deterministic;
JAX: ``jax_default_matmul_precision="highest"``):

a. **forward**: one seeded init, one random batch, every node compared in eval mode: PyTorch on
   CUDA against Keras-on-JAX on the GPU, and both against the CPU (PyTorch and Keras-on-JAX) and
   a float64 CPU reference (max abs differences).
b. **train**: ``--steps`` (50) matched training steps in both frameworks on the GPU with the
   lock-step machinery of ``archdsl crosscheck --train-steps`` (:func:`lockstep_run`: one init,
   identical batches and dropout masks, matched conventions), on synthetic data of CIFAR-10's
   size; prints the largest relative loss difference.
c. **float64**: the forward pass and ``--steps`` training steps of PyTorch on CUDA against
   PyTorch on the CPU in float64. Keras on JAX refuses float64 by design (the Keras backend's
   ``build`` says why); that part is reported as skipped with that reason.
d. **epoch**: one epoch of 50,000 synthetic 3×32×32 images (batch 50, Adam, the chapter's
   settings) per framework on the GPU, after a short warm-up: steps/s and seconds per epoch.

Without CUDA every check is printed as skipped, with the reason, and the exit code is 0.
``--cpu-smoke`` runs the same code with tiny sizes on the CPU (on Keras' configured backend), so
the script can be tested anywhere (tests/test_gpu_check.py).

Usage::

    KERAS_BACKEND=jax python bench/gpu_check.py [--json PATH] [--steps 50]
    python bench/gpu_check.py --cpu-smoke --steps 2 [--json PATH]

Exit code: 0 when every check that ran agrees (or all were skipped), 1 when one failed or
raised. Float32 training runs of a max-pooling network part after some steps (docs/training.md,
``archdsl crosscheck --train-steps``); that is reported as a note, not a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "cifar10_cnn.yaml"
#: says in every output that the data is not CIFAR-10's (the real files are not on GPU machines)
DATA_NOTE = "synthetic data of CIFAR-10's size"
CHECKS = ("forward", "train", "float64", "epoch")
TITLES = {
    "forward": "a. forward pass, float32, TF32 off",
    "train": "b. matched training steps, float32",
    "float64": "c. float64 parity (PyTorch CUDA vs CPU)",
    "epoch": "d. one CIFAR-10-sized epoch",
}


@dataclasses.dataclass
class Sizes:
    """How much each check does: the full GPU run, or the CPU smoke test."""

    steps: int  # training steps of checks b and c
    forward_batch: int  # images in check a's batch
    train_images: int  # synthetic training images (check d: one epoch of them)
    test_images: int
    warmup: int  # untimed steps before check d's epoch
    batch: int


def sizes(args: argparse.Namespace) -> Sizes:
    smoke = args.cpu_smoke
    return Sizes(
        steps=args.steps if args.steps is not None else (2 if smoke else 50),
        forward_batch=2 if smoke else 16,
        train_images=args.images if args.images is not None else (100 if smoke else 50_000),
        test_images=50 if smoke else 1_000,
        warmup=1 if smoke else 20,
        batch=args.batch,
    )


from gpu_env import (  # noqa: E402  (a sibling module of this script)
    Devices,
    compare,
    find_devices,
    load_api,
    precision_state,
    prepare_environment,
    rel_loss_diffs,
    synthetic_dataset,
    table,
    train_data,
    versions,
)


# ---------------------------------------------------------------------------- check a
@contextlib.contextmanager
def keras_on_cpu(dev: Devices) -> Iterator[None]:
    """Keras-on-JAX on the CPU device (variables created and ops run there)."""
    if dev.keras_backend == "jax":
        import jax

        with jax.default_device(jax.devices("cpu")[0]):
            yield
    else:  # TensorFlow in the smoke test: a CPU-only machine
        yield


def check_forward(api: SimpleNamespace, graph: Any, dev: Devices, sz: Sizes,
                  dataset: Any = None) -> dict[str, Any]:
    tb = api.load_backend("torch") if dev.torch else None
    kb = api.load_backend("keras") if dev.keras else None
    weights = api.init_weights(graph, None, 0)
    x32 = api.random_inputs(graph, sz.forward_batch, 0, "float32")
    outs: dict[str, dict[str, np.ndarray]] = {}
    labels: dict[str, str] = {}
    if tb is not None:
        tb.parity_mode(warn_only=dev.torch == "cuda")
        outs["torch"] = tb.forward(tb.build(graph, weights=weights, device=dev.torch), graph, x32)
        labels["torch"] = dev.torch_label
        outs["torch_cpu"] = tb.forward(tb.build(graph, weights=weights, device="cpu"), graph, x32)
        labels["torch_cpu"] = "PyTorch CPU"
        x64 = [x.astype(np.float64) for x in x32]
        ref = tb.build(graph, weights=weights, dtype="float64", device="cpu")
        outs["ref64"] = tb.forward(ref, graph, x64)
        labels["ref64"] = "PyTorch CPU float64 (reference)"
    if kb is not None:
        outs["keras"] = kb.forward(kb.build(graph, weights=weights), graph, x32)
        labels["keras"] = dev.keras_label
        with keras_on_cpu(dev):
            outs["keras_cpu"] = kb.forward(kb.build(graph, weights=weights), graph, x32)
        labels["keras_cpu"] = dev.keras_on("CPU")
    tol = api.TOLERANCE["float32"]
    # (a, b, checked against the tolerance)
    pairs = [("torch", "keras", True), ("torch", "torch_cpu", True), ("keras", "keras_cpu", True),
             ("keras", "torch_cpu", True), ("torch", "ref64", False), ("keras", "ref64", False),
             ("torch_cpu", "ref64", False), ("keras_cpu", "ref64", False)]
    rows, comparisons, seen = [], [], set()
    for a, b, checked in pairs:
        if a not in outs or b not in outs or (labels[a], labels[b]) in seen:
            continue  # a framework absent, or the same runs twice (--cpu-smoke: all on the CPU)
        seen.add((labels[a], labels[b]))
        c = compare(graph, outs[a], outs[b])
        ok = c["max_abs_diff"] <= tol if checked else None
        comparisons.append({"a": labels[a], "b": labels[b], "checked": checked, "ok": ok,
                            **({k: v for k, v in c.items() if k != "per_node"}),
                            **({"per_node": c["per_node"]} if (a, b) == ("torch", "keras")
                               else {})})
        rows.append([f"{labels[a]} vs {labels[b]}", c["max_abs_diff"], c["logits_max_abs_diff"],
                     c["worst_node"], ("yes" if ok else "NO") if checked else "(reference)"])
    verdicts = [c["ok"] for c in comparisons if c["checked"]]
    text = table(["comparison", "max |Δ| all nodes", "max |Δ| logits", "worst node",
                  f"within {tol:g}"], rows)
    skipped = [f"{k} part skipped: {v}" for k, v in dev.why_not.items()]
    return {"status": "ok" if all(verdicts) else "fail", "batch": sz.forward_batch,
            "tolerance": tol, "comparisons": comparisons, "text": text, "notes": skipped}


# ---------------------------------------------------------------------------- checks b, c
def loss_summary(losses: dict[str, list[float]]) -> dict[str, Any]:
    a, b = list(losses)
    rel = rel_loss_diffs(losses[a], losses[b])
    worst = int(np.argmax(rel)) if rel else 0
    return {"max_rel_loss_diff": max(rel, default=0.0), "max_rel_loss_diff_step": worst + 1,
            "max_abs_loss_diff": max((abs(x - y) for x, y in zip(losses[a], losses[b])),
                                     default=0.0),
            "rel_loss_diff_per_step": rel, "losses": losses}


def run_summary(run: Any) -> dict[str, Any]:
    return {
        **loss_summary(run.losses),
        "max_grad_rel_diff_first_step": max(run.grad_rel_diff_first_step.values(), default=0.0),
        "first_divergent_grad_node": run.first_divergent_grad_node,
        "first_divergent_grad_step": run.first_divergent_grad_step,
        "grad_tolerance": run.grad_tolerance,
        "max_param_rel_diff": max(run.param_rel_diff.values(), default=0.0),
        "eval_logit_max_abs_diff": run.eval_logit_max_abs_diff,
        "wall_s": run.wall_s,
    }


def steps_table(s: dict[str, Any], names: list[str], steps: int) -> str:
    rel = s["rel_loss_diff_per_step"]
    marks = sorted({1, 2, 5, 10, 20, 30, 40, 50, steps} & set(range(1, steps + 1)))
    rows = [[k, *[f"{s['losses'][n][k - 1]:.6f}" for n in names], rel[k - 1],
             max(rel[:k])] for k in marks]
    return table(["step", *[f"{n} loss" for n in names], "rel. diff", "largest up to here"],
                 rows)


def check_train(api: SimpleNamespace, graph: Any, dev: Devices, sz: Sizes,
                dataset: Any) -> dict[str, Any]:
    config = api.override_config(api.resolve_config(graph), {"batch_size": sz.batch})
    data = train_data(api, graph, config, dataset)
    fws = [api.load_framework("torch"), api.load_framework("keras")]
    # the torch trainer gets this device; the Keras trainer on JAX runs on JAX's default device
    run = api.lockstep_run(graph, config, data, fws, sz.steps, device=dev.torch, gradients=True)
    s = run_summary(run)
    tol = api.LOSS_TOLERANCE["float32"]
    grads_ok = s["max_grad_rel_diff_first_step"] <= s["grad_tolerance"]
    notes = []
    if s["max_rel_loss_diff"] > api.PARTED:
        notes.append(
            f"the float32 runs part (relative loss difference up to "
            f"{s['max_rel_loss_diff']:.1e}): the chapter's CNN has max pooling, which sends each "
            "window's gradient to its largest element; where two elements differ by less than "
            "round-off each framework may pick another one (docs/benchmarks.md). Check c shows "
            "the arithmetic itself in float64")
    s.update({
        "status": "ok" if grads_ok else "fail",
        "loss_tolerance": tol, "within_loss_tolerance": s["max_rel_loss_diff"] <= tol,
        "steps": sz.steps, "data": f"{DATA_NOTE} ({len(dataset.y_train)} images)",
        "frameworks": [dev.torch_label, dev.keras_label], "notes": notes,
        "text": (f"{sz.steps} lock-step steps, {DATA_NOTE}, batch {config.batch_size}: largest "
                 f"relative loss difference {s['max_rel_loss_diff']:.2e} (step "
                 f"{s['max_rel_loss_diff_step']}); step-1 gradients within "
                 f"{s['max_grad_rel_diff_first_step']:.1e} of each other (tolerance "
                 f"{s['grad_tolerance']:g}); eval logits after training differ by "
                 f"{s['eval_logit_max_abs_diff']:.2e}\n\n"
                 + steps_table(s, list(run.losses), sz.steps)),
    })
    return s


def cpu_twin(fw: Any) -> Any:
    """The same framework with its trainer pinned to the CPU, under another name."""
    def make_trainer(model: Any, graph: Any, config: Any, *, device: str, native: Any) -> Any:
        return fw.make_trainer(model, graph, config, device="cpu", native=native)

    return dataclasses.replace(fw, name=f"{fw.name}-cpu", make_trainer=make_trainer)


def check_float64(api: SimpleNamespace, graph: Any, dev: Devices, sz: Sizes,
                  dataset: Any) -> dict[str, Any]:
    tb = api.load_backend("torch")
    tol_fwd = api.TOLERANCE["float64"]
    weights = api.init_weights(graph, None, 0)
    x64 = [x.astype(np.float64) for x in api.random_inputs(graph, sz.forward_batch, 0)]
    dev_out = tb.forward(tb.build(graph, weights=weights, dtype="float64", device=dev.torch),
                         graph, x64)
    cpu_out = tb.forward(tb.build(graph, weights=weights, dtype="float64", device="cpu"),
                         graph, x64)
    fwd = {k: v for k, v in compare(graph, dev_out, cpu_out).items() if k != "per_node"}
    rows = [[f"forward: {dev.torch_label} vs PyTorch CPU", fwd["max_abs_diff"],
             fwd["worst_node"], tol_fwd]]
    out: dict[str, Any] = {"forward": fwd, "forward_tolerance": tol_fwd}
    # training: the CPU trainer first; a CPU trainer turns on strict determinism, the CUDA one
    # (built second) relaxes it to warnings for the few CUDA kernels without a deterministic one
    config = api.override_config(api.resolve_config(graph),
                                 {"dtype": "float64", "batch_size": sz.batch})
    data = train_data(api, graph, config, dataset)
    torch_fw = api.load_framework("torch")
    run = api.lockstep_run(graph, config, data, [cpu_twin(torch_fw), torch_fw], sz.steps,
                           device=dev.torch, gradients=True)
    s = run_summary(run)
    tol_loss = api.LOSS_TOLERANCE["float64"]
    rows.append([f"{sz.steps} training steps: {dev.torch_label} vs PyTorch CPU, largest "
                 "relative loss difference", s["max_rel_loss_diff"],
                 f"step {s['max_rel_loss_diff_step']}", tol_loss])
    rows.append(["  step-1 gradients, largest relative difference",
                 s["max_grad_rel_diff_first_step"], "", s["grad_tolerance"]])
    rows.append(["  parameters after training, largest relative drift",
                 s["max_param_rel_diff"], "", ""])
    out["train"] = {**s, "steps": sz.steps, "loss_tolerance": tol_loss}
    # Keras: on JAX the backend refuses float64 and says why
    notes: list[str] = []
    if dev.keras is None:
        out["keras"] = {"status": "skipped", "reason": dev.why_not.get("keras", "")}
    else:
        kb = api.load_backend("keras")
        try:
            k_model = kb.build(graph, weights=weights, dtype="float64")
        except api.BackendError as exc:
            reason = str(exc).splitlines()[0]
            out["keras"] = {"status": "skipped", "reason": reason}
            notes.append(f"Keras on {dev.keras_backend}: skipped: {reason}")
        else:  # TensorFlow backend (the CPU smoke test): float64 works
            k_out = kb.forward(k_model, graph, x64)
            kd = {k: v for k, v in compare(graph, k_out, cpu_out).items() if k != "per_node"}
            out["keras"] = {"status": "ok" if kd["max_abs_diff"] <= tol_fwd else "fail", **kd}
            rows.append([f"forward: {dev.keras_label} vs PyTorch CPU", kd["max_abs_diff"],
                         kd["worst_node"], tol_fwd])
    ok = (fwd["max_abs_diff"] <= tol_fwd and s["max_rel_loss_diff"] <= tol_loss
          and s["max_grad_rel_diff_first_step"] <= s["grad_tolerance"]
          and out["keras"]["status"] != "fail")
    out.update({"status": "ok" if ok else "fail", "notes": notes, "data": DATA_NOTE,
                "text": table(["float64", "value", "where", "tolerance"], rows)})
    return out


# ---------------------------------------------------------------------------- check d
def check_epoch(api: SimpleNamespace, graph: Any, dev: Devices, sz: Sizes,
                dataset: Any) -> dict[str, Any]:
    config = api.override_config(api.resolve_config(graph), {"batch_size": sz.batch})
    data = train_data(api, graph, config, dataset)
    nodes = api.dropout_nodes(graph)
    runs: dict[str, Any] = {}
    rows = []
    for name, label, ok in (("torch", dev.torch_label, dev.torch),
                            ("keras", dev.keras_label, dev.keras)):
        if not ok:
            runs[name] = {"status": "skipped", "reason": dev.why_not.get(name, "")}
            continue
        session = api.start_session(graph, config, [api.load_framework(name)], frozenset(),
                                    dev.torch or "cpu")
        loop = api.Lockstep(session.trainers, nodes, seed=config.seed, dtype=config.dtype,
                            masks=config.dropout == "matched")
        warm = 0
        for index, (xb, yb) in enumerate(data.train.epoch(0)):  # compile, autotune, allocate
            if index >= sz.warmup:
                break
            loop.step(xb, yb, epoch=0, index=index)
            warm += 1
        steps, step_s, loss_sum = 0, 0.0, 0.0
        t0 = time.perf_counter()
        for index, (xb, yb) in enumerate(data.train.epoch(1)):  # data, masks and steps timed
            results, seconds = loop.step(xb, yb, epoch=1, index=index)
            steps += 1
            step_s += seconds[name]
            loss_sum += float(results[name].loss)
        wall = time.perf_counter() - t0
        runs[name] = {"status": "ok", "framework": label, "steps": steps, "warmup_steps": warm,
                      "epoch_s": wall, "steps_per_s": steps / wall,
                      "ms_per_step_in_trainer": 1000 * step_s / steps,
                      "images_per_s": steps * config.batch_size / wall,
                      "mean_loss": loss_sum / steps}
        rows.append([label, steps, f"{steps / wall:.1f}", f"{wall:.2f}",
                     f"{1000 * step_s / steps:.2f}", f"{loss_sum / steps:.4f}"])
    n = len(dataset.y_train)
    ran = [r for r in runs.values() if r["status"] == "ok"]
    return {
        "status": "ok" if ran else "skipped", "images": n, "batch": config.batch_size,
        "optimizer": config.optimizer.name, "lr": config.optimizer.lr,
        "data": f"{DATA_NOTE}: {n:,} synthetic 3×32×32 images", "runs": runs,
        "text": (f"one epoch of {n:,} images, {DATA_NOTE} (faint class templates under noise; "
                 f"real CIFAR-10 is not on the device), batch {config.batch_size}, "
                 f"{config.optimizer.name} lr {config.optimizer.lr:g}, flips, matched dropout "
                 "masks; timed after a warm-up, data pipeline included\n\n"
                 + table(["framework", "steps", "steps/s", "s/epoch", "ms/step in trainer",
                          "mean loss"], rows)),
    }


# ---------------------------------------------------------------------------- main
#: the frameworks each check uses: train and float64 need all of theirs, the others either one
NEEDS: dict[str, tuple[str, ...]] = {
    "forward": ("torch", "keras"),
    "train": ("torch", "keras"),
    "float64": ("torch",),
    "epoch": ("torch", "keras"),
}


def why_skipped(check: str, dev: Devices) -> str | None:
    have = {"torch": dev.torch is not None, "keras": dev.keras is not None}
    need = NEEDS[check]
    missing = [n for n in need if not have[n]]
    needs_all = check in ("train", "float64")
    if missing and (needs_all or len(missing) == len(need)):
        return "; ".join(f"{n}: {dev.why_not.get(n, 'unavailable')}" for n in missing)
    return None


def run_checks(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    prepare_environment(args.cpu_smoke)
    dev = find_devices(args.cpu_smoke)
    sz = sizes(args)
    report: dict[str, Any] = {"mode": dev.mode, "spec": str(SPEC.relative_to(ROOT)),
                              "data": DATA_NOTE, "sizes": dataclasses.asdict(sz),
                              "devices": {"torch": dev.torch, "keras": dev.keras,
                                          "keras_backend": dev.keras_backend,
                                          "unavailable": dev.why_not},
                              "versions": versions(dev), "checks": {}}
    print(f"archdsl GPU lane ({dev.mode}): {report['spec']}, float32 with TF32 off; "
          f"training and timing on {DATA_NOTE}")
    for k, v in report["versions"].items():
        print(f"  {k}: {v}")
    api = load_api() if dev.torch or dev.keras else None
    graph = api.archdsl.load(SPEC) if api else None
    dataset = None
    failed = 0
    t_all = time.perf_counter()
    for check in CHECKS:
        if check not in args.only:
            continue
        print(f"\n## {TITLES[check]}\n")
        reason = why_skipped(check, dev)
        result: dict[str, Any]
        if reason is not None or api is None:
            result = {"status": "skipped", "reason": reason}
            print(f"skipped: {reason}")
            report["checks"][check] = result
            continue
        t0 = time.perf_counter()
        try:
            if check != "forward" and dataset is None:
                n = sz.train_images if "epoch" in args.only else max(sz.batch * sz.steps, 1000)
                dataset = synthetic_dataset(api, n, sz.test_images)
            run: Callable[..., dict[str, Any]] = {
                "forward": check_forward, "train": check_train, "float64": check_float64,
                "epoch": check_epoch}[check]
            result = run(api, graph, dev, sz, dataset)
        except Exception as exc:  # report and go on with the next check
            result = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                      "traceback": traceback.format_exc()}
            print(result["traceback"], file=sys.stderr)
        result["wall_s"] = time.perf_counter() - t0
        print(result.get("text") or result.get("error"))
        for note in result.get("notes", []):
            print(f"note: {note}")
        print(f"status: {result['status']} ({result['wall_s']:.1f} s)")
        failed += result["status"] in ("fail", "error")
        report["checks"][check] = result
    report["precision"] = precision_state(dev)
    report["wall_s"] = time.perf_counter() - t_all
    print("\n## summary\n")
    print(table(["check", "status", "headline"],
                [[TITLES[c], r["status"], headline(c, r)] for c, r in report["checks"].items()]))
    print(f"precision settings read back: {report['precision']}")
    return report, 1 if failed else 0


def headline(check: str, r: dict[str, Any]) -> str:
    if r["status"] == "skipped":
        return r.get("reason") or ""
    if r["status"] == "error":
        return r["error"][:120]
    if check == "forward":
        c = next(iter(r["comparisons"]), None)
        return f"{c['a']} vs {c['b']}: max |Δ| {c['max_abs_diff']:.2e}" if c else ""
    if check == "train":
        return (f"largest relative loss difference {r['max_rel_loss_diff']:.2e} in "
                f"{r['steps']} steps")
    if check == "float64":
        return (f"forward max |Δ| {r['forward']['max_abs_diff']:.2e}; training rel. loss diff "
                f"{r['train']['max_rel_loss_diff']:.2e}; Keras: {r['keras']['status']}")
    return "; ".join(f"{v['framework']} {v['steps_per_s']:.1f} steps/s, {v['epoch_s']:.1f} s/epoch"
                     for v in r["runs"].values() if v["status"] == "ok")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu-smoke", action="store_true",
                   help="run every check on the CPU with tiny sizes (tests the script)")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps of checks b and c (default 50; 2 with --cpu-smoke)")
    p.add_argument("--images", type=int, default=None,
                   help="synthetic training images, one epoch in check d (default 50000)")
    p.add_argument("--batch", type=int, default=50, help="batch size (default 50)")
    p.add_argument("--only", default=",".join(CHECKS),
                   help=f"comma-separated checks to run (default: {','.join(CHECKS)})")
    p.add_argument("--json", type=Path, default=None, help="write the report as JSON here")
    args = p.parse_args(argv)
    args.only = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = [c for c in args.only if c not in CHECKS]
    if unknown:
        p.error(f"unknown check '{unknown[0]}'; valid: {', '.join(CHECKS)}")
    if args.steps is not None and args.steps < 1:
        p.error("--steps must be >= 1")
    report, code = run_checks(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
        print(f"wrote {args.json}")
    return code


if __name__ == "__main__":
    sys.exit(main())
