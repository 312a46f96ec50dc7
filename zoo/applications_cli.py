"""``tfgen inpaint | denoise | latent | amortisation``: uses of a trained image model.

::

    tfgen inpaint vae_binarized_mnist_k1_l1 --mask bottom --out inpaint.png
    tfgen denoise vae_binarized_mnist_k1_l1 --flip 0.1 --out denoise.png
    tfgen latent runs/vae_latent2 --out latent.png             # 2 latents: the map and the decoded grid
    tfgen amortisation vae_binarized_mnist_k1_l1 --num 500     # memoryless vs amortised ELBO, nats

Each takes a run folder or a preset (as ``tfgen evaluate``) of an image model with an encoder
and a decoder (:mod:`tfgen.applications`, :mod:`tfgen.inference`), and reads the test images of
the data it was trained on.
"""


def register(verbs):
    """Add the verbs to ``verbs`` (the ``tfgen`` argparse subparsers)."""
    from tfgen.config import MASKS

    def common(parser, num, out):
        parser.add_argument("source", help="a run folder, or a preset name, folder or URL")
        parser.add_argument("--num", type=int, default=num, help="test images used [default: %(default)s]")
        parser.add_argument("--seed", type=int, default=0, help="seed of the draws [default: %(default)s]")
        if out:
            parser.add_argument("--out", default=out, help="the PNG written [default: %(default)s]")
            parser.add_argument(
                "--scale", type=int, default=3, help="screen pixels per image pixel [default: %(default)s]"
            )

    inpaint = verbs.add_parser(
        "inpaint", help="fill masked pixels of test images with the model's conditional"
    )
    common(inpaint, 8, "inpaint.png")
    inpaint.add_argument(
        "--mask", default="bottom", choices=MASKS, help="which pixels are missing [default: %(default)s]"
    )
    inpaint.add_argument(
        "--fraction",
        type=float,
        default=0.5,
        help="fraction of rows / columns / area / pixels missing [default: %(default)s]",
    )
    inpaint.add_argument("--steps", type=int, default=50, help="steps of the chain [default: %(default)s]")
    inpaint.set_defaults(handler=inpaint_command)

    denoise = verbs.add_parser("denoise", help="clean salt-and-pepper noise off test images")
    common(denoise, 8, "denoise.png")
    denoise.add_argument(
        "--flip", type=float, default=0.1, help="probability that a pixel is flipped [default: %(default)s]"
    )
    denoise.add_argument("--steps", type=int, default=1, help="encode-decode passes [default: %(default)s]")
    denoise.set_defaults(handler=denoise_command)

    latent = verbs.add_parser(
        "latent",
        help="a 2-D map of the test images' posterior means (PCA beyond 2 latents; the decoded grid with 2)",
    )
    common(latent, 2000, "latent.png")
    latent.set_defaults(handler=latent_command)

    gap = verbs.add_parser(
        "amortisation",
        help="the amortisation gap: per-datapoint variational parameters against the encoder, in nats",
    )
    common(gap, 500, None)
    gap.add_argument(
        "--steps", type=int, default=500, help="Adam steps of the per-datapoint fit [default: %(default)s]"
    )
    gap.add_argument("--learning-rate", type=float, default=1e-2, help="Adam's rate [default: %(default)s]")
    gap.add_argument(
        "--samples",
        type=int,
        default=100,
        help="draws per image of each ELBO estimate [default: %(default)s]",
    )
    gap.add_argument(
        "--k",
        type=int,
        default=1000,
        help="importance samples of the log p(x) estimate beside them (0: skip) [default: %(default)s]",
    )
    gap.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2], help="progress bars [default: 1]")
    gap.set_defaults(handler=amortisation_command)


def _positive(**values):
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}.")


def _test_images(args):
    """``(model, images [num, h*w*c], labels or None, settings)``: ``--num`` test images of the
    source's dataset drawn at random (seeded by ``--seed``), in their order in the split."""
    import numpy as np

    from tfgen import applications, data
    from zoo import families
    from zoo.presets_cli import load_model

    _positive(num=args.num)
    model, settings, _ = load_model(args.source)
    applications.check_image_model(model)
    family = families.of(model)
    images = np.concatenate(
        [
            b[0] if isinstance(b, tuple) else b
            for b in family.test_data(model, settings, "test", 500).as_numpy_iterator()
        ]
    )
    chosen = np.sort(np.random.default_rng(args.seed).choice(len(images), min(args.num, len(images)), False))
    spec = data.info(settings["dataset"])
    labels = data.load_labels(spec.name, "test")[chosen] if spec.classes else None
    return model, images.reshape(len(images), -1)[chosen], labels, settings


def _save_rows(rows, model, out, scale):
    """Image rows (each ``[n, h*w*c]``) as one PNG grid, a row per array."""
    import os

    from matplotlib import image

    from tfgen import images

    stacked = [im for row in rows for im in row]
    grid = images.enlarge(images.grid(stacked, model.config.image_shape, columns=len(rows[0])), scale)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    image.imsave(out, grid, cmap="gray", vmin=0.0, vmax=1.0)


