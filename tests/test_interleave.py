import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfbalance
from tests.stats import assert_count, assert_proportion
from tfbalance import (
    ExponentialSchedule,
    InterleaveScheduleCallback,
    LinearSchedule,
    balanced_batches,
    class_datasets,
    interleave_by_class,
)
from tfbalance._class_streams import ClassDatasets
from tfbalance._interleave import DRAW_BLOCK_ROWS


def _streams(sizes, offset=1000):
    # Row values encode (class, index) so tests can see which rows came out.
    return [
        tf.data.Dataset.from_tensor_slices(
            (np.arange(n, dtype=np.int64) + c * offset, np.full(n, c, np.int64))
        )
        for c, n in enumerate(sizes)
    ]


def _labels(ds):
    return np.array([int(y) for _, y in ds.as_numpy_iterator()])


def _batched_labels(ds):
    return np.concatenate([y for _, y in ds.as_numpy_iterator()])


# ---- fractions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "weights, expected",
    [
        ("balanced", [1 / 3, 1 / 3, 1 / 3]),
        ("natural", [0.7, 0.2, 0.1]),
        ([1.0, 3.0, 0.0], [0.25, 0.75, 0.0]),
        ({0: 2.0, 2: 2.0}, [0.5, 0.0, 0.5]),
    ],
)
def test_fractions_follow_weights(weights, expected):
    ds = interleave_by_class(_streams([70, 20, 10]), weights, seed=3, epoch_rows=6000)
    labels = _batched_labels(ds.batch(1000))
    assert labels.size == 6000
    for c, p in enumerate(expected):
        if p == 0:
            assert np.sum(labels == c) == 0
        else:
            assert_count(int(np.sum(labels == c)), labels.size, p)


def test_default_epoch_is_total_rows_and_cardinality_known():
    ds = interleave_by_class(_streams([70, 20, 10]), seed=0)
    assert int(ds.cardinality()) == 100
    assert len(_labels(ds)) == 100
    batched = interleave_by_class(_streams([70, 20, 10]), seed=0, batch_size=8, steps_per_epoch=5)
    assert int(batched.cardinality()) == 5
    assert [b[1].shape[0] for b in batched] == [8] * 5


def test_streams_repeat_and_rows_come_in_stream_order():
    ds = interleave_by_class(_streams([50, 3]), "balanced", seed=1, epoch_rows=400)
    rows = [(int(x), int(y)) for x, y in ds.as_numpy_iterator()]
    minority = [x for x, y in rows if y == 1]
    # The 3-row stream is repeated in order: 1000, 1001, 1002, 1000, ...
    assert minority == [1000 + i % 3 for i in range(len(minority))]


def test_dict_streams_and_class_datasets_counts_natural():
    ds = tf.data.Dataset.from_tensor_slices(
        (np.arange(100, dtype=np.float32), np.array([0] * 80 + [2] * 20, np.int64))
    ).shuffle(100, seed=0)
    streams = class_datasets(ds.batch(16), counts={0: 80, 2: 20})
    assert sorted(streams) == [0, 2]
    out = interleave_by_class(streams, "natural", seed=5, epoch_rows=5000)
    labels = _batched_labels(out.batch(1000))
    assert set(labels.tolist()) == {0, 2}
    assert_count(int(np.sum(labels == 2)), labels.size, 0.2)


def test_class_datasets_filter_matches_numpy():
    x = np.arange(60, dtype=np.float32)
    y = np.random.default_rng(0).integers(0, 3, 60)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    for source in (ds, ds.batch(7)):
        streams = class_datasets(source)
        assert streams.counts.counts == {c: int(np.sum(y == c)) for c in range(3)}
        for c in range(3):
            got = [float(v) for v, _ in streams[c].as_numpy_iterator()]
            assert got == x[y == c].tolist()


# ---- dynamic weights -----------------------------------------------------------------


def test_variable_weights_change_mid_stream():
    block = DRAW_BLOCK_ROWS
    weights = tf.Variable([1.0, 0.0])
    ds = interleave_by_class(_streams([50, 50]), weights, seed=2, epoch_rows=4000)
    it = iter(ds)
    first = np.array([int(next(it)[1]) for _ in range(300)])
    assert np.all(first == 0)
    weights.assign([0.2, 0.8])
    # Ids are drawn a block at a time: the block in progress keeps the old weights, so
    # the change shows from the next block boundary, at most `block` rows later.
    stale = -300 % block
    second = np.array([int(next(it)[1]) for _ in range(stale + 1500)])
    assert np.all(second[:stale] == 0)
    assert_count(int(np.sum(second[stale:] == 1)), 1500, 0.8)


