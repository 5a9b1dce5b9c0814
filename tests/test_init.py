import tfbalance


def test_all_is_sorted_and_resolves():
    assert tfbalance.__all__ == sorted(tfbalance.__all__)
    for name in tfbalance.__all__:
        assert hasattr(tfbalance, name), name


def test_public_callables_have_docstrings_with_examples():
    for name in tfbalance.__all__:
        obj = getattr(tfbalance, name)
        if callable(obj):
            assert obj.__doc__ and "Examples" in obj.__doc__, name


def test_datasets_all_is_sorted_and_resolves():
    import tfbalance.datasets as datasets

    assert datasets.__all__ == sorted(datasets.__all__)
    for name in datasets.__all__:
        assert hasattr(datasets, name), name


def test_metrics_are_registered_serializable():
    import keras

    for name in ("F1Score", "FBetaScore", "BestF1", "Precision", "Recall"):
        cls = getattr(tfbalance.metrics, name)
        assert keras.saving.get_registered_name(cls) == f"tfbalance>{name}"
