"""The runner: jobs queued in the store and worked by ``assay worker``, cron schedules that fire jobs, and
sweeps (grid, random, Optuna) over notebooks and functions, on local processes or a Dask cluster.

``entities`` (what is stored) and ``states`` (the queue's state machine) and ``cron`` (due times) are pure;
``task`` describes one execution. The service interface is ``assay.services.jobs``.
"""