def test_rows_within_a_block_are_drawn_independently():
    # Per-row i.i.d. draws: consecutive rows agree with probability sum(p**2) (0.625 for
    # [0.25, 0.75]), not 1 as block-level class draws would give.
    ds = interleave_by_class(_streams([50, 50]), [1.0, 3.0], seed=9, epoch_rows=8000)
    labels = _batched_labels(ds.batch(1000))
    same = int(np.sum(labels[1:] == labels[:-1]))
    assert_count(same, labels.size - 1, 0.25**2 + 0.75**2)


def test_variable_set_to_invalid_values_raises():
    block = DRAW_BLOCK_ROWS
    weights = tf.Variable([1.0, 1.0])
    ds = interleave_by_class(_streams([5, 5]), weights, seed=2, epoch_rows=10 * block)
    it = iter(ds)
    next(it)
    weights.assign([np.nan, 1.0])
    # The block in progress was drawn with valid weights; the next block's draw fails.
    with pytest.raises(tf.errors.InvalidArgumentError, match="Invalid `weights`"):
        for _ in range(block + 1):
            next(it)


@pytest.mark.timeout(60)
def test_variable_moving_weight_onto_empty_stream_raises_not_hangs():
    block = DRAW_BLOCK_ROWS
    weights = tf.Variable([1.0, 0.0])
    streams = [_streams([5])[0], _streams([5])[0].take(0)]
    ds = interleave_by_class(streams, weights, seed=2, epoch_rows=10 * block)
    it = iter(ds)
    next(it)
    weights.assign([0.0, 1.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="zero for every class without"):
        for _ in range(block + 1):
            next(it)


def test_linear_schedule_values_and_both_directions():
    up = LinearSchedule("natural", "balanced", duration=4)
    down = LinearSchedule("balanced", "natural", duration=4)
    counts = [80, 20]
    for t in range(6):
        a = min(t / 4, 1)
        natural, balanced = np.array([0.8, 0.2]), np.array([0.5, 0.5])
        np.testing.assert_allclose(up.weights(t, counts=counts), (1 - a) * natural + a * balanced)
        np.testing.assert_allclose(down.weights(t, counts=counts), (1 - a) * balanced + a * natural)


def test_exponential_schedule_matches_catalyst_formula():
    counts = np.array([500, 100, 10])
    schedule = ExponentialSchedule("natural", "balanced", rate=0.9)
    for epoch in range(5):
        # catalyst: samples per class = min_count * (count / min_count) ** (0.9 ** epoch)
        expected = (counts / counts.min()) ** (0.9**epoch)
        np.testing.assert_allclose(
            schedule.weights(epoch, counts=counts), expected / expected.sum(), rtol=1e-12
        )
    back = ExponentialSchedule("balanced", "natural", rate=0.5, interpolation="linear")
    np.testing.assert_allclose(back.weights(1, counts=[3, 1]), [0.625, 0.375])


def test_schedule_callback_drives_pipeline_and_logs():
    schedule = LinearSchedule([1.0, 0.0], [0.0, 1.0], duration=2)
    ds = interleave_by_class(_streams([40, 40]), schedule, seed=0, epoch_rows=80).map(
        lambda x, y: (tf.cast(x[None], tf.float32), y)
    ).batch(16)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(None)

    callback = InterleaveScheduleCallback(schedule)
    history = model.fit(ds, epochs=3, verbose=0, callbacks=[callback, Record()], shuffle=False)
    assert history.history["interleave_weight_1"] == pytest.approx([0.0, 0.5, 1.0])
    # Epoch 0 had weight 0 on class 1: every row was class 0 (checked by re-reading).
    schedule.update(0)
    assert set(_batched_labels(ds).tolist()) == {0}
    schedule.update(2)
    assert set(_batched_labels(ds).tolist()) == {1}


def _planned_step_schedule(duration, steps, sizes, **options):
    schedule = LinearSchedule([1.0, 0.0], [0.0, 1.0], duration=duration, unit="step")
    ds = interleave_by_class(_streams(sizes), schedule, seed=0, **options)
    callback = InterleaveScheduleCallback(schedule)
    callback.set_params({"steps": steps})
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    return ds, callback


def test_step_schedule_plans_each_batch_from_its_step():
    # A known epoch is planned at its start: batch b gets the weights of step first + b.
    ds, callback = _planned_step_schedule(2, 4, [800, 800], batch_size=400)
    first = [y for _, y in ds.prefetch(4).as_numpy_iterator()]
    assert [len(y) for y in first] == [400] * 4
    assert set(first[0].tolist()) == {0}
    assert_count(int(first[1].sum()), 400, 0.5)  # step 1: halfway
    assert set(np.concatenate(first[2:]).tolist()) == {1}
    # Prefetching ahead changes nothing: the plan was fixed when the epoch started, so the
    # same pipeline read step by step, with the callback called before each, is the same.
    again, other = _planned_step_schedule(2, 4, [800, 800], batch_size=400)
    iterator = iter(again)
    for step, expected in enumerate(first):
        other.on_train_batch_begin(step)
        np.testing.assert_array_equal(next(iterator)[1].numpy(), expected)
    for step in range(4):
        callback.on_train_batch_begin(step)
    callback.on_epoch_begin(1)  # steps 4..7: past the end of the move
    assert set(_batched_labels(ds).tolist()) == {1}
    logs = {}
    callback.on_epoch_end(1, logs)
    assert logs == {"interleave_weight_0": 0.0, "interleave_weight_1": 1.0}
    clone = InterleaveScheduleCallback.from_config(callback.get_config())
    assert isinstance(clone.schedule, LinearSchedule) and clone.schedule.duration == 2


def test_step_schedule_under_fit_is_reproducible():
    # The plan, not prefetch timing, fixes which rows each step trains on: two fits from
    # the same seeds end with the same model.
    def fit():
        keras.utils.set_random_seed(0)
        schedule = LinearSchedule("natural", "balanced", duration=12, unit="step")
        ds = interleave_by_class(_streams([96, 16]), schedule, seed=3, batch_size=8).map(
            lambda x, y: (tf.cast(x[:, None], tf.float32) / 1000.0, y)
        ).prefetch(8)
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        history = model.fit(ds, epochs=2, verbose=0, shuffle=False,
                            callbacks=[InterleaveScheduleCallback(schedule)])
        return model.get_weights(), history.history["interleave_weight_1"]

    (first, logged), (second, _) = fit(), fit()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    # Logged at each epoch's end: the weights of its last step (13 steps an epoch).
    np.testing.assert_allclose(logged, [0.5, 0.5])


def test_schedule_update_takes_effect_within_one_batch():
    # A hand-set schedule reaches the next batch the merge draws, mid-epoch too.
    schedule = LinearSchedule([1.0, 0.0], [0.0, 1.0], duration=2)
    ds = interleave_by_class(_streams([500, 500]), schedule, seed=0, batch_size=50)
    iterator = iter(ds)
    assert [int(next(iterator)[1].numpy().sum()) for _ in range(3)] == [0, 0, 0]
    schedule.update(2)
    assert [int(next(iterator)[1].numpy().sum()) for _ in range(3)] == [50, 50, 50]


def test_step_schedule_without_an_epoch_start_follows_each_step():
    # Driven step by step without on_epoch_begin (a hand-written loop), every batch follows
    # the step set before it.
    schedule = LinearSchedule([1.0, 0.0], [0.0, 1.0], duration=2, unit="step")
    ds = interleave_by_class(_streams([500, 500]), schedule, seed=0, batch_size=400)
    callback = InterleaveScheduleCallback(schedule)
    callback.on_train_begin()
    iterator = iter(ds)
    seen = []
    for step in range(3):
        callback.on_train_batch_begin(step)
        seen.append(int(next(iterator)[1].numpy().sum()))
    assert seen[0] == 0 and seen[2] == 200  # step 2: the last batch has 200 rows, all class 1
    assert_count(seen[1], 400, 0.5)


def test_step_schedule_maps_pipeline_batches_onto_fit_steps():
    # Row output batched by the user into 4 steps per 1024-row pipeline batch: a pipeline
    # batch takes the weights of the step that trains its first row (steps 0 and 4 here).
    ds, _ = _planned_step_schedule(4, 8, [2048, 2048], epoch_rows=2048)
    labels = _batched_labels(ds.batch(1024))
    assert set(labels[:1024].tolist()) == {0} and set(labels[1024:].tolist()) == {1}


def test_step_schedule_of_an_endless_epoch_updates_per_batch():
    # No epoch length: the buffered merge reads the weights each batch, set before each step.
    schedule = LinearSchedule([1.0, 0.0], [0.0, 1.0], duration=4, unit="step")
    streams = [ds.repeat() for ds in _streams([4, 4])]
    ds = interleave_by_class(streams, schedule, seed=0, batch_size=512)
    callback = InterleaveScheduleCallback(schedule)
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    iterator = iter(ds)
    seen = []
    for step in range(5):
        callback.on_train_batch_begin(step)
        seen.append(int(next(iterator)[1].numpy().sum()))
    assert seen[0] == 0 and seen[4] == 512
    assert_count(seen[2], 512, 0.5)


# ---- exact batches -------------------------------------------------------------------


def test_balanced_batches_exact_and_shuffled():
    ds = balanced_batches(_streams([90, 7, 20]), {0: 5, 1: 3, 2: 2}, seed=4, steps_per_epoch=40)
    first_positions = []
    for _, y in ds.as_numpy_iterator():
        assert np.bincount(y, minlength=3).tolist() == [5, 3, 2]
        first_positions.append(int(np.flatnonzero(y == 1)[0]))
    # The minority rows are not always at the same place in the batch.
    assert len(set(first_positions)) > 1
    default = balanced_batches(_streams([90, 10]), 4)
    assert int(default.cardinality()) == 13  # ceil(100 / 8)


def test_balanced_batches_covers_minority_in_order():
    ds = balanced_batches(_streams([90, 3]), 2, seed=0, steps_per_epoch=6)
    per_batch = [sorted(int(v) for v in x[y == 1]) for x, y in ds.as_numpy_iterator()]
    # The 3-row stream is read in order and repeated; the batch shuffle only permutes.
    assert per_batch == [sorted(1000 + (2 * i + j) % 3 for j in range(2)) for i in range(6)]


# ---- determinism, graph, checkpoints -------------------------------------------------


def _take(ds, n):
    return [int(x) for x, _ in ds.take(n).as_numpy_iterator()]


def test_deterministic_under_seed_and_new_draws_each_epoch():
    a = interleave_by_class(_streams([50, 10]), seed=7, epoch_rows=200)
    b = interleave_by_class(_streams([50, 10]), seed=7, epoch_rows=200)
    assert _take(a, 200) == _take(b, 200)
    # Re-iterating the same dataset (a new epoch) draws afresh.
    assert [int(x) for x, _ in a] != [int(x) for x, _ in a]
    c = interleave_by_class(_streams([50, 10]), seed=8, epoch_rows=200)
    assert _take(c, 200) != _take(b, 200)
    x = balanced_batches(_streams([50, 10]), 3, seed=1, steps_per_epoch=5)
    y = balanced_batches(_streams([50, 10]), 3, seed=1, steps_per_epoch=5)
    assert [b[0].tolist() for b in x.as_numpy_iterator()] == [
        b[0].tolist() for b in y.as_numpy_iterator()
    ]


@pytest.mark.parametrize("kind", ["fixed", "variable", "schedule"])
def test_checkpoint_restore_mid_iteration(tmp_path, kind):
    weights = {
        "fixed": [0.3, 0.7],
        "variable": tf.Variable([0.3, 0.7]),
        "schedule": LinearSchedule([0.3, 0.7], [0.9, 0.1], duration=2, unit="step"),
    }[kind]
    ds = interleave_by_class(_streams([50, 10]), weights, seed=11, epoch_rows=300)
    if kind == "schedule":
        callback = InterleaveScheduleCallback(weights)
        callback.set_params({"steps": 1})
        callback.on_epoch_begin(0)
    it = iter(ds)
    for _ in range(40):
        next(it)
    ckpt = tf.train.Checkpoint(iterator=it)
    path = ckpt.save(str(tmp_path / "ckpt"))
    expected = [int(next(it)[0]) for _ in range(100)]
    ckpt.restore(path)
    assert [int(next(it)[0]) for _ in range(100)] == expected

    bb = balanced_batches(_streams([50, 10]), 3, seed=1, steps_per_epoch=30)
    it = iter(bb)
    next(it)
    ckpt = tf.train.Checkpoint(iterator=it)
    path = ckpt.save(str(tmp_path / "bb"))
    expected = [next(it)[0].numpy().tolist() for _ in range(5)]
    ckpt.restore(path)
    assert [next(it)[0].numpy().tolist() for _ in range(5)] == expected


def test_traces_in_tf_function_and_uses_no_py_function():
    ds = interleave_by_class(_streams([20, 5]), tf.Variable([1.0, 1.0]), seed=0, epoch_rows=50)

    @tf.function
    def total(dataset):
        n = tf.constant(0, tf.int64)
        for _element in dataset:
            n += 1
        return n

    assert int(total(ds)) == 50
    serialized = ds._as_serialized_graph().numpy()
    assert b"PyFunc" not in serialized and b"EagerPyFunc" not in serialized
    serialized = balanced_batches(_streams([9, 9]), 2)._as_serialized_graph().numpy()
    assert b"PyFunc" not in serialized


# ---- bad input -----------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_empty_stream_with_weight_raises_quickly():
    empty_unknown = _streams([5])[0].filter(lambda x, y: x < 0)
    streams = [_streams([5])[0], empty_unknown]
    with pytest.raises(ValueError, match=r"streams of classes \[1\] are empty"):
        interleave_by_class(streams, seed=0)
    with pytest.raises(ValueError, match=r"streams of classes \[1\] are empty"):
        balanced_batches(streams, 2)
    # Weight 0 on the empty stream is fine.
    ds = interleave_by_class(streams, [1.0, 0.0], seed=0, epoch_rows=10)
    assert set(_labels(ds).tolist()) == {0}


@pytest.mark.parametrize(
    "weights, error, match",
    [
        ([1.0, -1.0], ValueError, "non-negative"),
        ([0.0, 0.0], ValueError, "at least one weight must be positive"),
        ([1.0, 1.0, 1.0], ValueError, "expected 2 values"),
        ([float("nan"), 1.0], ValueError, "finite"),
        ({0: 1.0, 3: 1.0}, ValueError, r"classes \[3\] have a weight but no stream"),
        ("uniform", ValueError, "expected 'balanced', 'natural'"),
        (3.0, TypeError, "Invalid `weights`"),
        (tf.Variable([1.0, 1.0, 1.0]), ValueError, "float vector of length 2"),
        (tf.Variable([-1.0, 1.0]), ValueError, "non-negative"),
    ],
)
def test_bad_weights(weights, error, match):
    with pytest.raises(error, match=match):
        interleave_by_class(_streams([5, 5]), weights)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: LinearSchedule(duration=2.0), r"`duration`: expected a positive int\. "),
        (lambda: ExponentialSchedule(rate="0.5"), r"`rate`: expected a finite number in \(0, 1\)"),
        (lambda: InterleaveScheduleCallback(LinearSchedule(duration=2), initial_step=1.5),
         r"`initial_step`: expected an int >= 0\. Received: initial_step=1.5"),
        (lambda: interleave_by_class(_streams([5, 5]), epoch_rows=2.5),
         r"`epoch_rows`: expected a positive int or None\. Received: epoch_rows=2.5"),
        (lambda: balanced_batches(_streams([5, 5]), 2, steps_per_epoch="3"),
         r"`steps_per_epoch`: expected a positive int\. Received: steps_per_epoch='3'"),
    ],
)
def test_wrong_types_are_type_errors(make, match):
    # These were ValueErrors before the shared checks: a wrong type is a TypeError.
    with pytest.raises(TypeError, match=match):
        make()


