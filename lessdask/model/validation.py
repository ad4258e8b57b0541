"""Checks a model file passes before any parser sees its parts: sizes, metadata schema, booster text.

A ``.lessmodel`` file is untrusted input. :mod:`lessdask.model.files` reads it in this order,
and anything out of bounds is a :class:`~lessdask.errors.ModelFileError` naming the file and
the part:

1. :func:`check_members` — the zip's central directory before anything is decompressed:
   member names, count, declared sizes (:data:`MAX_MEMBER_BYTES`, :data:`MAX_TOTAL_BYTES`)
   and compression ratios (:data:`MAX_RATIO`, zip bombs); :func:`read_member` then reads at
   most the cap, whatever the header claims.
2. :func:`check_metadata` — the JSON schema: types, ranges and shapes of every field the
   loader uses (classes and booster counts, temperature > 0, feature settings within
   :data:`FEATURE_BOUNDS`, class arrays and envelopes matching the class and feature counts,
   base-model members present).
3. :func:`safe_booster_text` — each LightGBM booster's text is parsed here, in Python, and
   checked (tree structure, split features below the booster's input width, finite thresholds
   and leaf values, child indices in range and forming a tree), then written out again in a
   canonical form: LightGBM's own parser only ever sees text this module wrote, so a damaged
   or hostile booster cannot abort or crash the process.

The digest in the metadata is checked between 1 and 2 (see :mod:`lessdask.model.files` for
what it does and does not protect against).
"""

from __future__ import annotations

import math
import re
import zipfile
from numbers import Integral, Real

import numpy as np

from lessdask.errors import ModelFileError

#: Largest uncompressed size of each kind of member (bytes).
MAX_MEMBER_BYTES = {"metadata.json": 32 << 20, "mega": 256 << 20, "base": 1 << 30}
#: Largest uncompressed size of all members together (bytes).
MAX_TOTAL_BYTES = 2 << 30
#: Largest uncompressed/compressed ratio of a member over 1 MiB (text and arrays compress 3-10x;
#: a zip bomb 1000x).
MAX_RATIO = 200
#: Most members in a file.
MAX_MEMBERS = 4096
#: Most classes (labels are int8, -1 is "other").
MAX_CLASSES = 126
#: Bounds of the feature settings a model may ask for: (low, high), inclusive.
FEATURE_BOUNDS = {"n_nearest": (1, 64), "padding": (0.5, 3.0), "max_cutoff": (1.0, 20.0)}
#: Bounds of the estimator parameters that matter for inference.
TEMPERATURE_BOUNDS = (1e-4, 1e4)
MAX_PREDICTION_THREADS = 1024
#: Most trees per booster, leaves per tree (LightGBM's own limit) and tree depth.
MAX_TREES = 100_000
MAX_LEAVES = 131_072
MAX_DEPTH = 1024
# |leaf value| and |shrinkage| bound for a LightGBM classifier (the shipped model's largest leaf is 0.6)
MAX_LEAF_VALUE = 1e6

_MEMBER = re.compile(r"^(metadata\.json|base/(\d+)\.skops|mega/(\d+)\.txt)$")
_PARAMS = {"preset", "n_folds", "temperature", "output", "random_state", "n_jobs", "prediction_threads",
           "envelope_quantile"}
_FEATURE_KEYS = {"n_nearest", "padding", "l_values", "max_cutoff", "average"}
_CLASS_NAME = re.compile(r"^[A-Za-z0-9_.+\-()\[\]]{1,64}$")


def _kind(name: str) -> str:
    return "metadata.json" if name == "metadata.json" else name.split("/", 1)[0]


# --------------------------------------------------------------------------- the archive


