"""The contract every resampling transform keeps.

Each entry of ``TRANSFORMS`` is ``(id, factory)``; ``factory(counts, seed)`` returns a
``dataset -> dataset`` function for a two-class dataset whose true class counts are
``counts`` (online transforms ignore them). Add new transforms to the list.
"""

import numpy as np
import pytest
import tensorflow as tf

import tfbalance

N0, N1 = 300, 100


def _data(n0=N0, n1=N1, seed=0):
    y = np.array([0] * n0 + [1] * n1, dtype=np.int64)
    np.random.default_rng(seed).shuffle(y)
    x = np.arange(len(y), dtype=np.float32)
    return tf.data.Dataset.from_tensor_slices((x, y))


TRANSFORMS = [
    ("undersample", lambda c, s: tfbalance.undersample(counts=c, seed=s)),
    ("undersample-exact", lambda c, s: tfbalance.undersample(counts=c, exact=True, seed=s)),
    ("undersample-online", lambda c, s: tfbalance.undersample(seed=s, max_wait_elements=500)),
    ("oversample", lambda c, s: tfbalance.oversample(counts=c, seed=s)),
    ("oversample-exact", lambda c, s: tfbalance.oversample(counts=c, exact=True, seed=s)),
    ("oversample-online", lambda c, s: tfbalance.oversample(seed=s, max_wait_elements=500)),
    (
        "rejection",
        lambda c, s: tfbalance.rejection_resample(
            initial_dist=tfbalance.ClassDistribution(c), seed=s
        ),
    ),
    (
        "rejection-online",
        lambda c, s: tfbalance.rejection_resample(seed=s, num_classes=2, max_wait_elements=500),
    ),
]
IDS = [name for name, _ in TRANSFORMS]
FACTORIES = [factory for _, factory in TRANSFORMS]
BATCHINGS = [None, 64]


def _prepare(batch):
    ds = _data()
    return ds if batch is None else ds.batch(batch)


def _rows(ds):
    xs, ys = [], []
    for x, y in ds:
        xs.append(np.reshape(x.numpy(), [-1]))
        ys.append(np.reshape(y.numpy(), [-1]))
    return np.concatenate(xs), np.concatenate(ys)


def _class_totals_in_graph(dataset):
    @tf.function
    def class_totals():
        totals = tf.zeros([2], tf.int64)
        for _, y in dataset:
            totals += tf.math.bincount(
                tf.cast(tf.reshape(y, [-1]), tf.int32), minlength=2, maxlength=2, dtype=tf.int64
            )
        return totals

    return class_totals().numpy()


@pytest.mark.parametrize("batch", BATCHINGS)
@pytest.mark.parametrize("factory", FACTORIES, ids=IDS)
def test_deterministic_structure_preserving_and_traceable(factory, batch):
    ds = _prepare(batch)
    out = ds.apply(factory([N0, N1], 7))
    # The element structure that goes in comes out (batched: the batch size varies).
    if batch is None:
        assert out.element_spec == ds.element_spec
    else:
        assert out.element_spec == tf.nest.map_structure(
            lambda s: tf.TensorSpec([None] + s.shape.as_list()[1:], s.dtype), ds.element_spec
        )
    # Epoch 1 iterated inside tf.function, epochs 2 and 3 eagerly.
    in_graph = _class_totals_in_graph(out)
    second, third = _rows(out), _rows(out)
    # A new epoch draws again: the row sequence differs.
    assert len(second[0]) != len(third[0]) or not np.array_equal(second[0], third[0])
    # The same seed reproduces the sequence of epochs, not just the first.
    x, y = _rows(_prepare(batch).apply(factory([N0, N1], 7)).repeat(3))
    first_len = len(x) - len(second[0]) - len(third[0])
    np.testing.assert_array_equal(in_graph, np.bincount(y[:first_len], minlength=2))
    np.testing.assert_array_equal(x[first_len:], np.concatenate([second[0], third[0]]))
    np.testing.assert_array_equal(y[first_len:], np.concatenate([second[1], third[1]]))