def test_bad_arguments():
    with pytest.raises(ValueError, match="'natural' needs the class counts"):
        interleave_by_class([tf.data.Dataset.range(3).repeat()] * 2, "natural")
    with pytest.raises(TypeError, match="Invalid `datasets`"):
        interleave_by_class(tf.data.Dataset.range(3))
    with pytest.raises(ValueError, match="Invalid `datasets`: no class streams"):
        interleave_by_class([])
    with pytest.raises(ValueError, match=r"class ids \(dict keys\) .*Received: class id -1"):
        interleave_by_class({-1: tf.data.Dataset.range(3)})
    with pytest.raises(TypeError, match=r"class ids \(dict keys\) .*Received: class id '0'"):
        interleave_by_class({"0": tf.data.Dataset.range(3)})  # a wrong type (was ValueError)
    with pytest.raises(ValueError, match="Invalid `steps_per_epoch`: it needs `batch_size`"):
        interleave_by_class(_streams([5, 5]), steps_per_epoch=3)
    with pytest.raises(ValueError, match="Invalid `epoch_rows`"):
        interleave_by_class(_streams([5, 5]), epoch_rows=0)
    with pytest.raises(TypeError, match="Invalid `seed`"):
        interleave_by_class(_streams([5, 5]), seed="x")
    with pytest.raises(ValueError, match=r"classes \[1\] have a weight but no stream"):
        interleave_by_class({0: _streams([5])[0], 2: _streams([5])[0]}, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"classes \[5\] have rows but no stream"):
        balanced_batches(_streams([5, 5]), {0: 1, 5: 1})
    with pytest.raises(ValueError, match="Invalid `rows_per_class`"):
        balanced_batches(_streams([5, 5]), 0)
    with pytest.raises(ValueError, match="Invalid `rows_per_class`"):
        balanced_batches(_streams([5, 5]), [1.5, 1])
    with pytest.raises(ValueError, match="Invalid `duration`"):
        LinearSchedule(duration=0)
    with pytest.raises(TypeError, match="Invalid `t`: expected a finite number >= 0"):
        LinearSchedule(duration=2).weights("1", counts=[1, 1])
    with pytest.raises(ValueError, match=r"Invalid `t`: expected a finite number >= 0\. Rec"):
        LinearSchedule(duration=2).weights(-1, counts=[1, 1])
    with pytest.raises(ValueError, match="Invalid `rate`"):
        ExponentialSchedule(rate=1.0)
    with pytest.raises(ValueError, match="Invalid `unit`"):
        LinearSchedule(duration=2, unit="batch")
    with pytest.raises(ValueError, match="Invalid `start`"):
        LinearSchedule("uniform", duration=2)
    with pytest.raises(TypeError, match="Invalid `schedule`"):
        InterleaveScheduleCallback([0.5, 0.5])
    with pytest.raises(ValueError, match="drives no pipeline"):
        InterleaveScheduleCallback(LinearSchedule(duration=2)).on_epoch_begin(0)
    with pytest.raises(ValueError, match=r"Invalid `classes\[1\]`: expected an int >= 0\. Rec"):
        class_datasets(tf.data.Dataset.from_tensor_slices(([1.0], [0])), classes=[0, -1])
    # A class id of the wrong type is a TypeError (it was a ValueError).
    with pytest.raises(TypeError, match=r"Invalid `classes\[0\]`: .*Received: classes\[0\]='0'"):
        class_datasets(tf.data.Dataset.from_tensor_slices(([1.0], [0])), classes=["0"])
    with pytest.raises(TypeError, match="Invalid `source`"):
        class_datasets(42)