def check_members(zf: zipfile.ZipFile, where) -> list[zipfile.ZipInfo]:
    """The members of a model archive, checked from its central directory (nothing decompressed).

    Raises
    ------
    ModelFileError
        Unexpected or duplicate names, too many members, a member or the whole over its size
        cap, or a compression ratio only a zip bomb has.
    """
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(f"{where} is not a lessdask model file ({len(infos)} members)")
    names = [i.filename for i in infos]
    bad = [n for n in names if not _MEMBER.match(n)]
    if bad or "metadata.json" not in names:
        raise ModelFileError(f"{where} is not a lessdask model file (unexpected members {bad[:5]})")
    if len(set(names)) != len(names):
        raise ModelFileError(f"{where} is damaged: it has duplicate members")
    total = 0
    for info in infos:
        cap = MAX_MEMBER_BYTES[_kind(info.filename)]
        if info.file_size > cap:
            raise ModelFileError(
                f"{where}: member {info.filename} declares {info.file_size} bytes, over the {cap >> 20} MiB "
                "lessdask accepts; refusing to read it"
            )
        if info.file_size > 1 << 20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ModelFileError(
                f"{where}: member {info.filename} expands {info.file_size / max(info.compress_size, 1):.0f}-fold "
                "(a zip bomb, not a model); refusing to read it"
            )
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        raise ModelFileError(f"{where}: members total {total} bytes, over the {MAX_TOTAL_BYTES >> 20} MiB accepted")
    return infos


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where) -> bytes:
    """A member's bytes, reading at most its cap (whatever its header says)."""
    cap = MAX_MEMBER_BYTES[_kind(info.filename)]
    with zf.open(info) as f:
        data = f.read(cap + 1)
    if len(data) > cap or len(data) != info.file_size:
        raise ModelFileError(f"{where}: member {info.filename} is not the size its header declares; refusing it")
    return data


# --------------------------------------------------------------------------- the metadata


def _fail(where, message):
    raise ModelFileError(f"{where}: invalid model metadata: {message}")


def _int(where, name, value, low=None, high=None) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        _fail(where, f"{name} must be an integer, got {type(value).__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        _fail(where, f"{name} = {value} is outside [{low}, {high}]")
    return int(value)


def _real(where, name, value, low=None, high=None) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        _fail(where, f"{name} must be a finite number, got {value!r:.40}")
    if (low is not None and value < low) or (high is not None and value > high):
        _fail(where, f"{name} = {value} is outside [{low}, {high}]")
    return float(value)


def _array(where, name, value, shape, nan_ok=False, nonneg=False, integer=False) -> np.ndarray:
    """A numeric array of exactly ``shape`` (``None`` entries of shape: any size >= 1)."""
    if not isinstance(value, list):
        _fail(where, f"{name} must be a list, got {type(value).__name__}")
    try:
        a = np.array([_numbers(v, nan_ok) for v in value] if nan_ok else value)
    except (ValueError, TypeError):
        _fail(where, f"{name} is not a regular numeric array")
    if a.dtype.kind not in "iuf" or a.dtype.kind == "b":
        _fail(where, f"{name} must hold numbers")
    if a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape)) or 0 in a.shape:
        _fail(where, f"{name} has shape {a.shape}, expected {tuple('any' if s is None else s for s in shape)}")
    a = a.astype(np.float64)
    finite = np.isfinite(a)
    allowed = finite | np.isnan(a) if nan_ok else finite
    if not allowed.all():
        _fail(where, f"{name} holds non-finite values")
    if nonneg and (a[finite] < 0).any():
        _fail(where, f"{name} holds negative values")
    if integer and (a != np.round(a)).any():
        _fail(where, f"{name} must hold integers")
    return a


def _numbers(v, nan_ok):
    """Nested lists with None (a NaN of JSON) replaced by NaN."""
    if isinstance(v, list):
        return [_numbers(x, nan_ok) for x in v]
    return math.nan if v is None else v


