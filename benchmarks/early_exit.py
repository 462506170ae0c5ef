"""Early exits inside networks: rules on pooled activations vs a certified linear-probe exit.

    python benchmarks/early_exit.py           # both networks, max_error 0.005 / 0.01 / 0.02 / 0.05
    python benchmarks/early_exit.py --quick   # fewer flights rows, two targets

Networks trained here on CPU: a small ResNet-style CNN on bundled digits (8x8 images) and an MLP
on flights (numeric columns, standardized). Both exit kinds use the same exits, the same
calibration rows, the same split (the same ``random_state``) and the same certification: of the
rows any exit answers, at most ``max_error`` disagree with the full model at 95% confidence, a
fixed-sequence binomial test on held-out calibration rows (rules: exit prefixes and rule
prefixes in order; probe: one threshold on the top probability, walked from high to low).
Figures on test rows nobody trained or calibrated on. Wall-clock is the ratio of the exit's
``predict`` to the model alone (``model(x).argmax``, inference mode), same rows, same batches.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rulecascade.datasets import load  # noqa: E402
from rulecascade.nn import EarlyExit  # noqa: E402

TARGETS = (0.005, 0.01, 0.02, 0.05)
CONFIDENCE = 0.95
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "early_exit.md")


def train(model: nn.Module, X: np.ndarray, y: np.ndarray, epochs: int, batch: int) -> float:
    """Adam on cross-entropy; returns seconds."""
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(Xt.shape[0], generator=g)
        for i in range(0, Xt.shape[0], batch):
            b = perm[i : i + batch]
            opt.zero_grad()
            nn.functional.cross_entropy(model(Xt[b]), yt[b]).backward()
            opt.step()
    model.eval()
    return time.perf_counter() - t0


class Block(nn.Module):
    """A basic residual block (two 3x3 convolutions, batch norm, identity skip)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class ResNet(nn.Module):
    def __init__(self, c: int = 32, n_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        self.block1 = Block(c)
        self.block2 = Block(c)
        self.block3 = Block(c)
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = self.block3(self.block2(self.block1(x)))
        return self.fc(x.mean(dim=(2, 3)))


def mlp(d_in: int, width: int = 128, depth: int = 4) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d_in if i == 0 else width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 2))


