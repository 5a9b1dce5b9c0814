import numpy as np
import pytest
import tensorflow as tf

import tfbalance
from tests.stats import assert_count, assert_proportion

INSURANCE = (319_553, 62_601)


def _dataset(counts, seed=0, batch=None):
    y = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
    np.random.default_rng(seed).shuffle(y)
    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(y), dtype=np.int64), y))
    return (ds if batch is None else ds.batch(batch)), y


def _rows(ds):
    xs, ys = [], []
    for element in ds:
        xs.append(np.reshape(element[0].numpy(), [-1]))
        ys.append(np.reshape(element[1].numpy(), [-1]))
    return np.concatenate(xs), np.concatenate(ys)


# ---------------------------------------------------------------- exact mode ---------------


def test_exact_epochs_match_the_insurance_figures():
    ds, y = _dataset(INSURANCE, batch=8192)
    under = ds.apply(tfbalance.undersample(counts=list(INSURANCE), exact=True, seed=0))
    x_u, y_u = _rows(under)
    assert np.bincount(y_u).tolist() == [62_601, 62_601]
    assert len(np.unique(x_u)) == len(x_u)  # undersampling never duplicates a row
    np.testing.assert_array_equal(y[x_u], y_u)  # rows travel with their labels
    over = ds.apply(tfbalance.oversample(counts=list(INSURANCE), exact=True, seed=0))
    x_o, y_o = _rows(over)
    assert np.bincount(y_o).tolist() == [319_553, 319_553]
    # Coverage: every row appears; minority rows floor(r) or floor(r) + 1 times, and
    # exactly (target mod count) of them the extra time.
    copies = np.bincount(x_o, minlength=len(y))
    assert np.all(copies[y == 0] == 1)
    q, r = divmod(319_553, 62_601)
    minority = copies[y == 1]
    assert set(np.unique(minority)) == {q, q + 1}
    assert int((minority == q + 1).sum()) == r


def test_exact_subsets_are_uniform_and_fresh_each_epoch():
    counts = [800, 200]
    ds, y = _dataset(counts, seed=1, batch=64)
    out = ds.apply(tfbalance.undersample(counts=counts, exact=True, seed=3))
    epochs = 30
    kept = np.zeros(len(y))
    previous = None
    for _ in range(epochs):
        x, labels = _rows(out)
        assert np.bincount(labels).tolist() == [200, 200]
        kept[x] += 1
        assert previous is None or not np.array_equal(np.sort(x), previous)
        previous = np.sort(x)
    # Each majority row is kept with probability 200/800; its position in the stream must not
    # matter: every quarter of the stream's majority rows holds a quarter of the picks.
    majority_rows = np.flatnonzero(y == 0)
    picks = kept[majority_rows]
    total = int(picks.sum())
    for quarter in np.array_split(np.arange(len(majority_rows)), 4):
        assert_proportion(picks[quarter].sum() / total, len(quarter) / len(majority_rows), total)
    assert_count(int(picks[0::7].sum()), epochs * len(picks[0::7]), 0.25)


def test_exact_unbatched_declares_cardinality_and_rebatch_steps():
    counts = [70, 30]
    ds, _ = _dataset(counts)
    out = ds.apply(tfbalance.oversample(counts=counts, exact=True, seed=0))
    assert int(out.cardinality()) == 140
    assert tfbalance.expected_steps(counts, batch_size=32, method="oversample") == 5
    batched = (
        _dataset(counts, batch=25)[0]
        .apply(tfbalance.oversample(counts=counts, exact=True, seed=0))
        .apply(tfbalance.rebatch(32, num_rows=140))
    )
    assert int(batched.cardinality()) == 5
    assert [int(tf.size(b[1])) for b in batched] == [32, 32, 32, 32, 12]


@pytest.mark.parametrize("wrong", [[60, 30], [80, 30]], ids=["too-many-rows", "too-few-rows"])
def test_exact_counts_that_do_not_match_the_data_raise(wrong):
    ds, _ = _dataset([70, 30], batch=16)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Invalid `counts`"):
        list(ds.apply(tfbalance.undersample(counts=wrong, exact=True, seed=0)))