def check_metadata(meta, member_names, where) -> dict:
    """Check the metadata of a model file against the schema of format version 1.

    Parameters
    ----------
    meta : object
        The parsed ``metadata.json``.
    member_names : iterable of str
        Names of the other members of the archive.
    where : str or Path
        The file, for messages.

    Returns
    -------
    dict
        ``{"n_classes", "n_features", "booster_width"}``: what the boosters are checked against.

    Raises
    ------
    ModelFileError
        Naming the first field that is missing, of the wrong type, out of range or inconsistent.
    """
    if not isinstance(meta, dict):
        _fail(where, "not a JSON object")
    required = ("classes", "mega_models", "params", "feature_settings", "n_features_in", "base_models", "spec")
    absent = [k for k in required if k not in meta]
    if absent:
        _fail(where, f"missing {absent}")
    classes = meta["classes"]
    if not isinstance(classes, list) or not 2 <= len(classes) <= MAX_CLASSES:
        _fail(where, f"classes must be a list of 2 to {MAX_CLASSES} names")
    for c in classes:
        if not isinstance(c, str) or not _CLASS_NAME.match(c) or c == "other":
            _fail(where, f"class name {c!r:.70} is not a name (letters, digits, _.+-()[], at most 64, not 'other')")
    if len(set(classes)) != len(classes):
        _fail(where, "class names repeat")
    m = len(classes)
    if _int(where, "mega_models", meta["mega_models"], 0) != m:
        _fail(where, f"{meta['mega_models']} boosters for {m} classes (one per class is needed)")
    boosters = sorted(n for n in member_names if n.startswith("mega/"))
    if boosters != sorted(f"mega/{c}.txt" for c in range(m)):
        _fail(where, f"booster members {boosters[:5]} do not match the {m} classes")

    params = meta["params"]
    if not isinstance(params, dict) or set(params) - _PARAMS:
        _fail(where, f"params must be a dict of {sorted(_PARAMS)}")
    if "temperature" in params:
        _real(where, "params.temperature", params["temperature"], *TEMPERATURE_BOUNDS)
    if "n_folds" in params:
        _int(where, "params.n_folds", params["n_folds"], 2, 1000)
    if params.get("output", "softmax") not in ("softmax", "normalized"):
        _fail(where, "params.output must be 'softmax' or 'normalized'")
    if params.get("random_state") is not None:
        _int(where, "params.random_state", params["random_state"], 0, 2**32 - 1)
    if params.get("n_jobs") is not None:
        _int(where, "params.n_jobs", params["n_jobs"], -1024, 1024)
    if "prediction_threads" in params:
        _int(where, "params.prediction_threads", params["prediction_threads"], 1, MAX_PREDICTION_THREADS)
    if params.get("envelope_quantile") is not None:
        q = _real(where, "params.envelope_quantile", params["envelope_quantile"], 0, 1)
        if not 0 < q < 1:
            _fail(where, "params.envelope_quantile must lie strictly between 0 and 1")
    preset = params.get("preset", "fast")
    if not isinstance(preset, (str, dict)) or (isinstance(preset, str) and len(preset) > 4096):
        _fail(where, "params.preset must be a name or a dict")

    fs = meta["feature_settings"]
    if not isinstance(fs, dict) or set(fs) - _FEATURE_KEYS:
        _fail(where, f"feature_settings must be a dict of {sorted(_FEATURE_KEYS)}")
    for key, (low, high) in FEATURE_BOUNDS.items():
        if key in fs:
            (_int if key == "n_nearest" else _real)(where, f"feature_settings.{key}", fs[key], low, high)
    lv = fs.get("l_values", [3, 4, 6, 8, 10, 12])
    if not isinstance(lv, list) or not 1 <= len(lv) <= 16 or len(set(map(str, lv))) != len(lv):
        _fail(where, "feature_settings.l_values must be 1 to 16 distinct orders")
    for v in lv:
        _int(where, "feature_settings.l_values[]", v, 0, 24)
    if not isinstance(fs.get("average", False), bool):
        _fail(where, "feature_settings.average must be true or false")
    # the columns the model reads (the pipeline checks they are the ones its settings compute:
    # check_model_features)
    k = _int(where, "n_features_in", meta["n_features_in"], 1, 4096)
    if "max_species" in meta:
        _int(where, "max_species", meta["max_species"], 1, 16)
    if not isinstance(meta["spec"], dict) or not isinstance(meta.get("extra", {}), dict):
        _fail(where, "spec and extra must be JSON objects")

    for name, shape, kw in (("class_feature_mean", (m, k), {}), ("class_feature_std", (m, k), {"nonneg": True}),
                            ("class_count", (m,), {"nonneg": True, "integer": True}),
                            ("class_modes", (m, None, k), {}), ("class_mode_std", (m, None, k), {"nonneg": True}),
                            ("class_mode_weight", (m, None), {"nonneg": True})):
        if name not in meta:
            _fail(where, f"missing {name}")
        _array(where, name, meta[name], shape, **kw)
    centres, radius = meta.get("envelope_centres"), meta.get("envelope_radius")
    if (centres is None) != (radius is None):
        _fail(where, "envelope_centres and envelope_radius must both be given or both be null")
    if centres is not None:
        c = _array(where, "envelope_centres", centres, (m, None, k), nan_ok=True)
        rows_nan = np.isnan(c).any(axis=2)
        if (rows_nan & ~np.isnan(c).all(axis=2)).any():
            _fail(where, "an envelope centre is partly missing")
        if rows_nan.all(axis=1).any():
            _fail(where, f"class {classes[int(np.flatnonzero(rows_nan.all(axis=1))[0])]} has no envelope centre")
        _array(where, "envelope_radius", radius, (m,), nonneg=True)

    base = meta["base_models"]
    if not isinstance(base, list) or len(base) > MAX_MEMBERS:
        _fail(where, "base_models must be a list")
    referenced = []
    width = 0
    for i, item in enumerate(base):
        if not isinstance(item, dict) or not isinstance(item.get("entry"), dict) or "class" not in item:
            _fail(where, f"base_models[{i}] must be an object with entry and class")
        cls = item["class"]
        if cls is not None:
            _int(where, f"base_models[{i}].class", cls, 0, m - 1)
        width += 1 if cls is not None else m
        if "constant" in item:
            _int(where, f"base_models[{i}].constant", item["constant"], 0, 1 if cls is not None else m - 1)
        elif isinstance(item.get("member"), str) and re.fullmatch(r"base/\d+\.skops", item["member"]):
            referenced.append(item["member"])
        else:
            _fail(where, f"base_models[{i}] names neither a constant nor a base/<i>.skops member")
    present = sorted(n for n in member_names if n.startswith("base/"))
    if sorted(referenced) != present:
        _fail(where, f"base-model members {present[:5]} do not match those the metadata names {sorted(referenced)[:5]}")
    return {"n_classes": m, "n_features": k, "booster_width": width or k}


