"""A synthetic stand-in for the Kaggle "Health Insurance Cross Sell Prediction" data.

The real training file has to be downloaded by hand, so examples, tests and benchmarks use
this generator instead. It writes the same 12 columns in the same text format, with
realistic marginals, realistic dependence between the features, and a ``Response`` label
that depends on the features through a latent logistic model, so models learn something.

How the rows are made
---------------------
Rows are produced in fixed blocks of ``_BLOCK_ROWS`` rows. Each block draws from its own
random stream, derived from the seed and the block's index, so the output depends only on
``(n_rows, n_positive, seed)``: ``chunk_size`` changes memory and speed, never a byte.

The number of ``Response == 1`` rows is exact. The positives are first split over the
blocks with one multivariate hypergeometric draw (the per-block counts K rows chosen
uniformly at random would have). Inside a block, each row gets a latent score
``logit(features) + Logistic(0, 1) noise`` and the rows with the largest scores respond.
Taking the top K of a logistic latent variable is a logistic model whose intercept is set
so that exactly K rows respond.
"""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import numpy as np

from tfbalance._deprecation import check_compression
from tfbalance._validation import check_int, check_positive_int

__all__ = [
    "INSURANCE_COLUMNS",
    "insurance_positive_count",
    "make_insurance_csv",
    "make_insurance_dataframe",
]

#: Column names, in file order.
INSURANCE_COLUMNS = (
    "id",
    "Gender",
    "Age",
    "Driving_License",
    "Region_Code",
    "Previously_Insured",
    "Vehicle_Age",
    "Vehicle_Damage",
    "Annual_Premium",
    "Policy_Sales_Channel",
    "Vintage",
    "Response",
)

_DEFAULT_ROWS = 382_154
_DEFAULT_POSITIVES = 62_601
# The unit of randomness. Changing it changes every generated file, so it is fixed.
_BLOCK_ROWS = 1 << 16
_DEFAULT_CHUNK_ROWS = 1 << 18

_GENDERS = ("Female", "Male")
_VEHICLE_AGES = ("< 1 Year", "1-2 Year", "> 2 Years")
_YES_NO = ("No", "Yes")
_MIN_AGE, _MAX_AGE = 20, 85
_MIN_VINTAGE, _MAX_VINTAGE = 10, 299
_PREMIUM_FLOOR = 2630.0
_PREMIUM_MAX = 540_165.0
_NUM_REGIONS = 53
_NUM_CHANNELS = 163

# Region shares shaped like the real data: one dominant region (28), a few large ones and a
# long tail.
_REGION_WEIGHTS = dict(
    [(28, 0.280), (8, 0.089), (46, 0.052), (41, 0.048), (15, 0.035), (30, 0.032), (29, 0.029)]
    + [(50, 0.027), (3, 0.024), (11, 0.024), (36, 0.023), (33, 0.020), (47, 0.020)]
    + [(35, 0.018), (6, 0.016), (45, 0.015), (37, 0.014), (18, 0.013), (48, 0.012)]
    + [(14, 0.012), (39, 0.012), (10, 0.011), (21, 0.011), (2, 0.011), (13, 0.011)]
    + [(7, 0.009), (12, 0.008), (9, 0.008), (27, 0.008), (32, 0.007), (43, 0.007)]
    + [(17, 0.007), (26, 0.007), (25, 0.007), (24, 0.006), (38, 0.005), (0, 0.005)]
    + [(16, 0.005), (31, 0.005), (23, 0.005), (20, 0.005), (49, 0.005), (4, 0.005)]
    + [(34, 0.004), (19, 0.004), (22, 0.003), (40, 0.003), (5, 0.003), (1, 0.003)]
    + [(44, 0.002), (42, 0.002), (52, 0.0007), (51, 0.0005)]
)
# Sales channels: young customers are mostly reached through channels 152 and 160, older
# ones through 26 and 124, as in the real data; the rest share a thin tail.
_CHANNELS_YOUNG = {152: 0.70, 160: 0.10, 26: 0.05, 124: 0.05, 156: 0.02, 157: 0.02, 122: 0.01}
_CHANNELS_OLDER = {
    26: 0.33, 124: 0.32, 152: 0.08, 156: 0.04, 122: 0.04, 157: 0.03, 154: 0.03,
    151: 0.015, 163: 0.01, 160: 0.01, 13: 0.008, 30: 0.006, 55: 0.005,
}  # fmt: skip
_CHANNEL_TAIL = 0.03


