"""Before a profile runs: is every dataset, split and weight file it needs on this machine?

``python -m xcorr_lib.run --profile paper`` (``make all``) calls :func:`check` first. It
reads each notebook's parameters (the profile's values over the notebook's own defaults),
derives what the notebook will load, and looks for those files without reading or
downloading them (milliseconds). If anything is missing it prints one table (what, where
it looked, where to put it, the URLs a download would try) and which profiles can run with
what is present, and the run stops before any training.

What each parameter means for the inputs (the notebooks' own names):
``datasets`` + ``protocol`` (a dict per dataset) or ``dataset`` + ``protocol``: train and
test splits under that protocol; ``base_task`` / ``tasks``: their ``dataset`` and
``protocol``; ``weights`` (not None) with ``families`` / ``models``: the pretrained weight
file of every model; ``probe_dir``: the ImageNet probe images.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from xcorr_lib.common import provenance
from xcorr_lib.data.availability import Missing, missing_dataset_files, missing_probe_images
from xcorr_lib.nets import zoo

__all__ = ["Report", "check", "notebook_inputs", "full_parameters"]


@dataclass(frozen=True)
class Report:
    """What :func:`check` found: every missing input of the profile, and which profiles have all."""

    profile: str
    missing: dict[str, list[Missing]]  # notebook -> its missing inputs
    runnable: list[str]

    @property
    def ok(self) -> bool:
        return not any(self.missing.values())

    def text(self) -> str:
        """The table a user reads before anything runs: one entry per dataset (or weights)."""
        groups: dict[str, tuple[list[Missing], list[str]]] = {}
        for notebook, items in self.missing.items():
            for m in items:
                files, notebooks = groups.setdefault(m.what, ([], []))
                files += [m] if m not in files else []
                notebooks += [notebook] if notebook not in notebooks else []
        if not groups:
            return f"preflight: every input of profile {self.profile!r} is present."
        n = sum(len(files) for files, _ in groups.values())
        lines = [f"preflight: profile {self.profile!r} cannot run here: {n} file(s) missing, nothing was run.", ""]
        for what, (files, notebooks) in groups.items():
            first = files[0]
            lines.append(f"- {what}   [needed by {', '.join(notebooks)}]")
            lines.append(f"    missing   : {', '.join(m.file for m in files)}")
            lines.append(f"    looked in : {'; '.join(first.looked)}")
            lines.append(f"    put in    : {str(Path(first.place).parent)}/")
            if first.urls:
                url = first.urls[0].replace(Path(first.place).name, "<file>")
                more = f" (then {len(first.urls) - 1} other mirror(s))" if len(first.urls) > 1 else ""
                lines.append(f"    downloads : {url}{more}")
        lines.append("")
        lines.append("Profiles that can run with what is present: "
                     + (", ".join(f"PROFILE={p}" for p in self.runnable) or "none")
                     + ". Or set XCORR_DATA_MIRROR to a server or folder holding <dataset>/<file> (data/README.md).")
        return "\n".join(lines)


def full_parameters(path: Path, params: Mapping[str, Any]) -> dict[str, Any]:
    """The notebook's parameter defaults (literal values) overlaid with ``params``."""
    out: dict[str, Any] = {}
    for name, source in provenance.notebook_parameters(path).items():
        try:
            out[name] = ast.literal_eval(source)
        except (ValueError, SyntaxError):
            pass  # an expression (e.g. 10 / 255): not an input name
    return {**out, **params}


def _dataset_inputs(dataset: str, protocol: str) -> list[tuple[str, str, str]]:
    return [(dataset, split, protocol) for split in ("train", "test")]


def notebook_inputs(params: Mapping[str, Any]) -> tuple[list[tuple[str, str, str]], list[tuple[str, Any]], bool]:
    """(dataset splits, (model, weights) pairs, needs the ImageNet probe folder) of one notebook."""
    splits: list[tuple[str, str, str]] = []
    protocol = params.get("protocol")
    for dataset in params.get("datasets") or []:
        splits += _dataset_inputs(dataset, protocol[dataset] if isinstance(protocol, Mapping) else protocol)
    if params.get("dataset") and isinstance(protocol, str):
        splits += _dataset_inputs(params["dataset"], protocol)
    for task in [params.get("base_task"), *(params.get("tasks") or [])]:
        if isinstance(task, Mapping) and "dataset" in task:
            splits += _dataset_inputs(task["dataset"], task.get("protocol", "official"))
    weights = []
    if params.get("weights") is not None and isinstance(params.get("models"), Mapping):
        for family in params.get("families") or params["models"]:
            weights += [(m, params["weights"]) for m in params["models"].get(family, [])]
    return list(dict.fromkeys(splits)), weights, "probe_dir" in params


def _missing(splits: Iterable[tuple[str, str, str]], weights: Iterable[tuple[str, Any]],
             images: bool, probe_dir: Any, skip_unavailable: bool) -> list[Missing]:
    found: list[Missing] = []
    if not skip_unavailable:  # smoke runs skip a missing dataset by design
        for dataset, split, protocol in splits:
            found += [m for m in missing_dataset_files(dataset, split, protocol) if m not in found]
    for model, w in weights:
        located = zoo.weights_file(model, w)
        if located and not located[0].is_file():
            path, url = located
            found.append(Missing(f"pretrained ImageNet weights ({w})", f"{path.name} ({model})", (str(path.parent),),
                                 str(path), (url,)))
    if images:
        found += missing_probe_images(probe_dir)
    return found


def missing_inputs(runs: Sequence[tuple[str, Path, Mapping[str, Any]]]) -> dict[str, list[Missing]]:
    """{notebook: its missing inputs} for the runs of :func:`xcorr_lib.run.pipeline.plan`."""
    out = {}
    for name, path, params in runs:
        full = full_parameters(path, params)
        splits, weights, images = notebook_inputs(full)
        # notebooks 01-03 skip unavailable datasets in the smoke profile (they say so)
        skip = full.get("profile") == "smoke" and "datasets" in full
        out[name] = _missing(splits, weights, images, full.get("probe_dir"), skip)
    return out


def check(profile: str, runs: Sequence[tuple[str, Path, Mapping[str, Any]]], *,
          other_profiles: Mapping[str, Sequence[tuple[str, Path, Mapping[str, Any]]]] | None = None) -> Report:
    """The :class:`Report` of ``runs``; ``other_profiles`` ({name: runs}) are checked for the
    "which profile can run" line."""
    missing = missing_inputs(runs)
    runnable = [p for p, r in {profile: runs, **(other_profiles or {})}.items()
                if not any((missing if p == profile else missing_inputs(r)).values())]
    return Report(profile, missing, runnable)
