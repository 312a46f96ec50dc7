"""``tfgen evaluate | sample | list | preset build | preset upload``: the verbs that take a run
folder or a preset.

::

    tfgen evaluate runs/iwae --k 5000                          # a run folder, preset name, folder, hf://...
    tfgen sample iwae_digits_k5_l1 --num 64 --out grid.png
    tfgen sample vrnn_jsb_fivo_k4 --steps 64 --out roll.png    # a VRNN: one piano roll
    tfgen list                                                 # shipped and $TFGEN_HOME/presets
    tfgen preset build runs/iwae --name my_iwae                # run folder -> $TFGEN_HOME/presets/my_iwae
    tfgen preset upload my_iwae hf://me/tfgen-presets/my_iwae  # -> hf://me/tfgen-presets/my_iwae@<commit>

The model's family (:mod:`zoo.families`) says what its test figure is, on which data, and
how it samples, so these verbs work the same for every family.
"""
import os
import time

SOURCE_HELP = "a run folder, or a preset name, folder or hub handle (hf://owner/repo[@revision], kaggle://...)"


def register(verbs):
    """Add the verbs to ``verbs`` (the ``tfgen`` argparse subparsers)."""
    evaluate = verbs.add_parser("evaluate", help="re-estimate a run's or a preset's test figure")
    evaluate.add_argument("source", help=SOURCE_HELP)
    evaluate.add_argument("--k", type=int, default=None,
                          help="importance samples [default: the family's: 5000 iwae, 1000 vrnn and infovae, "
                               "1 (the ELBO) distortion]")
    evaluate.add_argument("--split", default="test", help="the dataset split measured [default: %(default)s]")
    evaluate.add_argument("--batch-size", type=int, default=100,
                          help="examples per batch [default: %(default)s]")
    evaluate.add_argument("--every-nth", type=int, default=None,
                          help="only every N-th example of the split, a subset spread over the whole split "
                               "(keys get an _everyN suffix) [default: all]")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the importance samples [default: 0]")
    evaluate.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2],
                          help="progress bar [default: %(default)s]")
    evaluate.set_defaults(handler=evaluate_command)

    sample = verbs.add_parser("sample", help="draw samples from a run or a preset into a PNG")
    sample.add_argument("source", help=SOURCE_HELP)
    sample.add_argument("--num", type=int, default=None, help="samples [default: 64 images, 1 sequence]")
    sample.add_argument("--steps", type=int, default=None, help="steps of a sequence sample [default: 64]")
    sample.add_argument("--seed", type=int, default=None, help="seed of the samples [default: random]")
    sample.add_argument("--out", default="samples.png", help="the PNG written [default: %(default)s]")
    sample.add_argument("--scale", type=int, default=4,
                        help="screen pixels per image pixel [default: %(default)s]")
    sample.set_defaults(handler=sample_command)

    listing = verbs.add_parser("list", help="list the presets: shipped ones and yours ($TFGEN_HOME/presets)")
    listing.set_defaults(handler=list_command)

    preset = verbs.add_parser("preset", help="make a preset from a run folder, or upload one to the hub")
    actions = preset.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="package a run folder as a preset (in $TFGEN_HOME/presets)",
                               description="Package a run folder as a preset: re-measure its test figure, "
                                           "draw samples, write the model card.")
    build.add_argument("run", help="a run folder written by tfgen train")
    build.add_argument("--name", required=True, help="the preset's name, e.g. my_iwae_k5 (required)")
    build.add_argument("--k", type=int, default=None,
                       help="samples of the recorded test figure [default: the family's, as evaluate]")
    build.add_argument("--description", default="",
                       help="one line saying what the preset is [default: empty]")
    build.add_argument("--command", default=None, dest="train_command",
                       help="the command that trained the run [default: rebuilt from its settings]")
    build.add_argument("--directory", default=None,
                       help="where preset folders go [default: $TFGEN_HOME/presets, TFGEN_HOME defaulting "
                            "to ~/.cache/tfgen]")
    build.add_argument("--reuse-evaluation", action="store_true",
                       help="record the k-sample figure `tfgen evaluate RUN --k K` already measured "
                            "[default: measure it]")
    build.add_argument("--seed", type=int, default=0,
                       help="seed of the measurements and samples [default: 0]")
    build.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2], help="progress bars [default: 1]")
    build.set_defaults(handler=preset_command)
    upload = actions.add_parser("upload", help="push a preset to a Hugging Face repo",
                                description="Push a preset (checked first) with its model card to a "
                                            "Hugging Face repo; prints the handle pinned to the new commit. "
                                            "The token is huggingface_hub's: `hf auth login` or $HF_TOKEN.")
    upload.add_argument("preset", help="a preset name or folder")
    upload.add_argument("repo", help="hf://owner/repo[/subfolder][@branch]; the repo is created if needed")
    upload.add_argument("--message", default=None, help="the commit message [default: tfgen preset NAME]")
    upload.add_argument("--private", action="store_true", help="create the repo private [default: public]")
    upload.set_defaults(handler=upload_command)


