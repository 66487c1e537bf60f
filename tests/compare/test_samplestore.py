"""The kept samples' row format: what goes in comes back (sorted), and a damaged or
foreign row is never misread: it reads as nothing kept."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.compare import samplestore
from appliance.compare.samples import Sample

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
figures = st.dictionaries(st.text(min_size=1, max_size=20),
                          st.lists(finite, max_size=30).map(np.array), max_size=5)
samples = st.dictionaries(st.integers(1, 2**31), st.builds(
    Sample, st.integers(0, 10**6), st.integers(0, 10**6), figures), max_size=5)


@given(samples)
def test_what_is_kept_reads_back_sorted(kept):
    back = samplestore.decode(samplestore.encode(kept))
    assert set(back) == set(kept)
    for site, sample in kept.items():
        assert (back[site].completed, back[site].failed) == (sample.completed, sample.failed)
        assert set(back[site].values) == set(sample.values)
        for name, values in sample.values.items():
            assert np.array_equal(back[site].values[name], np.sort(values))


@given(st.binary(max_size=200))
def test_any_bytes_read_as_samples_or_as_nothing_kept(data):
    found = samplestore.decode(data)
    assert found is None or all(isinstance(s, Sample) for s in found.values())


@pytest.mark.parametrize("header", [b"[]", b'{"format": 1, "sites": "abc"}',
                                    b'{"format": 1, "sites": [{"site": 1}]}',
                                    b'{"format": 1, "sites": [{"site": 1, "completed": 1, '
                                    b'"failed": 0, "figures": [["w", 0.5, 1]]}]}',
                                    b'{"format": 1, "sites": [{"site": 1, "completed": 1, '
                                    b'"failed": 0, "figures": [["w", 0, 9]]}]}',
                                    b'{"format": 2, "sites": []}',
                                    b'{"format": 1, "sites": [{"site": "one", "completed": 1, '
                                    b'"failed": 0, "figures": []}]}',
                                    b'{"format": 1, "sites": [{"site": 1, "completed": -1, '
                                    b'"failed": 0, "figures": []}]}',
                                    b'{"format": 1, "sites": [{"site": 1, "completed": 1, '
                                    b'"failed": 0, "figures": [[7, 0, 1]]}]}'])
def test_a_foreign_header_reads_as_nothing_kept(header):
    assert samplestore.decode(struct.pack("<I", len(header)) + header + bytes(16)) is None


@given(samples, st.integers(0, 400), st.binary(min_size=1, max_size=8))
def test_a_damaged_row_never_breaks_a_comparison(kept, where, noise):
    data = bytearray(samplestore.encode(kept))
    data[where:where + len(noise)] = noise
    found = samplestore.decode(bytes(data))
    assert found is None or all(isinstance(s, Sample) and isinstance(site, int)
                                for site, s in found.items())