def _normalise(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()


def _region_probabilities() -> np.ndarray:
    weights = np.full(_NUM_REGIONS, 1e-4)
    for region, weight in _REGION_WEIGHTS.items():
        weights[region] = weight
    return _normalise(weights)


def _channel_probabilities(head: dict[int, float]) -> np.ndarray:
    # Index = channel code; code 0 does not exist. The tail decays with the code's rank so a
    # few channels stay rare, as in the real data.
    tail = 1.0 / (1.0 + np.arange(_NUM_CHANNELS + 1) % 37)
    tail[0] = 0.0
    for code in head:
        tail[code] = 0.0
    weights = _CHANNEL_TAIL * _normalise(tail)
    for code, weight in head.items():
        weights[code] = weight
    return _normalise(weights)


def _vehicle_age_table() -> np.ndarray:
    """Cumulative P(vehicle age category | age) for ages 0.._MAX_AGE (rows) over 3 categories."""
    age = np.arange(_MAX_AGE + 1, dtype=np.float64)
    # Young drivers mostly own new cars; from about 30 most cars are 1-2 years old, and
    # old cars become more common with age.
    logit_mid = -2.0 + 3.6 / (1.0 + np.exp(-(age - 27.0) / 2.5))
    logit_old = -5.0 + 4.0 / (1.0 + np.exp(-(age - 30.0) / 4.0)) + 0.02 * (age - 40.0)
    logits = np.stack([np.zeros_like(age), logit_mid, logit_old], axis=1)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return np.cumsum(probs, axis=1)


_REGION_CDF = np.cumsum(_region_probabilities())
_CHANNEL_CDF_YOUNG = np.cumsum(_channel_probabilities(_CHANNELS_YOUNG))
_CHANNEL_CDF_OLDER = np.cumsum(_channel_probabilities(_CHANNELS_OLDER))
_VEHICLE_AGE_CDF = _vehicle_age_table()


def _sample_cdf(cdf: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, uniform, side="right"), len(cdf) - 1)


