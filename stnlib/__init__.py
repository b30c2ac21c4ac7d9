"""stnlib: the small library behind the stn-notebooks series on Spatial Transformer Networks.

Import modules explicitly (``from stnlib import affine``). The core, which never imports the rest:

* ``env``: every ``STNLIB_*`` variable, folders, run profiles, seeding, device; ``affine``: theta algebra, warps
* ``transformer``: ``SpatialTransformer``, ``STNClassifier``; ``models``: the networks built from them;
  ``fast_cifar``: the airbench-style CIFAR-10 net and recipe
* ``data``: MNIST / CIFAR-10; ``batches``: normalized batches and loaders; ``distort``: distorted MNIST, off-centre
  CIFAR-10; ``augment``: crop + flip
* ``samples``: the bundled test images; ``recipes``: named training recipes; ``train``: ``fit``, ``evaluate``, ...;
  ``loop``: the one training loop ``fit`` and ``train_fast`` share
* ``recovery``: what a transformer undid vs what was applied; ``stats``: accuracy ± standard error, McNemar's test

Figures, widgets and run records (they may import the core, never the reverse): ``figures`` (static figures),
``gifs`` (learning GIFs), ``widgets`` (theta explorer, fooling widget; static when headless), ``theta_explorer``
(the explorer's sliders), ``runs`` (a notebook's run: profile, seed, ``reports/metrics.json``).

Repository tools (README rendering, notebook execution, benchmarks) live in ``tools/``.
"""

__version__ = "0.1.0"
