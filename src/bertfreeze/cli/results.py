"""`make results`: regenerate the committed ``results/`` folders, one study or all (resumable).

    make results                          # every study, in order (prints the expected time first)
    make results ARGS='study=disaster-tweets'
    make results ARGS='study=disaster-tweets export_only=true'   # rewrite runs.csv/environment.json
    make results ARGS='readme=true'       # rewrite the README's generated results block only

Other ``key=value`` arguments are passed to the sweeps as Hydra overrides.
"""

from __future__ import annotations

import sys

from bertfreeze.errors import EXIT_USER_ERROR
from bertfreeze.studies import (
    STUDIES,
    expected_minutes,
    export,
    not_runnable_here,
    run_study,
    runs_to_train,
    unknown_study,
)


def _parse(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    ours, extra = {}, []
    for a in argv:
        key, _, value = a.partition("=")
        if key in {"study", "export_only", "readme"}:
            ours[key] = value
        else:
            extra.append(a)
    return ours, extra


def main(argv: list[str] | None = None) -> None:
    ours, extra = _parse(list(sys.argv[1:] if argv is None else argv))
    from bertfreeze.readme_results import update_readme

    if ours.get("readme", "").lower() in {"1", "true", "yes"}:
        print(f"results block rewritten: {update_readme()}")
        return
    name = ours.get("study", "all")
    if name != "all" and name not in STUDIES:
        print(f"error: {unknown_study(name)}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    chosen = list(STUDIES.values()) if name == "all" else [STUDIES[name]]
    if ours.get("export_only", "").lower() in {"1", "true", "yes"}:
        for study in chosen:
            print(f"exported {export(study)}")
        print(f"results block rewritten: {update_readme()}")
        return
    for study in list(chosen):
        if why := not_runnable_here(study, extra):
            if name != "all":
                print(f"error: {why}", file=sys.stderr)
                sys.exit(EXIT_USER_ERROR)
            print(f"results: skipping {why}")
            chosen.remove(study)
    minutes = expected_minutes(chosen)
    # a bf16 study runs only where bf16 is native, so its minutes were timed there
    bf16 = any(s.needs_native_bf16 for s in chosen)
    where = (
        "(fp32 studies without native bf16, bf16 ones with it)" if bf16 else "without native bf16"
    )
    print(
        f"results: {', '.join(s.name for s in chosen)} — {sum(map(runs_to_train, chosen))} runs, "
        f"roughly ~{minutes / 60:.1f} h on 2 CPU cores {where} (an estimate; finished runs are "
        "skipped; rerun to resume)"
    )
    if extra:
        print(f"  for the studies' whole grids: the overrides {' '.join(extra)} may run fewer")
    for study in chosen:
        print(
            f"  {study.name}: {runs_to_train(study)} runs x ~{study.minutes_per_run:g} min "
            f"({study.note})"
        )
    for study in chosen:
        print(f"exported {run_study(study, extra)}")
    print(f"results block rewritten: {update_readme()}")


if __name__ == "__main__":
    main()
