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


def test_lazy_exports_match_the_type_checking_imports():
    # tfbalance/__init__.py lists every public name twice: in the lazy-loading table and in
    # the TYPE_CHECKING imports that type checkers read. They must agree.
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(tfbalance))
    block = next(n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.dump(n.test))
    imported = {}
    for node in block.body:
        for alias in node.names:
            imported[alias.name] = (
                f"tfbalance.{alias.name}" if node.module == "tfbalance" else node.module
            )
    assert imported == tfbalance._EXPORTS
    submodules = {n for n, m in tfbalance._EXPORTS.items() if m == f"tfbalance.{n}"}
    assert submodules == {"metrics"}
    assert sorted(tfbalance.__all__) == sorted({*tfbalance._EXPORTS, "__version__"} - submodules)
    for name, module in tfbalance._EXPORTS.items():
        value = getattr(tfbalance, name)
        assert getattr(value, "__module__", getattr(value, "__name__", None)) == module, name
