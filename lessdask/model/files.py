"""Safe model files: data, never code.

A ``.lessmodel`` file is a zip archive of

* ``metadata.json`` — format name and version, lessdask version, class list, feature
  settings, estimator parameters, per-class feature statistics and envelopes, and a SHA-256 digest of
  everything else in the file;
* ``base/<i>.skops`` — fitted scikit-learn base models in skops format, loaded with an
  explicit allow-list of types (anything else is refused before it is built);
* ``mega/<c>.txt`` — LightGBM boosters in LightGBM's own text format.

No pickle is ever read. Before any parser sees a part of the file, its size is bounded from
the zip directory, its metadata is checked against the schema, and each booster's text is
checked and rewritten by :mod:`lessdask.model.validation`; a file that is not such an archive,
is out of those bounds, names a type outside the allow-list, or whose digest does not match
its content is refused with :class:`lessdask.errors.ModelFileError`.

What the digest protects against: the digest is an unkeyed SHA-256 of the file's content.
It detects *corruption* (a truncated download, a flipped bit, an edited member without a
recomputed digest), and it names the model in every results store. It does not detect
*tampering*: anyone who edits a file can recompute it. Tamper resistance comes from pinning:
``load_model(path, expected_digest=...)`` (``lessdask classify --model-digest``) refuses any
file whose content digest is not the one the user trusts (the digest its author published,
as ``pip --require-hashes`` does for packages). See docs/design.md, "Model files".
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from lessdask import __version__
from lessdask.errors import ModelFileError
from lessdask.features import FeatureSettings
from lessdask.model import validation

FORMAT = "lessdask-model"
FORMAT_VERSION = 1
SUFFIX = ".lessmodel"

#: Non-builtin types a base-model file may contain beyond skops' defaults (sklearn estimators
#: themselves are trusted by skops already).
ALLOWED_TYPES = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
})


def _digest(members: dict[str, bytes], metadata: dict) -> str:
    h = hashlib.sha256()
    meta = {k: v for k, v in metadata.items() if k != "digest"}
    h.update(json.dumps(meta, sort_keys=True).encode())
    for name in sorted(members):
        h.update(name.encode() + b"\0" + hashlib.sha256(members[name]).digest())
    return h.hexdigest()


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def save_model(model, path, feature_settings: FeatureSettings | None = None, extra: dict | None = None,
               overwrite: bool = True) -> Path:
    """Write a fitted :class:`LESSClassifier` as a safe ``.lessmodel`` file.

    Parameters
    ----------
    model : LESSClassifier
        A fitted estimator.
    path : str or Path
        Destination; ``.lessmodel`` is the conventional suffix.
    feature_settings : FeatureSettings, optional
        The settings the training features were computed with (default settings if omitted).
    extra : dict, optional
        JSON-serialisable provenance (training data, accuracy, ...), stored in the metadata.
    overwrite : bool
        Refuse to replace an existing file when False.

    Returns
    -------
    Path
        The written file.
    """
    import skops.io as sio
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "mega_models_")
    path = Path(path)
    if path.exists() and not overwrite:
        raise ModelFileError(f"{path} exists; choose another name or pass overwrite=True")
    settings = feature_settings or getattr(model, "feature_settings_", None) or FeatureSettings()
    members: dict[str, bytes] = {}
    base = []
    for i, (entry, cls, fitted) in enumerate(model.base_models_):
        item = {"entry": entry, "class": None if cls is None else int(cls)}
        if isinstance(fitted, tuple):
            item["constant"] = int(fitted[1])
        else:
            name = f"base/{i}.skops"
            members[name] = sio.dumps(fitted)
            item["member"] = name
        base.append(item)
    for c, booster in enumerate(model.mega_models_):
        members[f"mega/{c}.txt"] = booster.model_to_string().encode()
    params = {k: _jsonable(v) for k, v in model.get_params().items()}
    state = model.fitted_state()
    state["feature_settings"] = settings.to_dict()
    if extra is not None:
        state["extra"] = extra
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "lessdask_version": __version__,
        "params": params,
        **state,
        "base_models": base,
        "mega_models": len(model.mega_models_),
    }
    metadata["digest"] = _digest(members, metadata)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps(metadata, indent=1))
        for name, data in members.items():
            zf.writestr(name, data)
    tmp.replace(path)
    return path


def read_model_metadata(path) -> dict:
    """The metadata of a model file, after checking that it is one (sizes, digest, schema; no models are built)."""
    meta, _, _ = _read_archive(Path(path))
    return meta


def _read_archive(path: Path) -> tuple[dict, dict[str, bytes], int]:
    """Metadata, members and booster input width of a model file: bounded, digest-checked, schema-checked."""
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist; use 'default' or train one with 'lessdask train'")
    if path.is_dir():
        raise ModelFileError(f"{path} is a directory, not a lessdask model file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path} is not a lessdask model file (expected a .lessmodel zip archive); pickle/joblib "
            "files are never loaded because they can run code"
        )
    try:
        with zipfile.ZipFile(path) as zf:
            infos = validation.check_members(zf, path)  # sizes from the directory: nothing decompressed yet
            data = {i.filename: validation.read_member(zf, i, path) for i in infos}
        meta = json.loads(data.pop("metadata.json"))
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, OSError, ValueError, RecursionError,
            NotImplementedError, EOFError) as exc:
        raise ModelFileError(f"{path} is damaged and cannot be read as a lessdask model: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a lessdask model file (format {(meta or {}).get('format')!r:.40})"
                             if isinstance(meta, dict) else f"{path} is not a lessdask model file")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
            raise ModelFileError(
                f"{path} was written by lessdask {meta.get('lessdask_version')!r:.40} in model format {version}, "
                f"which this lessdask {__version__} (format {FORMAT_VERSION}) cannot read; upgrade lessdask"
            )
        raise ModelFileError(f"{path}: invalid model metadata: format_version {version!r:.40}")
    try:
        digest = _digest(data, meta)
    except (TypeError, ValueError, RecursionError):
        raise ModelFileError(f"{path}: invalid model metadata (not plain JSON data)") from None
    if meta.get("digest") != digest:
        raise ModelFileError(f"{path} has been modified or damaged: its digest does not match its content")
    shape = validation.check_metadata(meta, list(data), path)
    return meta, data, shape["booster_width"]


def load_model(path="default", expected_digest: str | None = None):
    """Load a model file safely.

    Parameters
    ----------
    path : str or Path
        A ``.lessmodel`` file, or ``"default"`` for the model shipped with lessdask
        (trained on the shipped reference data).
    expected_digest : str, optional
        The content digest (SHA-256, hex) of the model you trust, e.g. the one its author
        published: any other file is refused. Without it, a file is checked for corruption
        and safety but not for who made it (see the module docstring).

    Returns
    -------
    LESSClassifier
        Fitted, with ``feature_settings_``, ``digest_``, ``max_species_`` and ``source_``.

    Raises
    ------
    ModelFileError
        Missing, foreign, damaged, oversized, invalid, unsafe or incompatible files, or a
        digest other than ``expected_digest``.
    """
    import lightgbm as lgb
    import skops.io as sio

    from lessdask.model.stacking import LESSClassifier

    if str(path) == "default":
        from lessdask.model.default import default_model_path

        path = default_model_path()
    path = Path(path)
    meta, members, width = _read_archive(path)
    if expected_digest is not None and meta["digest"] != str(expected_digest).strip().lower():
        raise ModelFileError(f"{path} is not the pinned model: its content digest is {meta['digest']}, "
                             f"expected {expected_digest}")
    base = []
    for item in meta["base_models"]:
        if "constant" in item:
            fitted = ("constant", item["constant"])
        else:
            data = members[item["member"]]
            try:
                untrusted = set(sio.get_untrusted_types(data=data))
            except Exception as exc:  # noqa: BLE001 - any parse failure means: not a valid file
                raise ModelFileError(f"{path}: base model {item['member']} cannot be read: {exc}") from None
            refused = untrusted - ALLOWED_TYPES
            if refused:
                raise ModelFileError(
                    f"{path}: base model {item['member']} names types outside lessdask's allow-list "
                    f"{sorted(refused)}; refusing to load it (nothing was executed)"
                )
            try:
                fitted = sio.loads(data, trusted=sorted(untrusted))
            except Exception as exc:  # noqa: BLE001 - a damaged member of an allowed type
                raise ModelFileError(f"{path}: base model {item['member']} cannot be read: {exc}") from None
        base.append((item["entry"], item["class"], fitted))
    mega = []
    for c in range(meta["mega_models"]):
        name = f"mega/{c}.txt"
        try:
            text = members[name].decode("ascii")
        except UnicodeDecodeError:
            raise ModelFileError(f"{path}: booster {name} is not text") from None
        safe = validation.safe_booster_text(text, width, f"{path}: {name}")
        try:
            mega.append(lgb.Booster(model_str=safe))
        except lgb.basic.LightGBMError as exc:
            raise ModelFileError(f"{path}: booster {name} cannot be read: {exc}") from None
    try:
        model = LESSClassifier.from_fitted_state(meta["params"], meta, base, mega)
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{path}: invalid model metadata ({exc})") from None
    model.digest_ = meta["digest"]
    model.max_species_ = meta.get("max_species", 2)
    model.extra_ = meta.get("extra", {})
    model.source_ = str(path)
    return model
