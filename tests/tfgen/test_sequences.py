import os
import pickle

import numpy as np
import pytest

from tests.markers import requires_data
from tfgen import sequences


class _RunsCode:
    """Pickles to ``os.system(command)``: the classic code-execution pickle."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_restricted_unpickler_loads_plain_data_and_numpy_integers(tmp_path, protocol):
    data = {"train": [[(np.int64(60), np.int32(72)), ()], [(21, 108)]], "test": []}
    path = tmp_path / "ok.pickle"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    loaded = sequences.safe_load_pickle(str(path))
    assert loaded == {"train": [[(60, 72), ()], [(21, 108)]], "test": []}
    assert all(type(n) is int for n in loaded["train"][0][0])


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_malicious_pickle_is_refused_without_running(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({"train": [_RunsCode(f"touch {marker}")]}, protocol=protocol))
    with pytest.raises(ValueError, match="evil.pickle") as error:
        sequences.safe_load_pickle(str(path))
    assert "system" in str(error.value)
    assert not marker.exists()


def test_non_integer_numpy_scalars_are_refused(tmp_path):
    path = tmp_path / "floats.pickle"
    path.write_bytes(pickle.dumps({"train": [[(np.float64(60.0),)]]}, protocol=2))
    with pytest.raises(ValueError, match="floats.pickle"):
        sequences.safe_load_pickle(str(path))


def test_piano_roll_maps_midi_21_to_108_onto_88_keys():
    roll = sequences.piano_roll([(21, 108), (), (60,)])
    assert roll.shape == (3, 88)
    assert roll[0, 0] == 1 and roll[0, 87] == 1 and roll[0].sum() == 2
    assert roll[1].sum() == 0
    assert roll[2, 60 - 21] == 1 and roll.sum() == 3
    with pytest.raises(ValueError, match="MIDI note 20"):
        sequences.piano_roll([(20,)])


def test_dataset_pads_masks_and_trims_each_batch():
    rolls = [np.full((n, 3), i + 1, "float32") for i, n in enumerate([2, 5, 3, 4])]
    frames, lengths = sequences.pad(rolls)
    assert frames.shape == (4, 5, 3) and list(lengths) == [2, 5, 3, 4]
    batches = list(sequences.dataset(frames, lengths, batch_size=2))
    first, second = batches
    assert first["frames"].shape == (2, 5, 3) and second["frames"].shape == (2, 4, 3)
    np.testing.assert_array_equal(first["mask"].numpy(), [[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(second["mask"].numpy().sum(1), [3, 4])
    assert np.all(first["frames"].numpy()[0, 2:] == 0)


def test_buckets_keep_every_sequence_once():
    lengths = np.array([3, 9, 4, 10, 2, 8], "int32")
    frames = np.zeros((6, 10, 2), "float32")
    for i, n in enumerate(lengths):
        frames[i, :n] = i + 1
    seen = []
    for batch in sequences.dataset(frames, lengths, batch_size=2, buckets=(5,)):
        mask = batch["mask"].numpy()
        steps = mask.sum(1)
        assert max(steps) <= 5 or min(steps) > 5  # one bucket per batch
        seen += [int(batch["frames"].numpy()[i, 0, 0]) for i in range(len(steps))]
    assert sorted(seen) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("lengths", [[3, 9, 4, 10, 2, 8, 5], [1, 2, 3], [7, 7, 9, 10, 6]])
def test_bucketed_dataset_knows_its_length_so_keras_evaluates_it_without_warning(lengths):
    lengths = np.array(lengths, "int32")
    data = sequences.dataset(np.ones((len(lengths), 10, 2), "float32"), lengths, batch_size=2, buckets=(5, 8))
    assert int(data.cardinality()) == len(list(data)) == sequences.steps_per_epoch(lengths, 2, (5, 8))


def test_load_npz_round_trip_and_errors(tmp_path):
    frames = np.random.default_rng(0).normal(size=(3, 6, 2)).astype("float32")
    path = tmp_path / "speech.npz"
    np.savez(path, frames=frames, lengths=np.array([6, 2, 4]))
    (batch,) = list(sequences.load_npz(str(path), batch_size=3))
    np.testing.assert_allclose(batch["frames"].numpy()[0], frames[0])
    np.testing.assert_array_equal(batch["mask"].numpy().sum(1), [6, 2, 4])
    np.savez(tmp_path / "bad.npz", frames=frames)
    with pytest.raises(ValueError, match="lengths"):
        sequences.load_npz(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "long.npz", frames=frames, lengths=np.array([6, 7, 1]))
    with pytest.raises(ValueError, match="1..6"):
        sequences.load_npz(str(tmp_path / "long.npz"))


@requires_data
def test_jsb_chorales_splits():
    sizes = {split: sequences.load_jsb_rolls(split) for split in sequences.SPLITS}
    assert [len(sizes[s]) for s in ("train", "valid", "test")] == [229, 76, 77]
    test = sizes["test"]
    assert all(r.shape[1] == 88 and set(np.unique(r)) <= {0.0, 1.0} for r in test)
    assert sum(len(r) for r in test) == 4725
    # Chorales are four-part: most steps sound 4 notes.
    counts = np.concatenate([r.sum(1) for r in test])
    assert np.median(counts) == 4
    batch = next(iter(sequences.load_jsb("test", batch_size=8)))
    assert batch["frames"].shape[0] == 8 and batch["frames"].shape[2] == 88


def _epochs(frames, lengths, seed, first, epochs, buckets, batch_size=2):
    data, steps = sequences.epoch_batches(frames, lengths, batch_size, seed, first, epochs, buckets=buckets)
    batches = [(b["frames"].numpy()[:, 0, 0].astype(int).tolist(), b["mask"].numpy().sum(1).tolist())
               for b in data]
    assert len(batches) == (epochs - first) * steps
    return [batches[i * steps:(i + 1) * steps] for i in range(epochs - first)], steps


@pytest.mark.parametrize("buckets", [None, (5,)])
def test_epoch_batches_are_a_function_of_seed_and_epoch(buckets):
    lengths = np.array([3, 9, 4, 10, 2, 8, 7], "int32")
    frames = np.zeros((7, 10, 2), "float32")
    for i, n in enumerate(lengths):
        frames[i, :n] = i + 1  # sequence i is recognised by its value
    epochs, steps = _epochs(frames, lengths, 0, 0, 4, buckets)
    # (3 short: 2 batches) + (4 long: 2 batches) with buckets; ceil(7 / 2) without
    assert steps == sequences.steps_per_epoch(lengths, 2, buckets) == 4
    for batches in epochs:
        assert sorted(i for ids, _ in batches for i in ids) == [1, 2, 3, 4, 5, 6, 7]  # each sequence once
        for ids, steps_of in batches:
            assert steps_of == [lengths[i - 1] for i in ids]  # frames and mask trimmed together
            if buckets:
                assert max(steps_of) < 5 or min(steps_of) >= 5  # one bucket per batch
    assert epochs[0] != epochs[1]  # reshuffled every epoch
    assert _epochs(frames, lengths, 0, 2, 4, buckets)[0] == epochs[2:]  # resuming at epoch 2 repeats them
    assert _epochs(frames, lengths, 1, 0, 4, buckets)[0] != epochs  # another seed, another order
    with pytest.raises(ValueError, match="first_epoch < epochs"):
        sequences.epoch_batches(frames, lengths, 2, 0, 4, 4)


def test_untrimmed_batches_take_two_shapes_and_the_same_sequences_in_the_same_order():
    lengths = np.array([3, 9, 4, 10, 2, 8, 7, 5, 12, 6, 11], "int32")  # buckets of 3, 4 and 4 sequences
    frames = np.zeros((11, 12, 2), "float32")
    for i, n in enumerate(lengths):
        frames[i, :n] = i + 1

    def rows(batches):  # each sequence by its label, in the order the batches hold them
        return [int(b[0]) for batch in batches for b in batch["frames"].numpy()[:, 0]], [
            tuple(batch["frames"].shape) for batch in batches]

    for epoch in range(3):
        args = (frames, lengths, 3, 0, epoch, epoch + 1)
        trimmed, steps = sequences.epoch_batches(*args, buckets=(5, 9))
        padded, padded_steps = sequences.epoch_batches(*args, buckets=(5, 9), trim=False)
        (order, _), (padded_order, shapes) = rows(trimmed), rows(padded)
        assert padded_order == order  # the full buckets' batches, then the rest in the same order
        assert shapes[:-1] == [(3, 12, 2)] * (len(shapes) - 1) and shapes[-1] == (2, 12, 2)  # 11 = 3 x 3 + 2
        # 3 full batches and 2 part-filled buckets; 3 full and the merged 2
        assert (steps, padded_steps) == (5, 4) == (len(list(trimmed)), len(shapes))
    assert padded.element_spec["frames"].shape[1:] == (12, 2)  # static: XLA sees one length
    for batch in padded:  # zero frames and mask past each sequence's end
        n = batch["mask"].numpy().sum(1).astype(int)
        assert all(not f[m:].any() and f[:m].all() for f, m in zip(batch["frames"].numpy(), n))
    bucketed = list(sequences.dataset(frames, lengths, batch_size=3, buckets=(5, 9), trim=False))
    assert [tuple(b["frames"].shape) for b in bucketed] == shapes
    assert sorted(rows(bucketed)[0]) == list(range(1, 12))
    assert sequences.steps_per_epoch(lengths, 3, (5, 9), trim=False) == len(bucketed)