def _features(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw ``n`` rows of features (categoricals as integer codes) and their latent logit."""
    young = rng.random(n) < 0.40
    age = np.where(
        young,
        _MIN_AGE + np.floor(rng.gamma(2.0, 2.2, n)),
        np.rint(rng.normal(47.0, 12.5, n)),
    )
    age = np.clip(age, _MIN_AGE, _MAX_AGE).astype(np.int64)
    male = (rng.random(n) < np.where(age < 30, 0.47, 0.59)).astype(np.int64)
    # Customers without a licence are mostly elderly.
    licence = (rng.random(n) >= np.where(age < 60, 0.0006, 0.012)).astype(np.int64)

    cdf = _VEHICLE_AGE_CDF[age]
    vehicle_age = (rng.random(n)[:, None] >= cdf[:, :2]).sum(axis=1).astype(np.int64)
    insured = (rng.random(n) < np.array([0.66, 0.33, 0.008])[vehicle_age]).astype(np.int64)
    # Customers who already hold a policy rarely report damage; older cars are damaged more.
    damage_rate = np.where(insured == 1, 0.008, np.array([0.80, 0.95, 0.995])[vehicle_age])
    damage = (rng.random(n) < damage_rate).astype(np.int64)

    region = _sample_cdf(_REGION_CDF, rng.random(n)).astype(np.int64)
    channel_young = rng.random(n) < 1.0 / (1.0 + np.exp((age - 29.0) / 2.5))
    channel_u = rng.random(n)
    channel = np.where(
        channel_young,
        _sample_cdf(_CHANNEL_CDF_YOUNG, channel_u),
        _sample_cdf(_CHANNEL_CDF_OLDER, channel_u),
    ).astype(np.int64)

    # A point mass at the minimum premium (about one row in six), more common outside the
    # big region, and a lognormal body with a Pareto tail above it.
    at_floor = rng.random(n) < np.where(region == 28, 0.06, 0.22)
    body = np.exp(rng.normal(math.log(31_000.0), 0.30, n) + 0.12 * (region == 28))
    tail = rng.random(n) < 0.02
    body = np.where(tail, body * (1.0 + rng.pareto(2.5, n)), body)
    premium = np.where(at_floor, _PREMIUM_FLOOR, np.clip(np.rint(body), 2631.0, _PREMIUM_MAX))
    vintage = rng.integers(_MIN_VINTAGE, _MAX_VINTAGE + 1, n, dtype=np.int64)

    # Interest in a vehicle policy: almost none among the already insured, high after
    # vehicle damage and for older cars, peaking in middle age, low through the channels
    # that reach the young, a little higher in region 28 and for men. Vintage is pure noise.
    logit = (
        -5.0 * insured
        + 2.6 * damage
        + np.array([0.0, 0.7, 1.0])[vehicle_age]
        + 1.0 * np.exp(-(((age - 42.0) / 15.0) ** 2))
        - 0.5 * (age < 26)
        - 0.8 * np.isin(channel, (152, 160))
        + 0.3 * np.isin(channel, (26, 124))
        + 0.35 * (region == 28)
        + 0.12 * male
        - 1.0 * (licence == 0)
        + 0.15 * np.log(premium / 30_000.0)
    )
    return {
        "Gender": male,
        "Age": age,
        "Driving_License": licence,
        "Region_Code": region,
        "Previously_Insured": insured,
        "Vehicle_Age": vehicle_age,
        "Vehicle_Damage": damage,
        "Annual_Premium": premium,
        "Policy_Sales_Channel": channel,
        "Vintage": vintage,
        "_logit": logit,
    }


def insurance_positive_count(n_rows: int) -> int:
    """Number of ``Response == 1`` rows the generator writes by default for ``n_rows`` rows.

    The Kaggle ratio ``62,601 / 382,154`` scaled to ``n_rows`` and rounded (half to even).

    Parameters
    ----------
    n_rows : int
        Number of rows.

    Returns
    -------
    int

    Examples
    --------
    >>> insurance_positive_count(382_154)
    62601
    >>> insurance_positive_count(1_000)
    164
    """
    n_rows = check_positive_int(n_rows, "n_rows")
    return round(Fraction(n_rows * _DEFAULT_POSITIVES, _DEFAULT_ROWS))


def _positive_count(n_positive: Any, n_rows: int) -> int:
    n_positive = check_int(n_positive, "n_positive", minimum=0, maximum=n_rows, allow_none=True)
    return insurance_positive_count(n_rows) if n_positive is None else n_positive


def _check_generator_seed(seed: Any) -> np.random.SeedSequence:
    seed = check_int(seed, "seed", minimum=0, allow_none=True)
    # A fresh entropy draw for seed=None, so one call's blocks still share one stream family.
    return np.random.SeedSequence(seed)


def _blocks(
    n_rows: int, n_positive: int, seed: np.random.SeedSequence
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Yield ``(first_id, columns)`` per block; ``columns`` holds codes, not strings."""
    sizes = np.full(n_rows // _BLOCK_ROWS, _BLOCK_ROWS, dtype=np.int64)
    if n_rows % _BLOCK_ROWS:
        sizes = np.append(sizes, n_rows % _BLOCK_ROWS)
    quota_rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed.entropy, spawn_key=(0,)))
    )
    quotas = quota_rng.multivariate_hypergeometric(sizes, n_positive, method="marginals")
    first_id = 1
    for index, (size, quota) in enumerate(zip(sizes.tolist(), quotas.tolist(), strict=True)):
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(seed.entropy, spawn_key=(1, index)))
        )
        columns = _features(rng, size)
        latent = columns.pop("_logit") + rng.logistic(size=size)
        response = np.zeros(size, dtype=np.int64)
        if quota:
            response[np.argpartition(latent, size - quota)[size - quota :]] = 1
        columns["Response"] = response
        yield first_id, columns
        first_id += size


# --- Text rendering -------------------------------------------------------------------------
# A row is assembled as a fixed-width uint8 matrix in which unused positions hold 0, then the
# zeros are dropped: that is one vectorised pass per chunk instead of one format call per cell.


def _token_table(tokens: list[str]) -> np.ndarray:
    width = max(len(t) for t in tokens)
    table = np.zeros((len(tokens), width), dtype=np.uint8)
    for i, token in enumerate(tokens):
        table[i, : len(token)] = np.frombuffer(token.encode("ascii"), dtype=np.uint8)
    return table


def _float_tokens(count: int) -> list[str]:
    return [f"{float(i)!r}" for i in range(count)]


