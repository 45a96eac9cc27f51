"""Masks and corruptions of the mae: rates, exact 0/1 masks, swap semantics, loss windows."""

from __future__ import annotations

import pytest
import torch

from scssl.models.mae import GeneWindow
from scssl.nn.masking import programme_mask, random_bytes, random_mask, swap_corrupt


def test_random_bytes_are_uniform():
    torch.manual_seed(0)
    b = random_bytes((400, 1000), torch.device("cpu"))
    assert b.dtype == torch.uint8 and b.shape == (400, 1000)
    counts = torch.bincount(b.flatten().long(), minlength=256).float()
    # 400,000 draws over 256 values: ~1,562 each, sd ~40; every byte position is uniform
    assert counts.min() > 1350 and counts.max() < 1780
    per_byte = b.flatten()[: 8 * 50_000].view(-1, 8).float().mean(0)
    assert torch.all((per_byte - 127.5).abs() < 1.5)


@pytest.mark.parametrize("rate", [0.15, 0.5, 0.75])
def test_random_mask_rate_and_values(rate):
    torch.manual_seed(1)
    m = random_mask(torch.zeros(500, 800), rate)
    assert m.dtype == torch.float32
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    assert abs(float(m.mean()) - round(rate * 256) / 256) < 0.005


def test_programme_mask_hides_whole_sets():
    torch.manual_seed(2)
    membership = torch.zeros(3, 12)
    membership[0, :4], membership[1, 4:8], membership[2, 8:10] = 1, 1, 1
    m = programme_mask(torch.zeros(2000, 12), membership, 0.4)
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    for lo, hi in ((0, 4), (4, 8), (8, 10)):  # a set is hidden all together or not at all
        block = m[:, lo:hi]
        assert torch.all((block.sum(1) == 0) | (block.sum(1) == hi - lo))
    assert 0.2 < float(m.mean()) < 0.6


def test_swap_takes_values_from_the_same_gene_of_other_cells():
    torch.manual_seed(3)
    n, g = 64, 300
    x = torch.arange(n * g, dtype=torch.float32).view(n, g)  # every value unique
    mask = random_mask(x, 0.5)
    out = swap_corrupt(x, mask)
    keep = mask == 0
    assert torch.equal(out[keep], x[keep])  # visible entries untouched
    changed = out != x
    assert torch.equal(changed, mask == 1)  # every masked entry got another cell's value
    rows = (out - torch.arange(g)) / g  # the donor row of every entry
    assert torch.all(rows == rows.round())  # ... from the same gene column
    donors = rows[mask == 1].long()
    own = torch.arange(n).unsqueeze(1).expand(n, g)[mask == 1]
    assert torch.all(donors != own)
    assert len(torch.unique(rows.long(), dim=1)) > 1 and len(set(donors.tolist())) > n // 2


def test_swap_is_seeded():
    x = torch.rand(32, 50)
    mask = random_mask(x, 0.5)
    torch.manual_seed(4)
    a = swap_corrupt(x, mask)
    torch.manual_seed(4)
    assert torch.equal(a, swap_corrupt(x, mask))


@pytest.mark.parametrize("start", [0, 7, 9])
def test_gene_window_wraps(start):
    t = torch.arange(30).view(3, 10)
    w = GeneWindow(start, 4, 10)
    cols = [(start + i) % 10 for i in range(4)]
    assert torch.equal(w.take(t, 1), t[:, cols])
    assert torch.equal(w.take(torch.arange(10), 0), torch.tensor(cols))
