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


def test_every_metric_has_one_home_at_the_top_level():
    import keras

    metric_classes = [getattr(tfbalance.metrics, name) for name in tfbalance.metrics.__all__]
    assert all(issubclass(cls, keras.metrics.Metric) for cls in metric_classes)
    for name in tfbalance.metrics.__all__:
        assert getattr(tfbalance, name) is getattr(tfbalance.metrics, name), name
        assert name in tfbalance.__all__, name


def start_in_background(tmp_path_factory, launch):
    """The fresh-process import check, started at session start (see tests/conftest.py)."""
    import os
    import sys

    # `import tfbalance; tfbalance.datasets.<fn>` works as the README shows, in a fresh
    # process, and the optional TFDS builder (tensorflow-datasets) stays unloaded.
    code = (
        "import sys, tfbalance; "
        "print(tfbalance.datasets.insurance_positive_count(1000), "
        "'tensorflow_datasets' in sys.modules)"
    )
    runs = {"import": launch([sys.executable, "-c", code], env=dict(os.environ),
                             cwd=os.getcwd(), timeout=240)}
    # A saved model holding tfbalance objects loads after `import tfbalance` alone, in a
    # fresh process (nothing else imported the modules that register them).
    import keras

    model = keras.Sequential([keras.Input((1,)), tfbalance.DecisionThreshold(0.25)])
    model.compile(metrics=[tfbalance.F1Score(threshold=0.5)], loss="mse")
    path = str(tmp_path_factory.mktemp("bare_import") / "model.keras")
    model.save(path)
    code = (
        "import keras, tfbalance; "
        f"m = keras.models.load_model({path!r}); "
        "print(type(m.layers[-1]).__name__, float(m.layers[-1].threshold))"
    )
    runs["load"] = launch([sys.executable, "-c", code], env=dict(os.environ), cwd=os.getcwd(),
                          timeout=240)
    return runs


def test_datasets_is_loaded_by_the_package_without_tensorflow_datasets(background):
    out = background[__name__]["import"].result()
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == [str(tfbalance.datasets.insurance_positive_count(1000)),
                                       "False"]


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
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.dump(n.test)
    )
    imported = {}
    for node in block.body:
        for alias in node.names:
            imported[alias.name] = (
                f"tfbalance.{alias.name}" if node.module == "tfbalance" else node.module
            )
    assert imported == tfbalance._EXPORTS
    submodules = {n for n, m in tfbalance._EXPORTS.items() if m == f"tfbalance.{n}"}
    assert submodules == {"datasets", "metrics"}
    assert sorted(tfbalance.__all__) == sorted({*tfbalance._EXPORTS, "__version__"} - submodules)
    for name, module in tfbalance._EXPORTS.items():
        value = getattr(tfbalance, name)
        home = getattr(value, "__module__", getattr(value, "__name__", None))
        # A name may live in a private module of the package the table names.
        assert home == module or home.startswith(module + "."), name


def test_a_bare_import_registers_the_keras_objects_for_loading(background):
    # The child started at session start loads a model saved by this process.
    out = background[__name__]["load"].result()
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["DecisionThreshold", "0.25"]