def check_model_features(model, where="") -> None:
    """Refuse a model whose input width is not what its own feature settings compute.

    Such a model (fitted on other features, saved with these settings) loads, but cannot
    classify a trajectory: every frame would fail inside scikit-learn's input check.

    Raises
    ------
    ModelFileError
    """
    k = model.feature_settings_.n_features
    if int(model.n_features_in_) != k:
        raise ModelFileError(
            f"{where or getattr(model, 'source_', 'the model')} reads {model.n_features_in_} features, but its feature "
            f"settings compute {k}: it was saved with the wrong feature settings and cannot classify trajectories"
        )


# --------------------------------------------------------------------------- LightGBM text

_TREE_ARRAYS = ("split_feature", "split_gain", "threshold", "decision_type", "left_child", "right_child",
                "leaf_value", "leaf_weight", "leaf_count", "internal_value", "internal_weight", "internal_count")
_TREE_KEYS = {"num_leaves", "num_cat", "is_linear", "shrinkage", *_TREE_ARRAYS}


def _numbers_of(text: str, kind, where, name) -> list:
    try:
        values = [kind(v) for v in text.split()]
    except (ValueError, OverflowError):
        raise ModelFileError(f"{where}: booster {name} holds something that is not a number") from None
    if kind is float and not all(math.isfinite(v) for v in values):
        raise ModelFileError(f"{where}: booster {name} holds a non-finite value (NaN or infinity)")
    return values