@pytest.mark.parametrize("num_classes", [3, 80])
def test_exact_mode_with_many_classes_is_exact_and_uniform(num_classes):
    # More than two classes: rows are ranked within classes by a stable sort (binary data,
    # in the tests above, by a running count).
    counts = [20 + (c % 5) * 10 for c in range(num_classes)]
    ds, y = _dataset(counts, seed=6, batch=256)
    out = ds.apply(tfbalance.undersample(counts=counts, exact=True, seed=2))
    epochs = 10
    kept = np.zeros(len(y))
    for _ in range(epochs):
        x, labels = _rows(out)
        assert np.bincount(labels, minlength=num_classes).tolist() == [20] * num_classes
        assert len(np.unique(x)) == len(x)
        kept[x] += 1
    # Row r of class c is kept with probability 20 / counts[c] in every epoch, wherever it
    # is in the stream: each quarter of the stream holds its expected share of the picks.
    expected = 20 / np.asarray(counts)[y]
    total = int(kept.sum())
    for quarter in np.array_split(np.arange(len(y)), 4):
        assert_proportion(kept[quarter].sum() / total, expected[quarter].sum() / expected.sum(),
                          total)
    over = ds.apply(tfbalance.oversample(counts=counts, exact=True, seed=2))
    x, labels = _rows(over)
    assert np.bincount(labels).tolist() == [max(counts)] * num_classes
    assert np.bincount(x, minlength=len(y)).min() >= 1


def test_hypergeometric_draws_are_feasible_and_match_the_distribution():
    from tfbalance._sampling._kernels import hypergeometric as _hypergeometric

    # population R, successes K and draws m per class, from the batch sizes of exact mode
    # to the corners where the result is forced.
    R = np.array([3_000_000, 100, 10, 10, 10, 0, 50, 1_000_000, 400])
    K = np.array([600_000, 3, 10, 0, 4, 0, 25, 999_990, 200])
    m = np.array([6_800, 50, 4, 4, 10, 0, 0, 8_192, 399])
    n = 600
    params = [tf.constant(v, tf.int64) for v in (R, K, m)]
    draws = np.stack([
        d.numpy() for d in tf.data.Dataset.range(n).map(
            lambda i: _hypergeometric(tf.stack([i, tf.constant(11, tf.int64)]), *params)
        )
    ])
    low, high = np.maximum(0, m - (R - K)), np.minimum(m, K)
    assert np.all((draws >= low) & (draws <= high))
    share = K / np.maximum(R, 1)
    mean = m * share
    var = m * share * (1 - share) * (R - m) / np.maximum(R - 1, 1)
    np.testing.assert_array_less(np.abs(draws.mean(axis=0) - mean), 4.5 * np.sqrt(var / n) + 1e-9)
    spread = var > 0
    ratio = draws[:, spread].var(axis=0, ddof=1) / var[spread]
    np.testing.assert_array_less(np.abs(ratio - 1), 4.5 * np.sqrt(2 / (n - 1)))


# ---------------------------------------------------------------- Bernoulli mode -----------


def test_bernoulli_undersample_and_oversample_counts():
    counts = [6000, 1000, 500]
    ds, y = _dataset(counts, seed=2, batch=512)
    x_u, y_u = _rows(ds.apply(tfbalance.undersample(counts=counts, seed=5)))
    assert len(np.unique(x_u)) == len(x_u)
    assert_count(int((y_u == 0).sum()), 6000, 500 / 6000)
    assert_count(int((y_u == 1).sum()), 1000, 500 / 1000)
    assert int((y_u == 2).sum()) == 500  # the minority is not resampled by 'auto'
    x_o, y_o = _rows(ds.apply(tfbalance.oversample(counts=counts, seed=5)))
    copies = np.bincount(x_o, minlength=len(y))
    assert np.all(copies[y == 0] == 1)
    assert set(np.unique(copies[y == 2])) <= {12}  # 6000 / 500 is whole
    assert set(np.unique(copies[y == 1])) == {6}
    # Copies are spread by the in-batch shuffle rather than arriving in runs.
    assert np.mean(x_o[1:] == x_o[:-1]) < 0.05


@pytest.mark.parametrize("mode", ["counts", "exact", "online"])
def test_batched_output_never_holds_an_empty_batch(mode):
    counts = [3000, 30]
    ds, _ = _dataset(counts, seed=3, batch=4)
    kwargs = {"counts": {"counts": counts}, "exact": {"counts": counts, "exact": True},
              "online": {}}[mode]
    sizes = [int(tf.size(b[1])) for b in ds.apply(tfbalance.undersample(seed=1, **kwargs))]
    assert len(sizes) < sum(counts) // 4  # batches that lost every row are gone
    assert min(sizes) > 0


