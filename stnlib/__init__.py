"""stnlib: the small library behind the stn-notebooks series on Spatial Transformer Networks.

Modules (import them explicitly, e.g. ``from stnlib import affine``):

* :mod:`stnlib.affine`   theta algebra: build, compose, invert, decompose, warp, outlines
* :mod:`stnlib.profiles` ``"full"`` / ``"quick"`` run profiles (``$STNLIB_PROFILE`` overrides)
* :mod:`stnlib.runs`     notebook runs: seeding, timing, ``reports/metrics.json``
* :mod:`stnlib.samples`  the bundled real MNIST / CIFAR-10 test images in ``assets/samples``
* :mod:`stnlib.data`     MNIST / CIFAR-10 (folder, torchvision, samples), batched loaders, distorted MNIST
* :mod:`stnlib.models`   ``SpatialTransformer`` (affine, similarity, attention), the tutorial/course nets,
  our MNIST ST-CNNs (plain, RTS, cluttered) and their CNN baselines
* :mod:`stnlib.recovery` what a transformer undid vs what was applied (per component), its region vs the digit
* :mod:`stnlib.train`    ``fit`` / ``evaluate`` with progress, history, callbacks (``ThetaSnapshots``)
* :mod:`stnlib.checkpoints` atomic, ``weights_only`` checkpoints that fail loudly
* :mod:`stnlib.experiments` training recipes (tutorial, ours) shared by notebooks and benchmarks
* :mod:`stnlib.bench`    ``make bench``: speed side by side
* :mod:`stnlib.viz`      figures: images, outlines of the sampled region, matrices, learning GIFs
* :mod:`stnlib.widgets`  the theta explorer (ipywidgets, static fallback when headless)
* :mod:`stnlib.project`  repo URL, README index/results generation (``make sync``)
* :mod:`stnlib.execute`  headless execution with papermill (``make execute``)
"""

__version__ = "0.1.0"