def inpaint_command(args):
    """Rows: the test images, the observed part (missing pixels grey), the in-painted images."""
    import numpy as np

    from tfgen import applications

    _positive(steps=args.steps, scale=args.scale)
    model, x, _, _ = _test_images(args)
    observed = applications.mask(args.mask, model.config.image_shape, len(x), args.fraction, args.seed)
    filled = applications.inpaint(model, x, observed, args.steps, seed=args.seed)
    _save_rows([x, np.where(observed > 0, x, 0.5), filled], model, args.out, args.scale)
    missing = observed == 0
    print(
        f"in-painted {int(missing.sum())} missing pixels of {len(x)} images ({args.mask}, "
        f"{args.fraction:g}); mean absolute error on them {np.abs(filled - x)[missing].mean():.3f} "
        f"-> {args.out}"
    )


def denoise_command(args):
    """Rows: the test images, the corrupted ones, the denoised ones; prints the pixel errors."""
    import numpy as np

    from tfgen import applications

    _positive(steps=args.steps, scale=args.scale)
    if not 0.0 < args.flip < 1.0:
        raise ValueError(f"--flip must be in (0, 1), got {args.flip}.")
    model, x, _, _ = _test_images(args)
    noisy = applications.corrupt(x, args.flip, args.seed)
    clean = applications.denoise(model, noisy, args.steps)
    _save_rows([x, noisy, clean], model, args.out, args.scale)
    if np.isin(x, (0.0, 1.0)).all():  # binary images: the fraction of pixels wrong, the mean thresholded
        baseline = applications.denoise(model, x, args.steps) > 0.5  # the model's own reconstruction error
        print(
            f"pixels wrong: corrupted {100 * np.mean(noisy != x):.1f}%, denoised "
            f"{100 * np.mean((clean > 0.5) != x):.1f}% (the clean images reconstructed: "
            f"{100 * np.mean(baseline != x):.1f}%) -> {args.out}"
        )
    else:
        print(
            f"mean absolute pixel error: corrupted {np.abs(noisy - x).mean():.3f}, denoised "
            f"{np.abs(clean - x).mean():.3f} -> {args.out}"
        )


def latent_command(args):
    """A scatter of the 2-D map (coloured by class where the data have labels); a 2-latent model
    also gets the decoded grid over its prior, beside it."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from tfgen import applications, images

    model, x, labels, settings = _test_images(args)
    coords, explained = applications.latent_map(model, x)
    two = explained == 1.0 and coords.shape[1] == 2 and model.encode(x[:1])[0].shape[-1] == 2
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(10 if two else 5, 5), squeeze=False)
    ax = axes[0, 0]
    points = ax.scatter(
        coords[:, 0], coords[:, 1], c=labels, s=3, cmap="tab10" if labels is not None else None
    )
    if labels is not None:
        fig.colorbar(points, ax=ax, label="class")
    title = "posterior means E[z|x]" if two else f"PCA of E[z|x] ({100 * explained:.0f}% of the variance)"
    ax.set_title(f"{title}, {len(x)} test images of {settings['dataset']}", fontsize=9)
    if two:
        grid = images.grid(applications.latent_grid(model, 15), model.config.image_shape, columns=15)
        axes[0, 1].imshow(grid, cmap="gray", vmin=0, vmax=1)
        axes[0, 1].set_title("E[x|z] over the prior's quantiles", fontsize=9)
        axes[0, 1].axis("off")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=100, bbox_inches="tight")
    print(
        f"latent map of {len(x)} images ({'2 latents' if two else f'PCA, {100 * explained:.0f}% variance'}) "
        f"-> {args.out}"
    )


def amortisation_command(args):
    """Prints (and returns) the ELBO of the encoder, of per-datapoint fits, and log p(x) by IWAE_k."""
    from tfgen import evaluation, inference

    _positive(steps=args.steps, samples=args.samples)
    model, x, _, _ = _test_images(args)
    result = inference.amortisation_gap(
        model, x, args.steps, args.learning_rate, args.samples, seed=args.seed, verbose=args.verbose
    )
    figures = result.summary()
    line = (
        f"{len(x)} test images: ELBO amortised {figures['elbo_amortised']:.2f}, memoryless "
        f"{figures['elbo_memoryless']:.2f} nats; amortisation gap {result.gap:.2f} +- {result.gap_stderr:.2f}"
    )
    if args.k:
        figures[f"log_likelihood_k{args.k}"] = ll = float(
            evaluation.log_likelihood(model, x, args.k, max_rows=8192, verbose=0, seed=args.seed).mean()
        )
        figures["approximation_gap"] = ll - figures["elbo_memoryless"]
        line += f"; log p(x) (IWAE_{args.k}) {ll:.2f}, approximation gap {figures['approximation_gap']:.2f}"
    print(line + " nats")
    return figures
