"""Repository tools, run from the repository root as ``python -m tools.<name>`` (they import stnlib, never the reverse).

* :mod:`tools.readme`   README.md and CONTRIBUTING.md's generated blocks and the notebooks' Colab cells
  (``make sync``), drawing on :mod:`tools.results` (the students' results tables and the rules that word them),
  :mod:`tools.contributing` (every recorded number, CIFAR-10 details, benchmarks) and
  :mod:`tools.notebook_info` (notebook titles, run times, data provenance)
* :mod:`tools.execute`  headless execution with papermill, then each run's metrics (``make execute``, ``make quick``)
* :mod:`tools.bench`    speed benchmarks side by side (``make bench``)
* :mod:`tools.make_samples`  rebuild ``assets/samples/`` from the offline datasets
* :mod:`tools.validate_mnist`, :mod:`tools.validate_cifar`, :mod:`tools.validate_fast_cifar`  design choices
  scored on validation splits of the training sets
"""
