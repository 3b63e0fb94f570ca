"""Classifying archives: many pictures and videos, here or spread over a Dask cluster.

`sources` turns the command's paths into jobs, `tasks` classifies one job (the code a Dask
worker runs), `local` and `cluster` run the jobs here or on a cluster and stream the results
back, `writers` stores them (and says what an earlier run already finished), `evaluation`
scores a labelled set.
"""


class BatchError(Exception):
    """A batch cannot start or go on (bad output file, no usable worker); says what to do."""
