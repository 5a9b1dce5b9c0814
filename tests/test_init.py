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