def test_bernoulli_fractional_oversampling():
    counts = [3000, 700]
    ds, y = _dataset(counts, seed=4, batch=256)
    x, _ = _rows(ds.apply(tfbalance.oversample(counts=counts, sampling_strategy=0.5, seed=9)))
    copies = np.bincount(x, minlength=len(y))[y == 1]
    rate = int(3000 * 0.5 - 700 + 700) / 700  # imbalanced-learn: generate int(3000*0.5 - 700)
    assert copies.min() == int(rate)
    assert_count(int((copies > int(rate)).sum()), 700, rate - int(rate))


def test_online_estimation_reaches_the_target():
    # Online, the rates come from running counts, so besides the Bernoulli noise the output
    # carries the estimation noise of the class ratio, whose standard error is binomial in the
    # number of minority rows: the output shares are checked with n = minority input rows.
    counts = [20_000, 4_000]
    ds, _ = _dataset(counts, seed=6, batch=1024)
    _, y = _rows(ds.apply(tfbalance.undersample(seed=1)))
    assert int((y == 1).sum()) == 4_000
    assert_proportion(float((y == 0).mean()), 0.5, 4_000)
    _, y = _rows(ds.apply(tfbalance.oversample(seed=1)))
    assert int((y == 0).sum()) == 20_000
    assert_proportion(float((y == 1).mean()), 0.5, 4_000)


def test_rejection_resample_reaches_the_target_with_minimal_consumption():
    counts = [5000, 3000, 2000]
    target = [0.2, 0.3, 0.5]
    ds, _ = _dataset(counts, seed=3, batch=500)
    initial = tfbalance.ClassDistribution(counts)
    _, y = _rows(ds.apply(tfbalance.rejection_resample(target_dist=target, initial_dist=initial,
                                                       seed=2)))
    # The class with the largest target/initial ratio is accepted with probability 1.
    assert int((y == 2).sum()) == 2000
    n = len(y)
    for c in range(3):
        assert_proportion(float((y == c).mean()), target[c], n)
    _, y = _rows(ds.apply(tfbalance.rejection_resample(seed=2)))  # online, balanced
    for c in range(3):  # estimation noise: n = minority input rows, as for undersample
        assert_proportion(float((y == c).mean()), 1 / 3, 2000)


def test_sample_weights_are_importance_weights():
    counts = [900, 100]
    ds, _ = _dataset(counts)
    out = ds.apply(tfbalance.undersample(counts=counts, exact=True, seed=0, sample_weight=True))
    assert len(out.element_spec) == 3
    ys, ws = zip(*[(int(y), float(w)) for _, y, w in out], strict=True)
    ys, ws = np.array(ys), np.array(ws)
    # input share / output share: 0.9 / 0.5 and 0.1 / 0.5; the mean weight is 1.
    np.testing.assert_allclose(ws[ys == 0], 1.8, rtol=1e-6)
    np.testing.assert_allclose(ws[ys == 1], 0.2, rtol=1e-6)
    assert abs(ws.mean() - 1.0) < 1e-6
    weighted = tf.data.Dataset.from_tensor_slices(
        (np.zeros(1000, np.float32), np.repeat([0, 1], counts), np.full(1000, 2.0, np.float32))
    ).batch(100)
    out = weighted.apply(tfbalance.rejection_resample(initial_dist=[0.9, 0.1], seed=0,
                                                      sample_weight=True))
    for _, y, w in out:
        np.testing.assert_allclose(w.numpy(), np.where(y.numpy() == 0, 2 * 1.8, 2 * 0.2),
                                   rtol=1e-6)
    as_dict = tf.data.Dataset.from_tensor_slices({"y": np.repeat([0, 1], counts)}).batch(100)
    out = as_dict.apply(tfbalance.undersample(label="y", counts=counts, sample_weight=True))
    assert set(out.element_spec) == {"y", "sample_weight"}


# ---------------------------------------------------------------- structures ---------------