_TOKENS = {
    "Gender": _token_table(list(_GENDERS)),
    "Age": _token_table([str(i) for i in range(_MAX_AGE + 1)]),
    "Driving_License": _token_table(["0", "1"]),
    "Region_Code": _token_table(_float_tokens(_NUM_REGIONS)),
    "Previously_Insured": _token_table(["0", "1"]),
    "Vehicle_Age": _token_table(list(_VEHICLE_AGES)),
    "Vehicle_Damage": _token_table(list(_YES_NO)),
    "Policy_Sales_Channel": _token_table(_float_tokens(_NUM_CHANNELS + 1)),
    "Vintage": _token_table([str(i) for i in range(_MAX_VINTAGE + 1)]),
    "Response": _token_table(["0", "1"]),
}
_COMMA = np.frombuffer(b",", dtype=np.uint8)
_NEWLINE = np.frombuffer(b"\n", dtype=np.uint8)
_POINT_ZERO = np.frombuffer(b".0", dtype=np.uint8)


def _digits(values: np.ndarray) -> np.ndarray:
    """Decimal digits of non-negative ints as a (n, width) uint8 matrix, leading zeros as 0."""
    width = max(1, len(str(int(values.max())))) if values.size else 1
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    quotients = values[:, None] // powers
    digits = (quotients % 10 + ord("0")).astype(np.uint8)
    digits[:, :-1][quotients[:, :-1] == 0] = 0
    return digits


def _render(first_id: int, columns: dict[str, np.ndarray]) -> bytes:
    n = len(columns["Age"])
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    premium = columns["Annual_Premium"].astype(np.int64)
    parts = []
    for name in INSURANCE_COLUMNS:
        if name == "id":
            parts.append(_digits(ids))
        elif name == "Annual_Premium":
            # Premiums are whole numbers, written like the real file: "40454.0".
            parts.append(_digits(premium))
            parts.append(np.broadcast_to(_POINT_ZERO, (n, 2)))
        else:
            parts.append(_TOKENS[name][columns[name]])
        parts.append(np.broadcast_to(_COMMA if name != "Response" else _NEWLINE, (n, 1)))
    matrix = np.concatenate(parts, axis=1)
    return matrix[matrix != 0].tobytes()


def _header() -> bytes:
    return (",".join(INSURANCE_COLUMNS) + "\n").encode("ascii")


def _check_path(path: Any) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Invalid `path`: expected a str or os.PathLike. Received: path={path!r}")
    return os.fspath(path)


def _resolve_compression(compression: Any, path: str) -> str | None:
    compression = check_compression(compression)
    if compression == "auto":
        return "gzip" if path.endswith(".gz") else None
    return compression


