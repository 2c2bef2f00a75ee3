"""Clinical validation: ADaM derivations, trial statistics, risk models and figures for
the trials that land in ``landing/trials/<study>/`` (pure functions on polars frames;
the Dagster assets in orchestration/assets/trials.py call them)."""
