"""Local development tools for the anonymizer job: generator, demo, loader, benchmark, pool rebuild.

Installed by ``make setup`` (``pip install -e tools``), never into the job wheel. The dependency points one
way: these modules import :mod:`anonymizer`; the job finds their CLI commands through the
``anonymizer.commands`` entry points and never imports this package by name.
"""