def test_label_forms_and_structures_are_kept():
    y = np.array([0, 1] * 50 + [0] * 100, dtype=np.int32)
    features = {"a": np.arange(200.0), "y": y, "text": np.array([b"t"] * 200)}
    ds = tf.data.Dataset.from_tensor_slices(features)
    out = ds.apply(tfbalance.undersample(label="y", counts=[150, 50], exact=True, seed=0))
    assert out.element_spec == ds.element_spec
    assert np.bincount([int(e["y"]) for e in out]).tolist() == [50, 50]
    nested = tf.data.Dataset.from_tensor_slices(((features, np.arange(200)), y[:, None])).batch(40)
    out = nested.apply(tfbalance.undersample(label=lambda e: e[1], counts=[150, 50], seed=0))
    for (f, _), labels in out:
        np.testing.assert_array_equal(f["y"].numpy(), labels.numpy()[:, 0])
    by_position = tf.data.Dataset.from_tensor_slices((np.arange(200), np.arange(200), y))
    out = by_position.apply(tfbalance.oversample(label=2, counts=[150, 50], exact=True, seed=0))
    assert np.bincount([int(e[2]) for e in out]).tolist() == [150, 150]


def test_variable_length_unbatched_elements():
    ragged = tf.ragged.constant([[1.0] * (i % 4 + 1) for i in range(60)])
    ds = tf.data.Dataset.from_tensor_slices((ragged, np.array([0, 0, 1] * 20)))
    ds = ds.map(lambda x, y: (x, y))
    out = ds.apply(tfbalance.undersample(counts=[40, 20], exact=True, seed=0))
    rows = list(out)
    assert len(rows) == 40
    assert all(len(x) == float(tf.reduce_sum(x)) for x, _ in rows)


def test_elements_that_are_neither_rows_nor_batches_are_refused():
    # Three labels beside scalar features: not one row (one class id), not a batch.
    ds = tf.data.Dataset.from_tensor_slices((np.zeros(6), np.zeros((6, 3), np.int64)))
    with pytest.raises(ValueError, match=r"neither single rows nor batches.*\(3,\)"):
        ds.apply(tfbalance.undersample(counts=[10, 8]))
    # Batches whose components disagree on the number of rows.
    uneven = tf.data.Dataset.from_tensors((np.zeros((5, 2)), np.zeros(4, np.int64)))
    with pytest.raises(ValueError, match=r"leading dimensions \[5, 4\] differ"):
        uneven.apply(tfbalance.oversample(counts=[10, 8]))
    with pytest.raises(ValueError, match="neither single rows nor batches"):
        tfbalance.class_counts(ds)


def test_batches_whose_rows_disagree_at_run_time_raise():
    # A loose signature hides that the features have 4 rows and the labels 3: gathering
    # would cut the features silently.
    def gen():
        yield np.arange(4.0), np.array([0, 1, 1])

    signature = (tf.TensorSpec([None], tf.float64), tf.TensorSpec([None], tf.int64))
    ds = tf.data.Dataset.from_generator(gen, output_signature=signature)
    for transform in (tfbalance.undersample(counts=[1, 2]),
                      tfbalance.undersample(counts=[1, 2], exact=True)):
        with pytest.raises(tf.errors.InvalidArgumentError, match="component 0 of a batch"):
            list(ds.apply(transform))


def test_batch_of_one_row_is_resampled_as_a_row():
    # batch(1, drop_remainder=True) holds one row, so reading it as one row is right.
    ds, y = _dataset([30, 10])
    out = ds.batch(1, drop_remainder=True).apply(
        tfbalance.undersample(counts=[30, 10], exact=True, seed=0)
    )
    assert out.element_spec == ds.batch(1, drop_remainder=True).element_spec
    x_out, y_out = _rows(out)
    np.testing.assert_array_equal(y_out, y[x_out])
    assert np.bincount(y_out).tolist() == [10, 10]


def test_runs_under_tf_distribute():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    ds, _ = _dataset([300, 100], batch=50)

    def make(context):
        return ds.apply(tfbalance.undersample(counts=[300, 100], exact=True, seed=0))

    dist = strategy.distribute_datasets_from_function(make)
    labels = np.concatenate([strategy.experimental_local_results(y)[0].numpy() for _, y in dist])
    assert np.bincount(labels).tolist() == [100, 100]


