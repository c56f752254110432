import numpy as np
import pytest
import torch
from gnn_helpers import neighbour_copy_graph

from qtlgraph.encoders.losses import masked_loss
from qtlgraph.gnn.evaluate import prediction_frame
from qtlgraph.gnn.models import build_model
from qtlgraph.gnn.train import (
    TrainOptions,
    graph_loader,
    model_config,
    new_model,
    predict_nodes,
    train_model,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny graphs: one thread avoids OpenMP spin-waiting on a busy shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _r2(y, p):
    return 1.0 - np.mean((y - p) ** 2) / np.var(y)


def _fit(data, model_kind, tmp_path, epochs=150):
    opts = TrainOptions(model=model_kind, hidden=32, epochs=epochs, lr=0.01, seed=0)
    model = new_model(data, opts)
    train_model(model, data, opts, run_dir=tmp_path / model_kind)
    pred = predict_nodes(model, data).numpy()[:, 0]
    test = data.test_mask.numpy()
    return _r2(data.y.numpy()[test, 0], pred[test])


def test_gnn_learns_neighbour_function_local_cannot(tmp_path):
    data = neighbour_copy_graph(n=400)
    r2_gnn = _fit(data, "gnn", tmp_path)
    r2_local = _fit(data, "local", tmp_path)
    assert r2_gnn > 0.8
    assert r2_local < 0.2
    assert r2_gnn - r2_local > 0.6


def test_test_targets_never_reach_the_loss():
    data = neighbour_copy_graph(n=60)
    opts = TrainOptions(hidden=8, dropout=0.0)  # a deterministic forward pass
    torch.manual_seed(0)
    model = build_model(model_config(data, opts))

    def loss_and_grads(d):
        model.zero_grad()
        ((inputs, target),) = graph_loader(d, "train")
        loss = masked_loss(model(*inputs), target, "mse")
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    loss_a, grads_a = loss_and_grads(data)
    poisoned = data.clone()
    poisoned.y = data.y.clone()
    poisoned.y[data.test_mask | data.valid_mask] = 1e9
    loss_b, grads_b = loss_and_grads(poisoned)
    assert loss_a == loss_b
    assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b))


def test_resume_continues_to_the_same_weights(tmp_path):
    data = neighbour_copy_graph(n=60)

    def run(epochs, run_dir, resume):
        opts = TrainOptions(hidden=8, epochs=epochs, seed=1)
        model = new_model(data, opts)
        history = train_model(model, data, opts, run_dir=run_dir, resume=resume)
        return model, history

    full, _ = run(6, tmp_path / "a", False)
    run(3, tmp_path / "b", False)
    resumed, history = run(6, tmp_path / "b", True)
    assert [h["epoch"] for h in history] == list(range(1, 7))
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_prediction_frame_has_test_bins_only():
    data = neighbour_copy_graph(n=20)
    pred = torch.arange(20, dtype=torch.float32)[:, None]
    frame = prediction_frame(data, pred, ["mono"], ["H3K27ac"], "test")
    assert frame["bin"].tolist() == list(range(14, 20))
    assert frame["pred"].tolist() == list(range(14, 20))
    assert set(frame.columns) >= {"cell_type", "mark", "bin", "pred", "target", "in_degree"}


def test_best_epoch_by_hand():
    from qtlgraph.gnn.train import best_epoch

    hist = [
        {"epoch": 1, "valid_loss": 3.0},
        {"epoch": 2, "valid_loss": 1.0},
        {"epoch": 3, "valid_loss": 2.0},
        {"epoch": 4, "valid_loss": 1.0},
    ]
    assert best_epoch(hist) == 2  # first of the ties
    assert best_epoch([{"epoch": 1, "train_loss": 1.0}]) is None


def test_model_ends_with_best_validation_weights(tmp_path):
    from qtlgraph.gnn.train import best_epoch, load_trained

    data = neighbour_copy_graph(n=60)
    opts = TrainOptions(hidden=8, epochs=12, lr=0.2, seed=0)  # large steps: valid loss not monotone
    model = new_model(data, opts)
    history = train_model(model, data, opts, run_dir=tmp_path)
    best = best_epoch(history)
    assert best != 12  # the last epoch is not the best, so keeping the best is visible
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert ckpt["best"]["epoch"] == best and ckpt["epoch"] == 12
    ((inputs, target),) = graph_loader(data, "valid")
    loss = masked_loss(predict_nodes(model, data), target, "mse").item()
    assert loss == pytest.approx(min(h["valid_loss"] for h in history), rel=1e-5)
    again = load_trained(new_model(data, opts), tmp_path)
    assert all(
        torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values())
    )


def test_resume_keeps_the_best_epoch(tmp_path):
    data = neighbour_copy_graph(n=60)

    def run(epochs, run_dir, resume):
        opts = TrainOptions(hidden=8, epochs=epochs, lr=0.2, seed=1)
        model = new_model(data, opts)
        train_model(model, data, opts, run_dir=run_dir, resume=resume)
        return model

    full = run(8, tmp_path / "a", False)
    run(4, tmp_path / "b", False)
    resumed = run(8, tmp_path / "b", True)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("bad", [dict(aggr="max"), dict(dropout=1.0), dict(weight_decay=-1.0)])
def test_bad_options_are_refused(bad):
    from qtlgraph.errors import InputError
    from qtlgraph.gnn.train import check_options

    with pytest.raises(InputError):
        check_options(TrainOptions(**bad))
