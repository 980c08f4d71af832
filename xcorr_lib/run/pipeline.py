"""Run the notebooks of a profile with papermill, and render executed notebooks to HTML.

A *profile* is a YAML file ``notebooks/profiles/<profile>.yaml`` whose top-level keys
are notebook names (file stems in ``notebooks/``) and whose values are the papermill
parameters of that notebook::

    00_quickstart: {n_train: 500}
    01_fcn_correlations: {}

:func:`run_notebooks` executes, in sorted file order, every notebook the profile lists,
with the profile's parameters plus ``profile=<name>``, and writes the executed copy to
``results/notebooks/<name>.ipynb``. Notebooks the profile does not list are skipped with
a printed reason; a profile key without a notebook is an error. Each notebook runs with
its own folder (``notebooks/``) as working directory, as in Jupyter; outputs go through
:mod:`xcorr_lib.common.provenance`, which finds the project root from there. A failing notebook
stops the run: the cell's error is printed, the partial executed notebook is kept and
:class:`NotebookFailed` is raised (exit status 1 from the command line).

:func:`xcorr_lib.report.book.build_book` (``--html``) renders executed notebooks as the teaching
site under ``results/html/`` (Sphinx + MyST-NB, nothing re-executed).

Command line::

    python -m xcorr_lib.run --profile smoke [--only NAME ...] [--param KEY=VALUE ...]
    python -m xcorr_lib.run --list [--profile smoke]
    python -m xcorr_lib.run --html
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from xcorr_lib.common import devices, kernels, numerics, provenance

__all__ = [
    "ProfileError", "NotebookFailed", "list_profiles", "load_profile",
    "notebook_parameters", "plan", "profile_options", "run_notebooks", "main",
]

PARAMETERS_TAG = "parameters"
#: Profile key (not a papermill parameter): the notebooks whose outputs a notebook reads.
NEEDS_KEY = "needs"
#: Top-level profile keys that are settings of the run, not notebooks (``portable: true``,
#: ``device: auto``: the ``device`` parameter of every notebook that has one, unless the notebook's
#: own entry or an override sets it).
PROFILE_OPTIONS = {"portable": False, "device": "auto"}


class ProfileError(ValueError):
    """A profile, a notebook or a parameter is misconfigured (nothing was executed)."""


class NotebookFailed(RuntimeError):
    """A notebook raised while executing; ``output`` holds the partial executed notebook."""

    def __init__(self, notebook: str, output: Path, message: str) -> None:
        super().__init__(f"notebook {notebook!r} failed: {message}")
        self.notebook = notebook
        self.output = output


def _default_notebooks_dir() -> Path:
    return provenance.project_root() / "notebooks"


def list_profiles(profiles_dir: Path) -> list[str]:
    """Names of the profiles (``<name>.yaml`` files) in ``profiles_dir``, sorted."""
    return sorted(p.stem for p in Path(profiles_dir).glob("*.yaml"))


def load_profile(profile: str, profiles_dir: Path) -> dict[str, dict[str, Any]]:
    """Read ``<profiles_dir>/<profile>.yaml`` -> {notebook name: parameter dict}.

    Raises
    ------
    ProfileError
        Unknown profile (the message lists the available ones), or a file whose
        top level is not a mapping of names to mappings.
    """
    path = Path(profiles_dir) / f"{profile}.yaml"
    if not path.is_file():
        raise ProfileError(f"unknown profile {profile!r}; available profiles: "
                           f"{', '.join(list_profiles(profiles_dir)) or '(none)'} (in {profiles_dir})")
    content = _profile_file(path)
    out: dict[str, dict[str, Any]] = {}
    for name, params in content.items():
        if name in PROFILE_OPTIONS:
            continue
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise ProfileError(f"{path}: parameters of {name!r} must be a mapping, got {params!r}")
        if "profile" in params:
            raise ProfileError(f"{path}: {name!r} sets 'profile'; the runner sets it to {profile!r}")
        out[str(name)] = dict(params)
    return out


def _profile_file(path: Path) -> dict[str, Any]:
    content = yaml.safe_load(path.read_text()) or {}
    if not isinstance(content, dict):
        raise ProfileError(f"{path}: top level must map notebook names to parameters")
    return content


def profile_options(profile: str, profiles_dir: Path) -> dict[str, Any]:
    """The run settings of a profile (:data:`PROFILE_OPTIONS`, e.g. ``portable``), defaults filled in."""
    load_profile(profile, profiles_dir)  # the same checks and errors
    content = _profile_file(Path(profiles_dir) / f"{profile}.yaml")
    options = {k: content.get(k, default) for k, default in PROFILE_OPTIONS.items()}
    if not isinstance(options["portable"], bool):
        raise ProfileError(f"{profile}.yaml: portable must be true or false, got {options['portable']!r}")
    device = options["device"]
    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise ProfileError(f"{profile}.yaml: device must be auto, cpu, cuda or cuda:N, got {device!r}")
    return options


def notebook_parameters(path: Path) -> dict[str, str]:
    """:func:`xcorr_lib.common.provenance.notebook_parameters`, as a :class:`ProfileError`."""
    try:
        return provenance.notebook_parameters(path)
    except ValueError as err:
        raise ProfileError(str(err)) from None


def plan(profile: str, *, notebooks_dir: Path, profiles_dir: Path | None = None,
         only: Sequence[str] | None = None,
         params_override: Mapping[str, Any] | None = None,
         ) -> tuple[list[tuple[str, Path, dict[str, Any]]], list[tuple[str, str]]]:
    """Check a profile against the notebooks and decide what runs, without running.

    Returns
    -------
    runs : list of (name, notebook path, parameters), in sorted name order; the
        parameters already contain ``profile``.
    skipped : list of (name, reason).

    Raises
    ------
    ProfileError
        Unknown profile, a profile key without a notebook (only a printed warning when
        ``only`` is given), an ``only`` name without a notebook, an ``only``
        name the profile does not list, a notebook without a ``parameters`` cell, or a
        parameter the notebook's parameters cell does not define (a typo).
    """
    notebooks_dir = Path(notebooks_dir)
    profiles_dir = Path(profiles_dir) if profiles_dir else notebooks_dir / "profiles"
    table = load_profile(profile, profiles_dir)
    device = profile_options(profile, profiles_dir)["device"]
    notebooks = {p.stem: p for p in sorted(notebooks_dir.glob("*.ipynb"))}
    orphans = sorted(set(table) - set(notebooks))
    if orphans:
        message = (f"profile {profile!r} lists {orphans} but {notebooks_dir} has no such "
                   f"notebook; notebooks: {sorted(notebooks)}")
        if not only:
            raise ProfileError(message)
        print(f"warning: {message}", flush=True)  # --only: iterate on one notebook meanwhile
    wanted = list(notebooks) if not only else list(dict.fromkeys(only))
    for name in only or ():
        if name not in notebooks:
            raise ProfileError(f"no notebook {name!r}; notebooks: {sorted(notebooks)}")
        if name not in table:
            raise ProfileError(f"profile {profile!r} does not list {name!r}; add it to "
                               f"{profiles_dir / (profile + '.yaml')}")
    runs, skipped, needs = [], [], {}
    for name in sorted(wanted):
        if name not in table:
            skipped.append((name, f"not listed in profile {profile!r}"))
            continue
        defined = notebook_parameters(notebooks[name])
        params = {**({"device": device} if "device" in defined else {}), **table[name],
                  **dict(params_override or {}), "profile": profile}
        needs[name] = _needs(params.pop(NEEDS_KEY, []), name, table)
        unknown = sorted(set(params) - set(defined))
        if unknown:
            raise ProfileError(f"{name}: parameters {unknown} are not defined in its "
                               "parameters cell (typo in the profile or override?)")
        runs.append((name, notebooks[name], params))
    return _in_dependency_order(runs, needs, profile), skipped


def _needs(value: Any, name: str, table: Mapping[str, Any]) -> list[str]:
    """The ``needs`` list of one notebook, checked against the profile."""
    needed = [value] if isinstance(value, str) else list(value or [])
    if unknown := [other for other in needed if other not in table]:
        raise ProfileError(f"{name} needs {unknown[0]!r}, which the profile does not list")
    return needed


def _in_dependency_order(runs: list, needs: Mapping[str, list[str]], profile: str) -> list:
    """``runs`` with every notebook after the ones it needs (name order otherwise).

    A needed notebook that is not part of this run must have run before with the same
    profile (an executed-notebook row in the manifest whose file still exists); else
    ProfileError naming it, before anything runs."""
    by_name, ordered, state = {r[0]: r for r in runs}, [], {}
    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if name in chain:
            raise ProfileError(f"profile {profile!r}: circular needs {' -> '.join((*chain, name))}")
        for other in needs.get(name, []):
            if other in by_name:
                visit(other, (*chain, name))
            elif not provenance.notebook_ran(other, profile):
                raise ProfileError(f"{name} needs the outputs of {other}, which is not in this run and has "
                                   f"not run with profile {profile!r} here; run it too (add it to --only) or "
                                   f"first `python -m xcorr_lib.run --profile {profile} --only {other}`")
        state[name] = "done"
        ordered.append(by_name[name])

    for name in by_name:
        visit(name, ())
    return ordered


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def run_notebooks(profile: str, *, only: Sequence[str] | None = None,
                  notebooks_dir: Path | None = None, out_dir: Path | None = None,
                  params_override: Mapping[str, Any] | None = None,
                  kernel: str | None = None, progress: bool = True, portable: bool | None = None) -> list[Path]:
    """Execute the notebooks of ``profile`` with papermill; return the executed paths.

    Parameters
    ----------
    profile : name of ``<notebooks_dir>/profiles/<profile>.yaml``.
    only : notebook names to run (each must be listed in the profile); default all.
    notebooks_dir : folder of the source notebooks; default ``<project>/notebooks``.
        It is also the working directory of the kernels.
    out_dir : folder for executed notebooks; default ``results/notebooks``.
    params_override : parameters applied on top of the profile's, for every notebook.
    kernel : Jupyter kernel name; default the notebook's own (``python3``).
    progress : papermill's per-cell progress bar (stderr).
    portable : numeric mode of the kernels (:mod:`xcorr_lib.common.numerics`): True pins every
        numeric library to AVX2 so the same seed gives the same weights on any x86-64 machine;
        None (default) takes the profile's ``portable`` setting. Kernels run over IPC
        (:mod:`xcorr_lib.common.kernels`), never on TCP ports.

    Raises
    ------
    ProfileError
        Configuration problems, found before anything runs (see :func:`plan`).
    NotebookFailed
        A cell raised; the error is printed and the partial notebook kept in ``out_dir``.
    """
    notebooks_dir = Path(notebooks_dir) if notebooks_dir else _default_notebooks_dir()
    out_dir = Path(out_dir) if out_dir else provenance.results_dir() / "notebooks"
    runs, skipped = plan(profile, notebooks_dir=notebooks_dir, only=only,
                         params_override=params_override)
    if portable is None:
        portable = profile_options(profile, notebooks_dir / "profiles")["portable"]
    for name, reason in skipped:
        print(f"skip {name}: {reason}", flush=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    env, note = numerics.numeric_environment(portable)
    if note:
        print(f"note: {note}", flush=True)
    machine = kernels.kernel_machine(env) if runs else {}
    print(f"numeric mode: {'portable (AVX2 everywhere)' if machine.get('portable') else 'native'}; "
          f"{machine.get('cpu', '')}, torch kernels {machine.get('cpu_capability', '')}", flush=True)
    with numerics.environment(env):
        return _execute(runs, profile, out_dir, notebooks_dir, kernel, progress, machine)


def _execute(runs: list, profile: str, out_dir: Path, notebooks_dir: Path, kernel: str | None, progress: bool,
             machine: Mapping[str, Any]) -> list[Path]:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    done: list[Path] = []
    for i, (name, src, params) in enumerate(runs, 1):
        dst = out_dir / f"{name}.ipynb"
        print(f"[{i}/{len(runs)}] {name} (profile {profile}) -> {dst}", flush=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(str(src), str(dst), parameters=params,
                                       kernel_name=kernel, log_output=False, progress_bar=progress,
                                       cwd=str(notebooks_dir), kernel_manager_class=kernels.IPCKernelManager)
        except PapermillExecutionError as err:
            tb = _strip_ansi("\n".join(err.traceback))
            print(f"\nFAILED {name}: cell {err.cell_index} (In [{err.exec_count}])\n"
                  f"{err.source}\n{tb}\npartial executed notebook kept: {dst}",
                  file=sys.stderr, flush=True)
            raise NotebookFailed(name, dst, f"{err.ename}: {err.evalue}") from None
        except Exception as err:  # kernel died, timeout, unreadable notebook
            print(f"\nFAILED {name}: {type(err).__name__}: {err}\n"
                  f"partial executed notebook (if any): {dst}", file=sys.stderr, flush=True)
            raise NotebookFailed(name, dst, f"{type(err).__name__}: {err}") from err
        kernels.mark_numeric_mode(dst, machine)
        effective = provenance.effective_parameters(src, params)
        provenance.record(dst, "notebook", notebook=name, profile=profile, seed=params.get("seed"),
                          params=effective, machine=machine,
                          device=devices.describe_device(effective["device"]) if "device" in effective else "")
        print(f"    done in {time.perf_counter() - start:.1f} s", flush=True)
        done.append(dst)
    return done


def _parse_param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), yaml.safe_load(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (0 ok, 1 notebook failed, 2 config)."""
    parser = argparse.ArgumentParser(prog="python -m xcorr_lib.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", help="profile name (notebooks/profiles/<name>.yaml)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these notebooks")
    parser.add_argument("--param", action="append", type=_parse_param, default=[], metavar="KEY=VALUE",
                        help="override a parameter for every notebook run (value parsed as YAML)")
    parser.add_argument("--list", action="store_true", help="show profiles and the run plan, run nothing")
    parser.add_argument("--html", action="store_true", help="render executed notebooks to --site")
    parser.add_argument("--notebooks", type=Path, default=None, help="source folder (default notebooks/)")
    parser.add_argument("--out", type=Path, default=None, help="executed notebooks (default results/notebooks)")
    parser.add_argument("--site", type=Path, default=None, help="HTML folder (default results/html)")
    parser.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    parser.add_argument("--no-progress", action="store_true", help="hide papermill's progress bar")
    parser.add_argument("--preflight", action="store_true", help="only check that every input is present")
    parser.add_argument("--no-preflight", action="store_true", help="skip the input check before running")
    parser.add_argument("--device", default=None, metavar="DEV",
                        help="the notebooks' device: auto (a GPU when torch sees one, else the CPU; the profiles' "
                             "default), cpu, cuda or cuda:N; the same as --param device=DEV")
    parser.add_argument("--portable", action=argparse.BooleanOptionalAction, default=None,
                        help="pin every numeric library to AVX2, so a seed gives the same weights on any x86-64 "
                             "machine (default: the profile's `portable`, true for paper and paper-fashion)")
    args = parser.parse_args(argv)
    if args.device is not None:
        args.param.append(("device", args.device))
    notebooks_dir = args.notebooks or _default_notebooks_dir()
    try:
        if args.html:
            from xcorr_lib.report.book import BookError, build_book
            try:
                print(f"wrote {build_book(args.out, args.site)}")
            except BookError as err:
                print(f"error: {err}", file=sys.stderr)
                return 1
            return 0
        if args.list:
            print("profiles:", ", ".join(list_profiles(notebooks_dir / "profiles")))
            if args.profile:
                runs, skipped = plan(args.profile, notebooks_dir=notebooks_dir, only=args.only,
                                     params_override=dict(args.param))
                for name, _, params in runs:
                    print(f"run  {name}: {json.dumps(params, sort_keys=True, default=str)}")
                for name, reason in skipped:
                    print(f"skip {name}: {reason}")
            return 0
        if not args.profile:
            parser.error("--profile is required (or use --list / --html)")
        if not args.no_preflight:
            report = _preflight(args.profile, notebooks_dir, args.only, dict(args.param))
            if not report.ok or args.preflight:
                print(report.text(), file=sys.stderr if not report.ok else sys.stdout)
                return 0 if report.ok else 2
        done = run_notebooks(args.profile, only=args.only, notebooks_dir=notebooks_dir,
                             out_dir=args.out, params_override=dict(args.param),
                             kernel=args.kernel, progress=not args.no_progress, portable=args.portable)
        print(f"executed {len(done)} notebook(s) with profile {args.profile!r}")
        return 0
    except (ProfileError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except NotebookFailed as err:  # its error was printed once, with the failing cell, above
        print(f"error: notebook {err.notebook!r} failed (see above); partial notebook: {err.output}",
              file=sys.stderr)
        return 1


def _preflight(profile: str, notebooks_dir: Path, only: Sequence[str] | None, override: Mapping[str, Any]):
    """The preflight report of this run, and which of all profiles could run here."""
    from xcorr_lib.run import preflight

    plans = {p: plan(p, notebooks_dir=notebooks_dir)[0] for p in list_profiles(notebooks_dir / "profiles") if p != profile}
    runs = plan(profile, notebooks_dir=notebooks_dir, only=only, params_override=override)[0]
    return preflight.check(profile, runs, other_profiles=plans)


if __name__ == "__main__":
    sys.exit(main())