def test_runs_on_tf_data_service():
    service = tf.data.experimental.service
    dispatcher = service.DispatchServer()
    worker = service.WorkerServer(
        service.WorkerConfig(dispatcher_address=dispatcher.target.split("://")[1])
    )
    ds, _ = _dataset([300, 100], batch=50)
    ds = ds.apply(tfbalance.undersample(counts=[300, 100], exact=True, seed=0))
    ds = ds.apply(service.distribute(processing_mode="parallel_epochs", service=dispatcher.target))
    _, labels = _rows(ds)
    assert np.bincount(labels).tolist() == [100, 100]
    del worker


def test_reads_its_input_once_unlike_tf_rejection_resample():
    reads = tf.Variable(0, dtype=tf.int64)

    def count(x, y):
        reads.assign_add(1)
        return x, y

    ds, _ = _dataset([300, 100])
    ours = ds.map(count).apply(tfbalance.rejection_resample(seed=0))
    list(ours)
    assert int(reads.numpy()) == 400
    reads.assign(0)
    theirs = ds.map(count).rejection_resample(
        class_func=lambda x, y: y, target_dist=[0.5, 0.5], seed=0
    )
    list(theirs)
    assert int(reads.numpy()) > 400


# ---------------------------------------------------------------- bad input ----------------


@pytest.mark.parametrize(
    "make, exc, pattern",
    [
        (lambda: tfbalance.undersample(exact=True), ValueError,
         "exact mode needs the class counts"),
        (lambda: tfbalance.undersample(counts=[5, 3, 2], sampling_strategy=0.5), ValueError,
         "only allowed for a binary target"),
        (lambda: tfbalance.undersample(sampling_strategy=0.5, num_classes=3), ValueError,
         "only allowed for a binary target"),
        (lambda: tfbalance.undersample(counts=[5, 0]), ValueError, "more than 1 class"),
        (lambda: tfbalance.undersample(counts=[5, 3, 0], sampling_strategy={2: 1}), ValueError,
         r"\[2\] are not present"),
        (lambda: tfbalance.undersample(counts=[5, 3], sampling_strategy={7: 1}), ValueError,
         r"\[7\] are not present"),
        (lambda: tfbalance.undersample(sampling_strategy={0: 1}), ValueError, "need the class"),
        (lambda: tfbalance.undersample(counts=[5, 3], sampling_strategy={0: 6}), ValueError,
         "less or equal"),
        (lambda: tfbalance.oversample(counts=[5, 3], sampling_strategy={1: 2}), ValueError,
         "greater or equal"),
        (lambda: tfbalance.undersample(sampling_strategy="minority"), ValueError,
         "'minority' cannot be used with under-sampling"),
        (lambda: tfbalance.oversample(sampling_strategy="majority"), ValueError,
         "'majority' cannot be used with over-sampling"),
        (lambda: tfbalance.undersample(seed=1.5), TypeError, r"Received: seed=1\.5"),
        (lambda: tfbalance.undersample(exact="yes"), TypeError, "Invalid `exact`"),
        (lambda: tfbalance.undersample(max_wait_elements=0), ValueError, "max_wait_elements"),
        (lambda: tfbalance.rejection_resample(target_dist=[0.5, -0.5, 1.0]), ValueError,
         "non-negative"),
        (lambda: tfbalance.rejection_resample(target_dist=[0.5, 0.6]), ValueError, "sum to 1"),
        (lambda: tfbalance.rejection_resample(target_dist={0: 0.5, 5: 0.5},
                                              initial_dist=[0.5, 0.5]),
         ValueError, "class 5 is not one of the known classes"),
        (lambda: tfbalance.rejection_resample(initial_dist=[0.5, 0.6]), ValueError, "sum to 1"),
        (lambda: tfbalance.rejection_resample(target_dist="uniform"), ValueError,
         "'balanced', a list or a dict"),
        (lambda: tfbalance.rejection_resample(initial_dist=[1.0, 0.0]), ValueError,
         "more than 1 class"),
        (lambda: tfbalance.rejection_resample(target_dist=[0.5, 0.25, 0.25],
                                              initial_dist=[0.5, 0.5, 0.0]),
         ValueError, r"class\(es\) \[2\] have a target probability above 0"),
        (lambda: tfbalance.rebatch(0), ValueError, "Invalid `batch_size`"),
        (lambda: tfbalance.undersample(counts={0: 5, 2**40: 3}), ValueError,
         r"`counts`: class ids must be at most MAX_CLASS_ID=1048575.*class id 1099511627776"),
        (lambda: tfbalance.oversample(num_classes=2**40), ValueError,
         r"`num_classes`.*MAX_CLASS_ID=1048575.*num_classes=1099511627776"),
        (lambda: tfbalance.rejection_resample(initial_dist={0: 0.5, 2**40: 0.5}), ValueError,
         r"`initial_dist`.*MAX_CLASS_ID=1048575.*class id 1099511627776"),
        (lambda: tfbalance.rejection_resample(target_dist={0: 0.5, 2**40: 0.5}), ValueError,
         r"`target_dist`.*MAX_CLASS_ID=1048575.*class id 1099511627776"),
        (lambda: tfbalance.expected_steps([5, 3], batch_size=2, method="smote"), ValueError,
         "Invalid `method`"),
    ],
)
def test_bad_arguments(make, exc, pattern):
    with pytest.raises(exc, match=pattern):
        make()