def _check_tree(tree: dict, n: int, width: int, where) -> dict:
    """Parse and check one tree's fields; returns them as lists."""
    name = f"tree {n}"
    unknown = set(tree) - _TREE_KEYS
    if unknown:
        raise ModelFileError(f"{where}: booster {name} has fields lessdask does not write {sorted(unknown)[:3]}")
    for key in ("num_leaves", "leaf_value"):
        if key not in tree:
            raise ModelFileError(f"{where}: booster {name} has no {key} (truncated or damaged)")
    leaves = _numbers_of(tree["num_leaves"], int, where, name)
    if len(leaves) != 1 or not 1 <= leaves[0] <= MAX_LEAVES:
        raise ModelFileError(f"{where}: booster {name} has num_leaves {tree['num_leaves']!r:.30}")
    L = leaves[0]
    if tree.get("num_cat", "0").strip() != "0" or tree.get("is_linear", "0").strip() != "0":
        raise ModelFileError(f"{where}: booster {name} uses categorical or linear splits, which lessdask never trains")
    out = {"num_leaves": L, "shrinkage": _numbers_of(tree.get("shrinkage", "1"), float, where, name)}
    if len(out["shrinkage"]) != 1:
        raise ModelFileError(f"{where}: booster {name} has a malformed shrinkage")
    sizes = {"leaf_value": L, "leaf_weight": L, "leaf_count": L}
    for key in _TREE_ARRAYS:
        kind = int if key in ("split_feature", "decision_type", "left_child", "right_child", "leaf_count",
                              "internal_count") else float
        values = _numbers_of(tree.get(key, ""), kind, where, name)
        want = sizes.get(key, L - 1)
        optional = key not in ("leaf_value", "split_feature", "threshold", "decision_type", "left_child",
                               "right_child")
        if len(values) != want and not (optional and not values) and not (L == 1 and want == 0 and not values):
            raise ModelFileError(f"{where}: booster {name} has {len(values)} {key} values for {L} leaves "
                                 "(truncated or damaged)")
        out[key] = values
    # a classifier's leaves are O(1) scores; a huge one (1e308) is finite but its sum over trees is not
    if any(abs(v) > MAX_LEAF_VALUE for v in out["leaf_value"]) or abs(out["shrinkage"][0]) > MAX_LEAF_VALUE:
        raise ModelFileError(f"{where}: booster {name} has a leaf value or shrinkage beyond ±{MAX_LEAF_VALUE:g}, "
                             "which no trained classifier has (damaged)")
    if L == 1:
        return out
    if not all(0 <= f < width for f in out["split_feature"]):
        raise ModelFileError(f"{where}: booster {name} splits on a feature outside 0..{width - 1}")
    if not all(0 <= d <= 15 and not d & 1 and (d >> 2) & 3 != 3 for d in out["decision_type"]):
        raise ModelFileError(f"{where}: booster {name} has an invalid decision type")
    seen_internal, seen_leaf = [False] * (L - 1), [False] * L
    stack, depth = [(0, 1)], 0
    seen_internal[0] = True
    while stack:
        node, d = stack.pop()
        depth = max(depth, d)
        for child in (out["left_child"][node], out["right_child"][node]):
            if child >= 0:
                if child >= L - 1 or seen_internal[child]:
                    raise ModelFileError(f"{where}: booster {name} is not a tree (child index {child})")
                seen_internal[child] = True
                stack.append((child, d + 1))
            else:
                leaf = ~child
                if leaf >= L or seen_leaf[leaf]:
                    raise ModelFileError(f"{where}: booster {name} is not a tree (leaf index {leaf})")
                seen_leaf[leaf] = True
    if not all(seen_internal) or not all(seen_leaf) or depth > MAX_DEPTH:
        raise ModelFileError(f"{where}: booster {name} is not a tree (unreached nodes or depth over {MAX_DEPTH})")
    return out


