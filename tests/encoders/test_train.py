import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from qtlgraph.encoders.losses import MaskedLoss
from qtlgraph.encoders.train import fit, predict, train_epoch
from qtlgraph.runtime import load_checkpoint


def _data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 16, generator=g)
    y = (x[:, :1] > 0).float()
    y[0, 0, :4] = float("nan")
    return TensorDataset(x, y)


def _model():
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv1d(3, 4, 3, padding=1),
        nn.BatchNorm1d(4),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Conv1d(4, 1, 1),
    )


def test_one_step_lowers_loss_on_fixed_batch():
    model = _model()
    x, y = _data()[:]
    loss = MaskedLoss("bce")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.eval()
    before = loss(model(x), y).item()
    train_epoch(model, [(x, y)], opt, loss, "cpu")
    model.eval()
    assert loss(model(x), y).item() < before


def test_tuple_inputs_are_unpacked():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 1)

        def forward(self, u, v):
            return self.a(u) + v

    u, v, y = torch.randn(8, 2), torch.randn(8, 1), torch.randn(8, 1)
    m = Two()
    mean = train_epoch(
        m, [((u, v), y)], torch.optim.SGD(m.parameters(), lr=0.1), MaskedLoss("mse"), "cpu"
    )
    assert mean > 0
    assert predict(m, [((u, v), y)], "cpu").shape == (8, 1)


def test_predict_batch_size_invariant():
    model = _model()
    ds = _data()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    train_epoch(model, DataLoader(ds, batch_size=8), opt, MaskedLoss("bce"), "cpu")
    p1 = predict(model, DataLoader(ds, batch_size=1), "cpu")
    p16 = predict(model, DataLoader(ds, batch_size=16), "cpu")
    assert p1.shape == (32, 1, 16)
    torch.testing.assert_close(p1, p16, rtol=1e-5, atol=1e-6)


class _Counting(DataLoader):
    passes = 0

    def __iter__(self):
        type(self).passes += 1
        return super().__iter__()


def _run(tmp, epochs, resume=False, stop_after=None):
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 / (1 + 1e-2 * s))
    loader = _Counting(_data(), batch_size=8, shuffle=True)
    hist = fit(
        model,
        loader,
        opt,
        MaskedLoss("bce"),
        epochs=stop_after or epochs,
        run_dir=tmp,
        device="cpu",
        resume=resume,
        valid_loader=DataLoader(_data(8, 5), batch_size=4),
        seed=3,
        extra_state={"config": {"k": 1}},
        scheduler=sched,
    )
    return model, hist


def test_fit_resume_matches_uninterrupted_run(tmp_path):
    full, hist_full = _run(tmp_path / "a", 3)
    _run(tmp_path / "b", 3, stop_after=1)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["epoch"] == 1
    _Counting.passes = 0
    resumed, hist_res = _run(tmp_path / "b", 3, resume=True)
    assert _Counting.passes == 2  # epochs 2 and 3 only
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert [h["train_loss"] for h in hist_full] == [h["train_loss"] for h in hist_res]
    ckpt = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert ckpt["epoch"] == 3 and ckpt["config"] == {"k": 1} and len(ckpt["history"]) == 3
    assert set(hist_full[0]) >= {"epoch", "train_loss", "valid_loss", "lr", "seconds"}


def test_fit_is_reproducible(tmp_path):
    a, _ = _run(tmp_path / "a", 1)
    b, _ = _run(tmp_path / "b", 1)
    torch.testing.assert_close(a[0].weight, b[0].weight, rtol=0, atol=0)


def test_fit_best_keeps_the_best_epoch_and_stops_early(tmp_path):
    from qtlgraph.encoders.train import fit_best

    # w steps 0 -> 0.5 -> 0.75 -> 0.875 towards the training target 1 (SGD, lr 0.25, x = 1);
    # the validation target 0.3 is closest after epoch 1, so epochs 2 and 3 are stale
    x = torch.ones(1, 1)
    train, valid = [(x, torch.ones(1, 1))], [(x, torch.full((1, 1), 0.3))]

    def run(epochs, resume=False):
        model = nn.Linear(1, 1, bias=False)
        nn.init.zeros_(model.weight)
        opt = torch.optim.SGD(model.parameters(), lr=0.25)
        common = dict(run_dir=tmp_path, valid_loader=valid, device="cpu", resume=resume)
        history = fit_best(
            model, train, opt, MaskedLoss("mse"), epochs=epochs, patience=2, **common
        )
        return model, history

    model, history = run(10)
    assert [h["epoch"] for h in history] == [1, 2, 3]  # stopped after 2 stale epochs
    np.testing.assert_allclose(
        [h["valid_loss"] for h in history], [0.04, 0.2025, 0.330625], rtol=1e-6
    )
    assert model.weight.item() == 0.5  # the best epoch's weights, not the last (0.875)
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["epoch"] == 3 and ckpt["best"]["epoch"] == 1
    model, again = run(10, resume=True)  # a finished run stays finished
    assert len(again) == 3 and model.weight.item() == 0.5
