"""checkov external checks (``--external-checks-dir policies/checks``).

checkov executes every ``.py`` file of this directory as a *top-level* module named after the file, with the
directory on ``sys.path``. Hence: no module may shadow a standard-library name (``secrets.py`` would replace
the stdlib ``secrets`` inside checkov), helpers are stdlib-only, and check modules import helpers by package
path first (for mypy and pytest) and by bare name as a fallback (inside checkov).
"""