def _format_tree(n: int, t: dict) -> str:
    def row(key):
        return " ".join(repr(float(v)) if isinstance(v, float) else str(int(v)) for v in t[key])

    lines = [f"Tree={n}", f"num_leaves={t['num_leaves']}", "num_cat=0"]
    lines += [f"{key}={row(key)}" for key in _TREE_ARRAYS]
    lines += ["is_linear=0", f"shrinkage={t['shrinkage'][0]!r}"]
    return "\n".join(lines) + "\n\n\n"


def safe_booster_text(text: str, width: int, where) -> str:
    """Check a LightGBM booster's text and write it again in canonical form.

    Parameters
    ----------
    text : str
        The member's text (as ``Booster.model_to_string`` wrote it).
    width : int
        Columns of the booster's input (split features must lie below it).
    where : str
        The file and member, for messages.

    Returns
    -------
    str
        A model string holding only the checked trees of a single-output regression booster,
        for ``lightgbm.Booster(model_str=...)``.

    Raises
    ------
    ModelFileError
        Anything but a complete single-output regression booster of well-formed numerical trees.
    """
    if "\r" in text or "\0" in text:
        raise ModelFileError(f"{where}: booster text holds control characters")
    head, sep, body = text.partition("\nTree=")
    if not sep or not head.startswith("tree\n"):
        raise ModelFileError(f"{where}: not a LightGBM booster (no trees)")
    header = dict(line.split("=", 1) for line in head.splitlines()[1:] if "=" in line)
    if header.get("version") not in ("v2", "v3", "v4") or header.get("num_class") != "1" \
            or header.get("num_tree_per_iteration") != "1" or "average_output" in head.splitlines():
        raise ModelFileError(f"{where}: not a single-output LightGBM booster as lessdask writes them")
    if not header.get("objective", "regression").startswith("regression"):
        raise ModelFileError(f"{where}: booster objective {header.get('objective')!r:.40} is not lessdask's regression")
    if header.get("max_feature_idx") != str(width - 1):
        raise ModelFileError(f"{where}: booster reads {header.get('max_feature_idx')!r:.20} + 1 columns, "
                             f"the model gives it {width}")
    trees_text, end, _ = ("Tree=" + body).partition("\nend of trees")
    if not end:
        raise ModelFileError(f"{where}: booster text is truncated (no 'end of trees')")
    trees, current = [], None
    for line in trees_text.split("\n"):
        if line.startswith("Tree="):
            if line != f"Tree={len(trees)}":
                raise ModelFileError(f"{where}: booster trees are out of order ({line[:20]!r})")
            current = {}
            trees.append(current)
            if len(trees) > MAX_TREES:
                raise ModelFileError(f"{where}: booster has more than {MAX_TREES} trees")
        elif line.strip():
            key, eq, value = line.partition("=")
            if not eq or current is None or key in current:
                raise ModelFileError(f"{where}: booster text is damaged near {line[:40]!r}")
            current[key] = value
    if not trees:
        raise ModelFileError(f"{where}: booster has no trees")
    checked = [_check_tree(t, n, width, where) for n, t in enumerate(trees)]
    names = " ".join(f"Column_{i}" for i in range(width))
    out = ["tree", "version=v4", "num_class=1", "num_tree_per_iteration=1", "label_index=0",
           f"max_feature_idx={width - 1}", "objective=regression", f"feature_names={names}",
           "feature_infos=" + " ".join(["none"] * width), "", ""]
    return "\n".join(out) + "".join(_format_tree(n, t) for n, t in enumerate(checked)) + "end of trees\n"