def test_public_names_exported():
    for name in ["interleave_by_class", "balanced_batches", "class_datasets", "split_by_class"]:
        assert name in tfbalance.__all__
    assert_proportion(0.5, 0.5, 10)


@pytest.mark.timeout(60)
def test_schedule_with_empty_stream_raises_and_binds_nothing():
    schedule = LinearSchedule("balanced", [1.0, 0.0], duration=3)
    streams = [_streams([5])[0], _streams([5])[0].filter(lambda x, y: x < 0)]
    with pytest.raises(ValueError, match=r"streams of classes \[1\] are empty"):
        interleave_by_class(streams, schedule, seed=0)
    assert schedule._bindings == []
    # A class the schedule only reaches at its end is refused as early.
    with pytest.raises(ValueError, match=r"streams of classes \[1\] are empty"):
        interleave_by_class(streams, LinearSchedule([1.0, 0.0], "balanced", duration=3))
    with pytest.raises(ValueError, match="'natural' needs the class counts"):
        interleave_by_class([tf.data.Dataset.range(3).repeat()] * 2, LinearSchedule(duration=2))


# ---- batched merge: block streams, batch output --------------------------------------


def _blocks(sizes, block, offset=1000):
    # The same rows as _streams, as ClassDatasets of blocks of `block` rows (last shorter).
    streams = {c: ds.batch(block) for c, ds in enumerate(_streams(sizes, offset))}
    return ClassDatasets(streams, counts=sizes, block_size=block)