@pytest.mark.parametrize("batch", BATCHINGS)
@pytest.mark.parametrize("factory", FACTORIES, ids=IDS)
def test_checkpoint_restore_mid_epoch_continues_identically(factory, batch, tmp_path):
    ds = _prepare(batch).apply(factory([N0, N1], 11))
    skip = 3 if batch is not None else 60
    it = iter(ds)
    for _ in range(skip):
        next(it)
    checkpoint = tf.train.Checkpoint(iterator=it)
    path = checkpoint.save(str(tmp_path / "ckpt"))
    rest = [x.numpy() for x, _ in it]
    checkpoint.restore(path)
    restored = [x.numpy() for x, _ in it]
    # `rest` is the uninterrupted run; the restored iterator must replay it exactly.
    assert len(rest) == len(restored) > 0
    for a, b in zip(rest, restored, strict=False):
        np.testing.assert_array_equal(a, b)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("batch", BATCHINGS)
@pytest.mark.parametrize("factory", FACTORIES, ids=IDS)
def test_absent_class_raises_instead_of_hanging(factory, batch):
    ds = _data(n0=300, n1=0).repeat()
    if batch is not None:
        ds = ds.batch(batch)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
        for _ in ds.apply(factory([300, 0], 0)).take(100_000):
            pass


@pytest.mark.parametrize("factory", FACTORIES, ids=IDS)
def test_one_iterator_one_read_per_row(factory):
    reads = tf.Variable(0, dtype=tf.int64)

    def count(x, y):
        reads.assign_add(1)
        return x, y

    ds = _data().map(count).apply(factory([N0, N1], 5))
    for _ in ds:
        pass
    assert int(reads.numpy()) == N0 + N1


def _column_label_data():
    """Rows of 4 features whose first value says which row it is, labels of shape (1,)."""
    y = _data().map(lambda x, y: y)
    labels = np.concatenate([b.numpy() for b in y.batch(1000)])
    x = np.arange(4 * len(labels), dtype=np.float32).reshape(-1, 4)
    return x, labels


def _check_rows_whole(x_out, y_out, x, labels):
    x_out = np.reshape(x_out, [-1, 4])
    row = (x_out[:, 0] // 4).astype(int)
    # Every output row is an input row, whole, with its own label.
    np.testing.assert_array_equal(x_out, x[row])
    np.testing.assert_array_equal(np.reshape(y_out, [-1]), labels[row])


@pytest.mark.parametrize("batch", BATCHINGS)
@pytest.mark.parametrize("factory", FACTORIES, ids=IDS)
def test_labels_of_shape_one_keep_rows_whole(factory, batch):
    # from_tensor_slices((X, y.reshape(-1, 1))): one row per element, not a batch of one.
    x, labels = _column_label_data()
    ds = tf.data.Dataset.from_tensor_slices((x, labels.reshape(-1, 1)))
    if batch is not None:
        ds = ds.batch(batch)  # labels (batch, 1)
    out = ds.apply(factory([N0, N1], 3))
    if batch is None:
        assert out.element_spec == ds.element_spec
    xs, ys = zip(*[(a.numpy(), b.numpy()) for a, b in out], strict=False)
    _check_rows_whole(np.concatenate([np.reshape(a, [-1]) for a in xs]),
                      np.concatenate([np.reshape(b, [-1]) for b in ys]), x, labels)


@pytest.mark.parametrize("factory", FACTORIES, ids=IDS)
def test_dict_features_label_of_shape_one_and_weights_keep_rows_whole(factory):
    x, labels = _column_label_data()
    w = np.full(len(labels), 2.0, np.float32)
    ds = tf.data.Dataset.from_tensor_slices(({"f": x}, labels.reshape(-1, 1), w))
    out = ds.apply(factory([N0, N1], 4))
    assert out.element_spec == ds.element_spec
    rows = [(e[0]["f"].numpy(), e[1].numpy(), e[2].numpy()) for e in out]
    _check_rows_whole(np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows]), x, labels)
    np.testing.assert_array_equal([r[2] for r in rows], 2.0)