def load_model(source):
    """``(model, settings, run_dir)``: a finished run folder (``run_dir`` set) or a preset (``None``).

    A bare registered preset name is the preset even if a folder of that name exists here; a
    folder without ``metadata.json`` is loaded (unverified) only as a run that the run driver
    finished (``metrics.json`` status in :data:`tfgen.runs.FINISHED`).
    """
    from tfgen import presets, runs
    from zoo import families
    from zoo import presets as zoo_presets

    if not presets.is_registered_name(source) and os.path.isdir(source) and not os.path.exists(
            os.path.join(source, presets.METADATA)):
        status = runs.read_metrics(source).get("status")
        if status not in runs.FINISHED:
            raise ValueError(f"{source} is neither a preset (no {presets.METADATA}) nor a finished run (its "
                             f"metrics.json status is {status!r}, not one of {list(runs.FINISHED)}); "
                             "refusing to load it unchecked.")
        config_path = os.path.join(source, runs.CONFIG)
        if os.path.exists(config_path):  # register the family's model classes with Keras
            families.module(runs.read_json(config_path).get("family"), "model")
        model, settings = runs.load(source)
        return model, settings, source
    folder = presets.resolve(source)
    return zoo_presets.load(folder), zoo_presets.read_config(folder)["settings"], None


def evaluate_command(args):
    """The family's test figure (``{split}_log_likelihood_k{k}`` in its unit, with the family's
    other figures as ``..._{name}``), written into a run's metrics.json (never a preset's)."""
    from tfgen import objectives, runs
    from zoo import families

    model, settings, run_dir = load_model(args.source)
    family = families.of(model)
    k = objectives.check_k(family.default_k if args.k is None else args.k)
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}.")
    if getattr(args, "remove_inactive", False) and family.name != "iwae":
        raise ValueError(f"--remove-inactive is for the iwae family, not {family.name}.")
    if getattr(args, "remove_inactive", False) and model.config.posterior != "gaussian":
        raise ValueError("--remove-inactive needs a diagonal-Gaussian posterior, not a "
                         f"{model.config.posterior} flow (it mixes the units).")
    dataset = family.test_data(model, settings, args.split, args.batch_size)
    key = f"{args.split}_log_likelihood_k{k}"
    if args.every_nth is not None:
        if args.every_nth < 1:
            raise ValueError(f"--every-nth must be >= 1, got {args.every_nth}.")
        dataset = every_nth(dataset, args.every_nth, args.batch_size)
        key += f"_every{args.every_nth}"
    start = time.time()
    figures = family.measure(model, dataset, k, seed=args.seed, verbose=args.verbose)
    value = figures.pop("log_likelihood")
    print(f"{args.split} log-likelihood (k = {k}): {value:.2f} {family.unit}")
    for name, figure in figures.items():
        print(f"  {name}: {figure:.4f}")
    figures = {key: value, f"{key}_seconds": round(time.time() - start, 1),
               **{f"{key}_{name}": figure for name, figure in figures.items()},
               **{f"{key}_{name}": figure for name, figure in family.evaluate(model, settings, dataset, k,
                                                                              args).items()}}
    if run_dir:  # a preset's folder is never written to
        runs.update_metrics(run_dir, **figures)
        print(f"-> {run_dir}/metrics.json")
    return value


def every_nth(dataset, n, batch_size):
    """Every ``n``-th example of a batched ``dataset``, batched again; padded, since a sequence
    model's batches differ in length (zero frames under mask 0 are padding)."""
    return dataset.unbatch().shard(n, 0).padded_batch(batch_size)


def sample_command(args):
    import numpy as np

    from zoo import families

    for name in ("num", "steps", "scale"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}.")
    model, settings, _ = load_model(args.source)
    drawn = families.of(model).sample(model, settings, args.out, num=args.num, seed=args.seed,
                                      scale=args.scale, steps=args.steps)
    print(f"sample {np.shape(drawn)} -> {args.out}")
    return drawn


def list_command(args):
    from tfgen import presets
    from zoo import presets as zoo_presets

    shipped = set(zoo_presets.shipped())
    rows = [("name", "family", "dataset", "objective", "estimator", "k", "test figure (k)", "passes",
             "where")]
    for name, meta in zoo_presets.available().items():
        ll = meta.get("test_log_likelihood")
        unit = meta.get("test_unit", "nats")
        suffix = "" if unit == "nats" else f" {unit}"  # image presets: nats per example, left implicit
        figure = "-" if ll is None else f"{ll:.2f} ({meta.get('test_k')}){suffix}"
        trained = [str(meta.get(key, "-")) for key in ("objective", "estimator", "k")]
        rows.append((name, str(meta.get("family")), str(meta.get("dataset")), *trained, figure,
                     str(meta.get("passes")), "shipped" if name in shipped else "user"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"user presets: {presets.user_directory()} ($TFGEN_HOME/presets)")
    return rows[1:]


def preset_command(args):
    from zoo.presets import build

    return build.build(args.run, args.name, k=args.k, directory=args.directory,
                       description=args.description, command=args.train_command, verbose=args.verbose,
                       reuse_evaluation=args.reuse_evaluation, seed=args.seed)


def upload_command(args):
    from tfgen import presets

    pinned = presets.upload(args.preset, args.repo, message=args.message, private=args.private or None)
    print(f"uploaded -> {pinned}  (zoo.load({pinned!r}) loads this commit)")
    return pinned