def _batches(ds):
    return [(x.tolist(), y.tolist()) for x, y in ds.as_numpy_iterator()]


def test_batch_output_sizes_cardinality_and_static_shape():
    ds = interleave_by_class(_streams([70, 30]), seed=0, batch_size=32)
    assert int(ds.cardinality()) == 4
    assert [len(y) for _, y in _batches(ds)] == [32, 32, 32, 4]
    exact = interleave_by_class(_streams([70, 30]), seed=0, batch_size=8, steps_per_epoch=3)
    assert exact.element_spec[0].shape.as_list() == [8]
    assert int(exact.cardinality()) == 3


def _rows_and_blocks():
    """The same merge from row streams and from blocks of 7 (the last short, rebatched)."""
    rows = interleave_by_class(
        ClassDatasets(dict(enumerate(_streams([40, 9]))), counts=[40, 9]),
        [0.3, 0.7], seed=4, batch_size=16, epoch_rows=300,
    )
    blocks = interleave_by_class(_blocks([40, 9], 7), [0.3, 0.7], seed=4, batch_size=16,
                                 epoch_rows=300)
    return rows, blocks


def test_block_streams_give_the_rows_of_row_streams():
    # The output depends on the draws and the streams' order only, not on how the rows
    # were fetched: blocks of 7 (last short, rebatched) and rows batched by 1024 agree.
    rows, blocks = _rows_and_blocks()
    assert _batches(blocks) == _batches(rows)
    exact_rows = balanced_batches(_streams([40, 9]), {0: 5, 1: 3}, seed=2, steps_per_epoch=9)
    exact_blocks = balanced_batches(_blocks([40, 9], 7), {0: 5, 1: 3}, seed=2,
                                    steps_per_epoch=9)
    assert _batches(exact_blocks) == _batches(exact_rows)