def test_float_labels_are_rejected():
    ds = tf.data.Dataset.from_tensor_slices((np.zeros(4), np.array([0.0, 1.0, 0.0, 1.0])))
    with pytest.raises(TypeError, match="class ids must be integers"):
        ds.apply(tfbalance.undersample(counts=[2, 2]))


@pytest.mark.parametrize("batch", [None, 4])
def test_labels_outside_the_known_classes_raise(batch):
    ds = tf.data.Dataset.from_tensor_slices((np.zeros(8), np.array([0, 1, 0, 1, 0, 5, 0, 1])))
    if batch:
        ds = ds.batch(batch)
    # The message names the offending value: the batch's smallest and largest class id ...
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"label=None read class ids outside .*\[0 5\]"):
        list(ds.apply(tfbalance.undersample(counts=[4, 3], seed=0)))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"num_classes=2.*\[0 5\]"):
        list(ds.apply(tfbalance.rejection_resample(num_classes=2, seed=0)))
    negative = ds.map(lambda x, y: (x, y - 1))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"outside the class ids 0..MAX_CLASS_ID=1048575.*\[-1 [04]\]"):
        list(negative.apply(tfbalance.undersample(seed=0)))
    # ... or, when a class inside the range has no rows in `counts`, the bad values themselves.
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"known distribution: \[0, 2, 5\]\. Bad values.*\[1 1"):
        list(ds.apply(tfbalance.undersample(counts=[4, 0, 3, 0, 0, 1], seed=0)))


@pytest.mark.parametrize("batch", [None, 4])
def test_huge_class_ids_at_run_time_raise_naming_the_value(batch):
    # Online, a mis-parsed id column would otherwise wrap in the int32 ids or make the
    # running per-class vector terabytes long.
    ds = tf.data.Dataset.from_tensor_slices((np.zeros(8), np.array([0, 1] * 3 + [2**40, 1])))
    if batch:
        ds = ds.batch(batch)
    for transform in (tfbalance.undersample(seed=0), tfbalance.rejection_resample(seed=0)):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"MAX_CLASS_ID=1048575.*\[0 1099511627776\]"):
            list(ds.apply(transform))