def make_insurance_csv(
    path: str | os.PathLike,
    n_rows: int = _DEFAULT_ROWS,
    seed: int | None = 0,
    *,
    n_positive: int | None = None,
    chunk_size: int = _DEFAULT_CHUNK_ROWS,
    compression: str | None = "auto",
) -> str:
    """Write a synthetic "Health Insurance Cross Sell Prediction" CSV file.

    Same columns, order and text format as the Kaggle training file (``id, Gender, Age,
    Driving_License, Region_Code, Previously_Insured, Vehicle_Age, Vehicle_Damage,
    Annual_Premium, Policy_Sales_Channel, Vintage, Response``), with realistic marginals and
    feature dependence. ``Response`` follows a latent logistic model of the features
    (previously insured customers almost never respond; vehicle damage, older vehicles,
    middle age and some sales channels raise the rate), with exactly ``n_positive`` ones.

    Rows are generated and written ``chunk_size`` at a time, so memory stays bounded
    whatever ``n_rows`` is; the file's bytes depend only on ``n_rows``, ``seed`` and
    ``n_positive``, never on ``chunk_size``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file. Overwritten if it exists.
    n_rows : int, default 382154
        Number of data rows (the header is extra).
    seed : int or None, default 0
        Non-negative seed; the same seed gives byte-identical files (with the same NumPy
        version, whose generators define the draws). ``None`` draws fresh entropy.
    n_positive : int, optional
        Exact number of ``Response == 1`` rows. Default: the Kaggle ratio,
        ``insurance_positive_count(n_rows)`` (62,601 of 382,154 rows).
    chunk_size : int, default 262144
        Rows generated per write (rounded up to whole blocks of 65,536 rows). Affects memory
        and speed only.
    compression : {'auto', 'gzip', None}, default 'auto'
        ``'auto'`` compresses with gzip when ``path`` ends with ``.gz`` (as the readers
        decide). Gzip output is reproducible too (no timestamp in the header). The 0.1.0
        spelling ``'infer'`` is accepted until 0.3.0.

    Returns
    -------
    str
        ``path``, ready for ``tfbalance.class_counts`` or ``tf.data``.

    Raises
    ------
    TypeError
        An argument has the wrong type.
    ValueError
        ``n_rows`` < 1, ``n_positive`` outside ``[0, n_rows]``, a negative seed, or an
        unknown compression.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> path = make_insurance_csv(os.path.join(tempfile.mkdtemp(), "train.csv"), 1_000, seed=0)
    >>> frame = pd.read_csv(path)
    >>> list(frame.columns[:4])
    ['id', 'Gender', 'Age', 'Driving_License']
    >>> len(frame), int(frame["Response"].sum())
    (1000, 164)
    """
    path = _check_path(path)
    n_rows = check_positive_int(n_rows, "n_rows")
    n_positive = _positive_count(n_positive, n_rows)
    seed_sequence = _check_generator_seed(seed)
    chunk_blocks = max(1, -(-check_positive_int(chunk_size, "chunk_size") // _BLOCK_ROWS))
    compression = _resolve_compression(compression, path)

    with open(path, "wb") as raw:
        if compression == "gzip":
            # No file name and mtime=0 in the gzip header, so the bytes are reproducible.
            out: Any = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0)
        else:
            out = raw
        try:
            out.write(_header())
            pending: list[bytes] = []
            for i, (first_id, columns) in enumerate(_blocks(n_rows, n_positive, seed_sequence)):
                pending.append(_render(first_id, columns))
                if (i + 1) % chunk_blocks == 0:
                    out.write(b"".join(pending))
                    pending.clear()
            out.write(b"".join(pending))
        finally:
            if out is not raw:
                out.close()
    return path


def make_insurance_dataframe(
    n_rows: int = _DEFAULT_ROWS,
    seed: int | None = 0,
    *,
    n_positive: int | None = None,
):
    """The synthetic insurance data as a pandas DataFrame (for data that fits in memory).

    Identical to ``pandas.read_csv(make_insurance_csv(path, n_rows, seed))``: same values,
    columns and dtypes (int64 for integer columns, float64 for ``Region_Code``,
    ``Annual_Premium`` and ``Policy_Sales_Channel``, strings for the categorical columns).

    Parameters
    ----------
    n_rows : int, default 382154
        Number of rows.
    seed : int or None, default 0
        Non-negative seed; ``None`` draws fresh entropy.
    n_positive : int, optional
        Exact number of ``Response == 1`` rows; default ``insurance_positive_count(n_rows)``.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    TypeError
        An argument has the wrong type.
    ValueError
        ``n_rows`` < 1, ``n_positive`` outside ``[0, n_rows]`` or a negative seed.

    Examples
    --------
    >>> frame = make_insurance_dataframe(2_000, seed=0)
    >>> frame["Response"].value_counts().sort_index().tolist()
    [1672, 328]
    >>> sorted(frame["Vehicle_Age"].unique())
    ['1-2 Year', '< 1 Year', '> 2 Years']
    """
    import pandas as pd

    n_rows = check_positive_int(n_rows, "n_rows")
    n_positive = _positive_count(n_positive, n_rows)
    seed_sequence = _check_generator_seed(seed)
    blocks = list(_blocks(n_rows, n_positive, seed_sequence))
    columns = {name: np.concatenate([b[name] for _, b in blocks]) for name in blocks[0][1]}
    data = {
        "id": np.arange(1, n_rows + 1, dtype=np.int64),
        "Gender": np.array(_GENDERS, dtype=object)[columns["Gender"]],
        "Age": columns["Age"],
        "Driving_License": columns["Driving_License"],
        "Region_Code": columns["Region_Code"].astype(np.float64),
        "Previously_Insured": columns["Previously_Insured"],
        "Vehicle_Age": np.array(_VEHICLE_AGES, dtype=object)[columns["Vehicle_Age"]],
        "Vehicle_Damage": np.array(_YES_NO, dtype=object)[columns["Vehicle_Damage"]],
        "Annual_Premium": columns["Annual_Premium"],
        "Policy_Sales_Channel": columns["Policy_Sales_Channel"].astype(np.float64),
        "Vintage": columns["Vintage"],
        "Response": columns["Response"],
    }
    return pd.DataFrame(data)