def digits_case(rng: np.random.Generator):
    d = load("digits")
    X = (d.frame.drop(d.target).to_numpy().astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = d.frame[d.target].to_numpy().astype(np.int64)
    perm = rng.permutation(y.size)
    tr, cal, te = perm[:800], perm[800:1400], perm[1400:]
    torch.manual_seed(0)
    model = ResNet()
    secs = train(model, X[tr], y[tr], epochs=15, batch=64)
    return dict(
        name="digits: ResNet-style CNN (stem + 3 residual blocks, 32 channels)",
        model=model,
        exits=["block1", "block2"],
        params={"projection": "lda", "n_components": 9},
        X_cal=X[cal],
        X_te=X[te],
        y_te=y[te],
        train_seconds=secs,
        note=f"1797 images: {tr.size} train, {cal.size} calibration, {te.size} test",
    )


FLIGHT_COLS = ("month", "day", "hour", "sched_dep_time", "sched_arr_time", "dep_delay", "distance")


def flights_case(rng: np.random.Generator, n_cal: int):
    d = load("flights")
    X = d.frame.select(FLIGHT_COLS).to_numpy().astype(np.float64)
    y = d.frame[d.target].to_numpy().astype(np.int64)
    perm = rng.permutation(y.size)
    tr, cal, te = perm[:100_000], perm[100_000 : 100_000 + n_cal], perm[-50_000:]
    mean, std = X[tr].mean(axis=0), X[tr].std(axis=0)
    X = ((X - mean) / std).astype(np.float32)
    torch.manual_seed(0)
    model = mlp(X.shape[1])
    secs = train(model, X[tr], y[tr], epochs=4, batch=512)
    return dict(
        name="flights: MLP (7 numeric columns, 4 hidden layers of 128, ReLU)",
        model=model,
        exits=["1", "3"],
        params={},
        X_cal=X[cal],
        X_te=X[te],
        y_te=y[te],
        train_seconds=secs,
        note=(
            f"{y.size} flights: {tr.size} train, {n_cal} calibration (subsampled), "
            f"{te.size} test; numeric columns only, standardized on the train rows"
        ),
    )


def model_labels(model: nn.Module, X: np.ndarray, batch: int) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for i in range(0, X.shape[0], batch):
            out.append(model(torch.from_numpy(X[i : i + batch])).argmax(1).numpy())
    return np.concatenate(out)


def wall_ratio(ee: EarlyExit, model: nn.Module, X: np.ndarray, batch: int, rows: int) -> float:
    """Seconds of ``ee.predict`` over the model alone, the same ``rows`` rows in ``batch``es
    (interleaved, best of 5)."""
    Xs = X[:rows]
    chunks = [torch.from_numpy(Xs[i : i + batch]) for i in range(0, rows, batch)]

    def run_model():
        with torch.inference_mode():
            for c in chunks:
                model(c).argmax(1).numpy()

    def run_exit():
        for c in chunks:
            ee.predict(c)

    run_model()
    run_exit()
    best = {"model": np.inf, "exit": np.inf}
    for _ in range(5):  # interleaved, best of 5: other processes share the cores
        for name, fn in (("model", run_model), ("exit", run_exit)):
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best["exit"] / best["model"]


def run_case(case: dict, targets, timing_rows: dict) -> list[dict]:
    model, X_te, y_te = case["model"], case["X_te"], case["y_te"]
    full = model_labels(model, X_te, 4096)
    acc_model = float(np.mean(full == y_te))
    rows = []
    for eps in targets:
        for kind in ("rules", "probe"):
            params = dict(case["params"]) if kind == "rules" else {}
            ee = EarlyExit(
                model,
                case["exits"],
                max_error=eps,
                confidence=CONFIDENCE,
                kind=kind,
                random_state=0,
                **params,
            )
            t0 = time.perf_counter()
            import warnings

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ee.fit(case["X_cal"])
            fit_s = time.perf_counter() - t0
            pred, where = ee.predict(X_te, return_exit=True)
            ans = where >= 0
            c = ee.certificate_
            row = {
                "max_error": eps,
                "kind": kind,
                "certified": c.certified,
                "bound": c.error_upper_bound,
                "answered": [float(np.mean(where == k)) for k in range(len(case["exits"]))],
                "agreement": float(np.mean(pred[ans] == full[ans])) if ans.any() else None,
                "acc_change": 100 * (float(np.mean(pred == y_te)) - acc_model),
                "flops_saved": ee.flops_saved_for(where),
                "fit_s": fit_s,
                "too_few": any("too few" in str(w.message) for w in caught),
                "detail": (
                    f"rules kept per exit {ee.report_.get('rules_kept')}"
                    if kind == "rules"
                    else f"threshold {ee.threshold_}"
                ),
            }
            for b, n in timing_rows.items():
                row[f"wall_{b}"] = wall_ratio(ee, model, X_te, b, n)
            rows.append(row)
            print(case["name"].split(":")[0], eps, kind, {k: v for k, v in row.items()}, flush=True)
    return rows, acc_model


def fmt(v, pct=False, digits=3):
    if v is None:
        return "-"
    if pct:
        return f"{100 * v:.1f}%"
    return f"{v:.{digits}g}"


def markdown(cases_out, args) -> str:
    lines = [
        "# Early exits: rules on pooled activations vs a certified linear-probe exit",
        "",
        f"`python benchmarks/early_exit.py{' --quick' if args.quick else ''}` on "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, CPU only (no GPU on this machine).",
        "",
        "Both kinds: same exits, same calibration rows and split, the same certification "
        "(answered rows disagreeing with the full model <= max_error at 95% confidence, "
        "fixed-sequence binomial test on held-out calibration rows). *answered*: share of test "
        "rows per exit; *agreement*: with the full model on answered test rows; *bound*: the "
        "certified upper bound on disagreement (Clopper-Pearson, certification rows); "
        "*acc change*: test accuracy vs truth minus the model's, in points; *FLOPs saved*: "
        "matrix-product and convolution FLOPs not run (pooling and exit evaluation counted); "
        "*wall x*: predict time over the model alone at batch 1 / 64 / 4096 "
        "(below 1: faster).",
        "",
    ]
    for case, rows, acc_model in cases_out:
        lines += [
            f"## {case['name']}",
            "",
            f"{case['note']}. Exits after {', '.join(case['exits'])}; model trained in "
            f"{case['train_seconds']:.0f} s; model test accuracy {100 * acc_model:.2f}%; "
            f"rules options {case['params'] or 'default'}.",
            "",
            "| max_error | kind | certified | answered per exit | agreement | bound | acc change (pts) "
            "| FLOPs saved | wall x b1 | wall x b64 | wall x b4096 | fit s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            cert = "yes" if r["certified"] else ("no (too few rows)" if r["too_few"] else "no")
            lines.append(
                f"| {r['max_error']} | {r['kind']} | {cert} | "
                f"{' / '.join(fmt(a, pct=True) for a in r['answered'])} | "
                f"{fmt(r['agreement'], pct=False, digits=4)} | {fmt(r['bound'])} | "
                f"{r['acc_change']:+.2f} | {fmt(r['flops_saved'], pct=True)} | "
                f"{fmt(r.get('wall_1'), digits=2)} | {fmt(r.get('wall_64'), digits=2)} | "
                f"{fmt(r.get('wall_4096'), digits=2)} | {r['fit_s']:.1f} |"
            )
        lines.append("")
        lines += [
            "Settings kept: "
            + "; ".join(f"{r['max_error']} {r['kind']}: {r['detail']}" for r in rows),
            "",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(2)
    targets = (0.01, 0.05) if args.quick else TARGETS
    n_cal = 20_000 if args.quick else 40_000
    rng = np.random.default_rng(0)
    out = []
    for make, timing in (
        (lambda: digits_case(rng), {1: 100, 64: 384, 4096: 397}),
        (lambda: flights_case(rng, n_cal), {1: 100, 64: 3200, 4096: 16_384}),
    ):
        case = make()
        rows, acc = run_case(case, targets, timing)
        out.append((case, rows, acc))
    text = markdown(out, args)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