def test_batch_output_reads_every_stream_in_order_without_skipping():
    ds = interleave_by_class(_blocks([50, 3], 4), "balanced", seed=1, batch_size=64,
                             epoch_rows=640)
    x = np.concatenate([b[0] for b in ds.as_numpy_iterator()])
    for c, n in ((0, 50), (1, 3)):
        got = x[(x >= 1000 * c) & (x < 1000 * c + 1000)] - 1000 * c
        assert got.tolist() == [i % n for i in range(len(got))]


def test_batch_output_rows_are_independent_draws():
    # Per-row i.i.d. classes: each batch's class-1 count is Binomial(64, 0.25), positions
    # are exchangeable (class 1 as often first as last), consecutive rows agree with
    # probability 0.625.
    ds = interleave_by_class(_streams([50, 50]), [1.0, 3.0], seed=9, batch_size=64,
                             epoch_rows=64 * 200)
    labels = np.stack([y for _, y in ds.as_numpy_iterator()])
    per_batch = labels.sum(axis=1)
    assert_count(int(np.sum(per_batch > 48)), 200, _binomial_tail(64, 0.75, 48))
    assert_count(int(labels[:, 0].sum()), 200, 0.75)
    assert_count(int(labels[:, -1].sum()), 200, 0.75)
    flat = labels.reshape(-1)
    assert_count(int(np.sum(flat[1:] == flat[:-1])), flat.size - 1, 0.25**2 + 0.75**2)


