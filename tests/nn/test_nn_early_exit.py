"""rulecascade.nn.EarlyExit on real torch networks (an MLP and a residual CNN trained here on
digits) and their ONNX exports run with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from torch import nn  # noqa: E402

import rules_export  # noqa: E402
from rulecascade import match  # noqa: E402
from rulecascade.datasets import load  # noqa: E402
from rulecascade.nn import CutError, EarlyExit, TooFewRowsWarning  # noqa: E402
from rulecascade.nn.onnx_graph import OnnxNetwork  # noqa: E402
from rulecascade.nn.torch_net import TorchNetwork  # noqa: E402


def _train(model: nn.Module, X: np.ndarray, y: np.ndarray, steps: int) -> nn.Module:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(Xt), yt).backward()
        opt.step()
    return model.eval()


def _blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes: most rows far from the boundaries, some near them."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    spread = np.where(rng.random(n) < 0.7, 0.6, 2.0)[:, None]
    X2 = centers[y] + spread * rng.normal(size=(n, 2))
    X = np.concatenate([X2, rng.normal(size=(n, 6))], axis=1).astype(np.float32)
    return X, y.astype(np.int64)


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    X, y = _blobs(3000, 0)
    model = nn.Sequential(
        nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)
    )
    return _train(model, X, y, 150)


@pytest.fixture(scope="module")
def mlp_data():
    return _blobs(6000, 1)[0]


@pytest.fixture(scope="module")
def mlp_exit(mlp, mlp_data):
    return EarlyExit(mlp, exits=["1", "3"], max_error=0.05, random_state=0).fit(mlp_data)


class Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return torch.relu(x + self.conv2(torch.relu(self.bn1(self.conv1(x)))))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.block1 = Block(8)
        self.block2 = Block(8)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        x = self.block2(self.block1(torch.relu(self.stem(x))))
        return self.head(x.mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def digits():
    d = load("digits")
    X = d.frame.drop(d.target).to_numpy().astype(np.float32) / 16.0
    return X.reshape(-1, 1, 8, 8), d.frame[d.target].to_numpy().astype(np.int64)


@pytest.fixture(scope="module")
def cnn(digits):
    X, y = digits
    torch.manual_seed(0)
    return _train(Net(), X[:900], y[:900], 60)


@pytest.fixture(scope="module")
def cnn_exit(cnn, digits):
    X = digits[0][900:]
    return EarlyExit(cnn, exits=["block1", "block2"], max_error=0.1, random_state=0).fit(X)


def _pooled(model: nn.Module, name: str, X: np.ndarray) -> np.ndarray:
    """The activation after submodule ``name``, captured by a hook and pooled here."""
    got = {}
    h = dict(model.named_modules())[name].register_forward_hook(
        lambda m, i, o: got.__setitem__("a", o.detach())
    )
    with torch.no_grad():
        model(torch.from_numpy(X))
    h.remove()
    a = got["a"].double().numpy()
    if a.ndim == 2:
        return a
    flat = a.reshape(a.shape[0], a.shape[1], -1)
    return np.concatenate([flat.mean(axis=2), flat.max(axis=2)], axis=1)


def _argmax(model: nn.Module, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(X)).argmax(1).numpy()


def _check_answers(ee: EarlyExit, model: nn.Module, X: np.ndarray) -> np.ndarray:
    pred, where = ee.predict(X, return_exit=True)
    full = _argmax(model, X)
    rest = where == -1
    np.testing.assert_array_equal(pred[rest], full[rest])
    for k, name in enumerate(ee.exits):
        rows = where == k
        idx = match(ee.rules_[k], _pooled(model, name, X), device="cpu")
        labels = np.array([r.label for r in ee.rules_[k].rules] or [0])
        earlier = np.zeros(X.shape[0], bool)
        for j in range(k):
            earlier |= where == j
        # exit k answers exactly the rows its rules match among those earlier exits left
        np.testing.assert_array_equal(rows, (idx >= 0) & ~earlier)
        np.testing.assert_array_equal(pred[rows], labels[idx[rows]])
    return where


def test_mlp_predict_is_rule_label_or_model_argmax(mlp, mlp_exit, mlp_data):
    X = _blobs(2000, 2)[0]
    where = _check_answers(mlp_exit, mlp, X)
    c = mlp_exit.certificate_
    assert c.certified and c.error_upper_bound <= 0.05
    assert (where >= 0).any() and (where == -1).any()
    full = _argmax(mlp, X)
    pred = mlp_exit.predict(X)
    assert np.mean(pred == full) >= 0.95


def test_cnn_fx_cut_predict(cnn, cnn_exit, digits):
    X = digits[0][900:]
    _check_answers(cnn_exit, cnn, X)
    assert cnn_exit.report_["rows"]["certification"] == round(0.3 * X.shape[0])


def test_too_few_rows_says_how_many(cnn, digits):
    ee = EarlyExit(cnn, exits=["block1"], max_error=0.005, random_state=0)
    with pytest.warns(TooFewRowsWarning, match=r"needs at least 598 .*pass at least 1994"):
        ee.fit(digits[0][900:1000])
    assert not ee.certificate_.certified
    pred, where = ee.predict(digits[0][900:1000], return_exit=True)
    assert (where == -1).all()
    np.testing.assert_array_equal(pred, _argmax(cnn, digits[0][900:1000]))


def test_same_seed_same_rule_files(mlp, mlp_data, mlp_exit):
    again = EarlyExit(mlp, exits=["1", "3"], max_error=0.05, random_state=0).fit(mlp_data)
    assert [rules_export.dumps(r) for r in again.rules_] == [
        rules_export.dumps(r) for r in mlp_exit.rules_
    ]
    meta = mlp_exit.rules_[0].metadata["early_exit"]
    assert meta["exit"] == "1" and meta["cascade_certified"]


def test_cascade_chain_serves_the_same(mlp_exit):
    X = _blobs(1500, 3)[0]
    np.testing.assert_array_equal(mlp_exit.cascade_.predict(X), mlp_exit.predict(X))


def test_flops_accounting(mlp, mlp_exit):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        mlp(torch.zeros(1, 8))
    f = mlp_exit.flops_
    assert f["model"] == fc.get_total_flops() == sum(f["stages"])
    X = _blobs(1000, 4)[0]
    _, where = mlp_exit.predict(X, return_exit=True)
    cost = {
        -1: f["model"] + sum(f["exits"]),
        0: f["stages"][0] + f["exits"][0],
        1: f["stages"][0] + f["stages"][1] + f["exits"][0] + f["exits"][1],
    }
    expected = 1 - sum(cost[int(w)] for w in where) / (f["model"] * X.shape[0])
    assert mlp_exit.flops_saved(X) == pytest.approx(expected)
    assert mlp_exit.flops_saved(X) > 0.2


def test_probe_kind(mlp, mlp_data):
    ee = EarlyExit(mlp, exits=["1", "3"], kind="probe", max_error=0.05, random_state=0)
    ee.fit(mlp_data)
    assert ee.certificate_.certified and 0 < ee.threshold_ <= 1
    X = _blobs(1000, 5)[0]
    pred, where = ee.predict(X, return_exit=True)
    full = _argmax(mlp, X)
    np.testing.assert_array_equal(pred[where == -1], full[where == -1])
    lab, conf = ee.probes_[0].answer(_pooled(mlp, "1", X))
    np.testing.assert_array_equal(where == 0, conf >= ee.threshold_)
    np.testing.assert_array_equal(pred[where == 0], lab[where == 0])
    with pytest.raises(AttributeError, match="kind='probe' has no rule sets"):
        ee.cascade_  # noqa: B018


# --- cutting -------------------------------------------------------------------------------


def test_fx_cut_stages_compose(cnn, digits):
    net = TorchNetwork(cnn, ["block1", "block2"])
    x = torch.from_numpy(digits[0][:50])
    a = x
    for k in range(3):
        a = net.run(k, a)
    with torch.no_grad():
        torch.testing.assert_close(a, cnn(x))


def test_fx_cut_inside_a_residual_block_is_refused(cnn):
    with pytest.raises(CutError, match=r"cannot cut after 'block1.conv1'.*skip connection"):
        TorchNetwork(cnn, ["block1.conv1"])


def test_fx_untraceable_model_is_refused():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.b = nn.Linear(4, 2)

        def forward(self, x):
            h = self.a(x)
            if h.sum() > 0:
                h = h * 2
            return self.b(h)

    with pytest.raises(CutError, match="torch.fx cannot trace it"):
        TorchNetwork(Branchy(), ["a"])


def test_cut_names_and_order(mlp, cnn):
    with pytest.raises(CutError, match=r"exit 'nope' is not a submodule of Sequential"):
        TorchNetwork(mlp, ["nope"])
    with pytest.raises(CutError, match="follow the order"):
        TorchNetwork(mlp, ["3", "1"])
    with pytest.raises(CutError, match="last layer"):
        TorchNetwork(mlp, ["4"])
    with pytest.raises(CutError, match="follow the order the layers run"):
        TorchNetwork(cnn, ["block2", "block1"])


# --- bad input and state -------------------------------------------------------------------


def test_bad_input_one_clear_error(mlp_exit, mlp):
    X = _blobs(10, 6)[0]
    cases = [
        (X[:, :5], ValueError, r"rows of shape \(5,\), but the network takes rows of shape \(8,\)"),
        (X.astype(np.int64), TypeError, "dtype int64; the network takes floating-point"),
        (X[:0], ValueError, "no rows"),
        (X.tolist(), TypeError, "torch tensor or a numpy array, got list"),
        (torch.from_numpy(X).double(), TypeError, "torch.float64 but the network's parameters"),
    ]
    for bad, err, msg in cases:
        with pytest.raises(err, match=msg) as info:
            mlp_exit.predict(bad)
        assert "\n" not in str(info.value)
    with pytest.raises(CutError, match="'block9' is not a submodule"):
        EarlyExit(mlp, exits=["block9"]).fit(X)


def test_train_mode_refused_dtype_change_followed(mlp, mlp_data):
    import copy

    model = copy.deepcopy(mlp)
    ee = EarlyExit(model, exits=["1"], max_error=0.05, random_state=0).fit(mlp_data)
    X = _blobs(500, 7)[0]
    before = ee.predict(X)
    model.train()
    with pytest.raises(RuntimeError, match=r"train mode .*call model.eval\(\)"):
        ee.predict(X)
    model.eval().double()
    assert np.mean(ee.predict(X) == before) >= 0.99  # float64 activations, same rules


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_model_moved_to_gpu_after_fit(mlp, mlp_data):
    import copy

    model = copy.deepcopy(mlp)
    ee = EarlyExit(model, exits=["1", "3"], max_error=0.05, random_state=0).fit(mlp_data)
    X = _blobs(500, 8)[0]
    before = ee.predict(X)
    model.cuda()
    np.testing.assert_array_equal(ee.predict(torch.from_numpy(X).cuda()), before)


# --- ONNX ----------------------------------------------------------------------------------


def _export(model: nn.Module, example: np.ndarray, path) -> None:
    torch.onnx.export(
        model,
        (torch.from_numpy(example),),
        str(path),
        dynamo=False,
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
    )


def _tensor_after(path, prefix: str) -> str:
    import onnx

    names = [o for n in onnx.load(str(path)).graph.node for o in n.output]
    return [n for n in names if n.startswith(prefix)][-1]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_onnx_parts_equal_torch_stages(cnn, digits, tmp_path):
    X = digits[0][:64]
    path = tmp_path / "cnn.onnx"
    _export(cnn, X, path)
    exits = [_tensor_after(path, "/block1/"), _tensor_after(path, "/block2/")]
    onx = OnnxNetwork(path, exits)
    tnet = TorchNetwork(cnn, ["block1", "block2"])
    a_o, a_t = X, torch.from_numpy(X)
    for k in range(3):
        a_o, a_t = onx.run(k, a_o), tnet.run(k, a_t)
        np.testing.assert_allclose(a_o, a_t.numpy(), rtol=1e-4, atol=1e-4)
    assert onx.flops == tnet.profile(torch.from_numpy(X[:1]))[0]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_onnx_early_exit(mlp, mlp_data, tmp_path):
    path = tmp_path / "mlp.onnx"
    _export(mlp, mlp_data[:4], path)
    exits = [_tensor_after(path, "/1/"), _tensor_after(path, "/3/")]
    ee = EarlyExit.from_onnx(path, exits, max_error=0.05, random_state=0).fit(mlp_data)
    assert ee.certificate_.certified
    X = _blobs(1000, 9)[0]
    pred, where = ee.predict(X, return_exit=True)
    full = _argmax(mlp, X)
    np.testing.assert_array_equal(pred[where == -1], full[where == -1])
    idx = match(ee.rules_[0], _pooled(mlp, "1", X), device="cpu")
    labels = np.array([r.label for r in ee.rules_[0].rules])
    np.testing.assert_array_equal(where == 0, idx >= 0)
    np.testing.assert_array_equal(pred[where == 0], labels[idx[where == 0]])
    assert ee.flops_["model"] == sum(TorchNetwork(mlp, ["1", "3"]).profile(torch.zeros(1, 8))[0])
    with pytest.raises(CutError, match="is not a tensor of the ONNX graph"):
        EarlyExit.from_onnx(path, ["nope"]).fit(mlp_data)
    with pytest.raises(ValueError, match=r"rows of shape \(3,\)"):
        ee.predict(X[:, :3])


def test_import_needs_no_torch():
    import subprocess
    import sys

    code = "import sys, rulecascade, rulecascade.nn; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
