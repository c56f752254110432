import numpy as np
import pytest

from qtlgraph.analysis.enformer_probe import ENFORMER_BIN, build_enformer_probe, enformer_available
from qtlgraph.analysis.receptive_field import perturbation_probe, random_onehot
from qtlgraph.errors import InputError


def test_bad_hyperparameters_raise():
    if not enformer_available():
        with pytest.raises(InputError, match="optional extra"):
            build_enformer_probe()
        return
    with pytest.raises(InputError, match="multiple of 128"):
        build_enformer_probe(input_length=1000)
    with pytest.raises(InputError, match="multiple of 6"):
        build_enformer_probe(dim=64, heads=2)


@pytest.mark.enformer
def test_enformer_span_covers_the_whole_input():
    pytest.importorskip(
        "enformer_pytorch", reason="needs the optional extra 'enformer' (enformer-pytorch)"
    )
    length = 64 * ENFORMER_BIN  # 8,192 bp; the benchmark runs the published 196,608
    model = build_enformer_probe(dim=24, depth=1, heads=2, input_length=length, seed=0)
    assert model.output_to_input(np.array([0, 1])).tolist() == [63.5, 191.5]
    X = random_onehot(2, length, seed=0)
    centre = perturbation_probe(model, X, "center")
    assert centre.span == length and centre.offsets.shape == (64,)
    edge = perturbation_probe(model, X, "edge")
    assert edge.span == length and (edge.start, edge.end) == (63.5, length - 64.5)
    # the effect is concentrated around the mutation (report Figure 19)
    assert centre.profile[31:33].max() == centre.profile.max() > 3 * np.median(centre.profile)