def _binomial_tail(n, p, k):
    # P(X > k) for X ~ Binomial(n, p), exactly.
    from math import comb

    return sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1, n + 1))


def test_batch_output_variable_takes_effect_at_the_next_batch():
    weights = tf.Variable([1.0, 0.0])
    ds = interleave_by_class(_blocks([50, 50], 8), weights, seed=2, batch_size=500,
                             epoch_rows=4000)
    it = iter(ds)
    assert set(next(it)[1].numpy().tolist()) == {0}
    weights.assign([0.2, 0.8])
    second = next(it)[1].numpy()
    assert_count(int(np.sum(second == 1)), second.size, 0.8)


def test_unseeded_merge_is_consistent_and_follows_weights():
    # Without a seed the plan and the merge still share one; long epochs fetch many blocks.
    ds = interleave_by_class(_streams([5000, 1000]), [0.5, 0.5], batch_size=64,
                             epoch_rows=20000)
    labels = _batched_labels(ds)
    assert labels.size == 20000
    assert_count(int(labels.sum()), labels.size, 0.5)


def test_batch_output_checkpoint_restore_mid_epoch(tmp_path):
    ds = interleave_by_class(_blocks([50, 10], 6), [0.3, 0.7], seed=11, batch_size=16,
                             epoch_rows=300)
    it = iter(ds)
    for _ in range(5):
        next(it)
    ckpt = tf.train.Checkpoint(iterator=it)
    path = ckpt.save(str(tmp_path / "ckpt"))
    expected = [next(it)[0].numpy().tolist() for _ in range(8)]
    ckpt.restore(path)
    assert [next(it)[0].numpy().tolist() for _ in range(8)] == expected


