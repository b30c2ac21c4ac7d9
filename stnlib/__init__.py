"""stnlib: the small library behind the stn-notebooks series on Spatial Transformer Networks.

Import modules explicitly (``from stnlib import affine``). The core, which never imports the
rest:

* :mod:`stnlib.env`        every ``STNLIB_*`` variable, folders, run profiles, seeding, device choice
* :mod:`stnlib.affine`     theta algebra: build, compose, invert, decompose, warp, outlines
* :mod:`stnlib.models`     ``SpatialTransformer`` and the networks (tutorial, course, our MNIST/CIFAR-10 nets)
* :mod:`stnlib.data`       MNIST / CIFAR-10 (a folder, torchvision or the bundled samples), loaders
* :mod:`stnlib.distort`    distorted MNIST (RTS, cluttered) and off-centre CIFAR-10, generated from a seed
* :mod:`stnlib.augment`    random crop + flip
* :mod:`stnlib.samples`    the bundled real test images in ``assets/samples``
* :mod:`stnlib.recipes`    ``Recipe`` and the named training recipes
* :mod:`stnlib.train`      ``fit``, ``train_step``, ``evaluate``, ``predict``, ``stn_thetas``
* :mod:`stnlib.fast_cifar` the airbench-style CIFAR-10 network and its recipe
* :mod:`stnlib.recovery`   what a transformer undid vs what was applied
* :mod:`stnlib.stats`      test accuracy with standard errors, McNemar's test

Figures, widgets and run records (they may import the core, never the reverse):

* :mod:`stnlib.figures`    static figures: images, sampled regions, histories, thetas
* :mod:`stnlib.gifs`       learning GIFs: ``ThetaSnapshots`` while training, frames, GIF files
* :mod:`stnlib.widgets`    the theta explorer and the fooling widget (static when headless)
* :mod:`stnlib.runs`       a notebook's run: profile, seed, ``reports/metrics.json``

Repository tools (README rendering, notebook execution, benchmarks) live in ``tools/``.
"""

__version__ = "0.1.0"