@pytest.mark.timeout(60)
def test_online_class_that_never_appears_raises_instead_of_hanging():
    ds = tf.data.Dataset.from_tensor_slices((np.zeros(10), np.zeros(10, np.int64))).repeat()
    out = ds.batch(10).apply(tfbalance.oversample(num_classes=2, max_wait_elements=1000))
    with pytest.raises(tf.errors.InvalidArgumentError, match="required classes missing"):
        for _ in out:
            pass
    # A finite epoch is checked at its end, so a repeated pipeline cannot spin forever.
    finite = tf.data.Dataset.from_tensor_slices((np.zeros(10), np.zeros(10, np.int64)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="fewer than 2 classes"):
        for _ in finite.apply(tfbalance.undersample()).repeat():
            pass
    target_only_missing = tfbalance.rejection_resample(target_dist=[0.0, 1.0],
                                                       max_wait_elements=1000)
    with pytest.raises(tf.errors.InvalidArgumentError, match="required classes missing"):
        for _ in ds.apply(target_only_missing):
            pass


def test_expected_steps_matches_exact_output():
    assert tfbalance.expected_steps(list(INSURANCE), batch_size=256) == -(-2 * 62_601 // 256)
    assert tfbalance.expected_steps(
        list(INSURANCE), batch_size=256, method="oversample", drop_remainder=True
    ) == 2 * 319_553 // 256
    # rejection_resample: the expected output is sum_c n_c * a_c = 2 * 62,601 for balanced.
    assert tfbalance.expected_steps(
        list(INSURANCE), batch_size=1000, method="rejection_resample"
    ) == -(-2 * 62_601 // 1000)


@pytest.mark.parametrize("batch", [None, 16])
@pytest.mark.parametrize(
    "transform, argument",
    [
        (tfbalance.undersample(counts=[900, 100], seed=0), "counts"),
        (tfbalance.oversample(counts=[900, 100], seed=0), "counts"),
        (tfbalance.rejection_resample(initial_dist=[0.9, 0.1], seed=0), "initial_dist"),
    ],
    ids=["undersample", "oversample", "rejection"],
)
def test_fixed_rates_raise_when_a_counted_class_never_appears(transform, argument, batch):
    ds = tf.data.Dataset.from_tensor_slices((np.arange(300.0), np.zeros(300, np.int64)))
    ds = ds if batch is None else ds.batch(batch)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"Invalid `{argument}`: the epoch ended without.*missing:\] \[1\]"):
        list(ds.apply(transform))


def test_rejection_resample_accepts_counts_as_lists_and_dicts():
    ds, _ = _dataset([800, 200], batch=100)
    reference = _rows(ds.apply(tfbalance.rejection_resample(initial_dist=[0.8, 0.2], seed=3)))
    for initial in ([800, 200], {0: 800, 1: 200}, np.array([8.0, 2.0]),
                    tfbalance.ClassDistribution([800, 200])):
        got = _rows(ds.apply(tfbalance.rejection_resample(initial_dist=initial, seed=3)))
        np.testing.assert_array_equal(got[0], reference[0])
    # Counts as a target too; probabilities that do not sum to 1 are still refused.
    got = _rows(ds.apply(tfbalance.rejection_resample(target_dist=[1, 1], initial_dist=[4, 1],
                                                      seed=3)))
    np.testing.assert_array_equal(got[0], reference[0])
    with pytest.raises(ValueError, match="counts must not all be 0"):
        tfbalance.rejection_resample(initial_dist=[0, 0])


def test_transforms_given_arrays_say_they_need_a_dataset():
    arrays = (np.zeros(4), np.array([0, 1, 0, 1]))
    for transform in (tfbalance.undersample(counts=[2, 2]), tfbalance.rebatch(2)):
        with pytest.raises(TypeError, match=r"expected a tf.data.Dataset.*from_tensor_slices"):
            transform(arrays)


ONLINE = [
    lambda: tfbalance.undersample(seed=0),
    lambda: tfbalance.oversample(seed=0),
    lambda: tfbalance.rejection_resample(seed=0),
]


@pytest.mark.parametrize("batch", [None, 512])
@pytest.mark.parametrize("minority_first", [False, True])
@pytest.mark.parametrize("make", ONLINE, ids=["undersample", "oversample", "rejection"])
def test_online_mode_refuses_a_label_sorted_stream(make, minority_first, batch):
    # 9,000 zeros then 1,000 ones (or the reverse): the online estimate would be wrong
    # (8,961 / 1,000 instead of 1,000 / 1,000), so the order test raises.
    y = np.array([0] * 9000 + [1] * 1000, np.int64)
    y = y[::-1].copy() if minority_first else y
    ds = tf.data.Dataset.from_tensor_slices((np.arange(10_000), y))
    ds = ds if batch is None else ds.batch(batch)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"random order.*Shuffle the rows.*pass counts="):
        # Iterated in one op (not element by element in Python): thousands of rows come
        # out before the order test has seen enough to raise.
        ds.apply(make()).reduce(np.int64(0), lambda n, _: n + 1)


def test_online_order_test_accepts_random_streams_with_a_rare_late_class():
    # A class of a few rows whose first row comes late is what random order gives; the
    # order test (a tail bound, not a z-score) must not flag it.
    rng = np.random.default_rng(5)
    y = rng.choice(2, size=40_000, p=[0.9, 0.1]).astype(np.int64)
    y[rng.integers(30_000, 40_000)] = 2  # one row of class 2, in the last quarter
    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(y)), y)).batch(256)
    for make in ONLINE:
        _, labels = _rows(ds.apply(make()))
        assert set(np.unique(labels)) <= {0, 1, 2}