def test_merge_reads_at_most_a_block_beyond_what_it_delivers():
    # Memory and I/O are bounded by the buffers: every class stream is read in blocks of
    # FETCH_BLOCK_ROWS only as its rows are needed.
    from tfbalance._interleave import FETCH_BLOCK_ROWS

    read = tf.Variable([0, 0], dtype=tf.int64)

    def counted(c):
        def count(x, y):
            with tf.control_dependencies([read.scatter_nd_add([[c]], [1])]):
                return tf.identity(x), y

        return _streams([5000, 5000])[c].map(count)

    ds = interleave_by_class([counted(0), counted(1)], [0.9, 0.1], seed=0, batch_size=100,
                             epoch_rows=3000)
    labels = _batched_labels(ds)
    delivered = np.bincount(labels, minlength=2)
    assert np.all(read.numpy() >= delivered)
    assert np.all(read.numpy() <= delivered + FETCH_BLOCK_ROWS)


@pytest.mark.timeout(60)
def test_block_streams_without_rows_raise_not_hang():
    streams = _blocks([5, 5], 2)
    streams[1] = streams[1].map(lambda x, y: (x[:0], y[:0]))  # blocks of 0 rows
    with pytest.raises(ValueError, match=r"streams of classes \[1\] are empty"):
        interleave_by_class(streams, seed=0, batch_size=4)
    with pytest.raises(ValueError, match=r"streams of classes \[1\] are empty"):
        balanced_batches(streams, 2)
    streams[1] = streams[1].repeat()  # endless, and still no row
    with pytest.raises(ValueError, match=r"streams of classes \[1\] are empty"):
        interleave_by_class(streams, seed=0, batch_size=4)


def test_batched_merge_bad_streams():
    with pytest.raises(ValueError, match="Invalid `datasets`: every class stream must yield"):
        interleave_by_class([_streams([5])[0], tf.data.Dataset.range(5)])
    ragged = tf.data.Dataset.from_tensor_slices(
        (tf.ragged.constant([[1], [2, 3]]), [0, 0])
    )
    with pytest.raises(TypeError, match="Invalid `datasets`: the batched merge gathers"):
        interleave_by_class([ragged, ragged])
    unknown = _streams([5])[0].map(lambda x, y: (tf.fill([x % 2 + 1], x), y))
    with pytest.raises(ValueError, match="needs a fixed shape"):
        interleave_by_class([unknown, unknown], epoch_rows=4)
    streams = _blocks([5, 5], 2)
    streams.block_size = 0
    with pytest.raises(ValueError, match=r"Invalid `datasets.block_size`: expected a positive int"):
        interleave_by_class(streams)
    streams.block_size = 2.0
    with pytest.raises(TypeError, match=r"Invalid `datasets.block_size`: .*block_size=2.0"):
        interleave_by_class(streams)
    with pytest.raises(ValueError, match="Invalid `batch_size`"):
        interleave_by_class(_streams([5, 5]), batch_size=0)


def test_long_epochs_take_the_buffered_merge_with_the_same_guarantees(monkeypatch, tmp_path):
    # Epochs of more than PLANNED_CELLS batches times classes are merged by the ring-buffer
    # scan, whose memory does not grow with the epoch; force it and check what the planned
    # path gives.
    import tfbalance._interleave as interleave

    monkeypatch.setattr(interleave, "PLANNED_CELLS", 0)
    ds = interleave_by_class(_blocks([50, 3], 4), [0.25, 0.75], seed=1, batch_size=64,
                             epoch_rows=64 * 60)
    assert int(ds.cardinality()) == 60
    x = np.concatenate([b[0] for b in ds.as_numpy_iterator()])
    assert x.size == 64 * 60
    assert_count(int(np.sum(x >= 1000)), x.size, 0.75)
    for c, n in ((0, 50), (1, 3)):
        got = x[(x >= 1000 * c) & (x < 1000 * c + 1000)] - 1000 * c
        assert got.tolist() == [i % n for i in range(len(got))]
    rows, blocks = _rows_and_blocks()
    assert _batches(blocks) == _batches(rows)
    it = iter(blocks)
    next(it)
    ckpt = tf.train.Checkpoint(iterator=it)
    path = ckpt.save(str(tmp_path / "ckpt"))
    expected = [next(it)[0].numpy().tolist() for _ in range(5)]
    ckpt.restore(path)
    assert [next(it)[0].numpy().tolist() for _ in range(5)] == expected
