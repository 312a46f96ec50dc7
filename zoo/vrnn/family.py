"""The VRNN family's hooks: sequence data, the per-step test figures, piano-roll samples."""
import os

from zoo.families import Family

# Length boundaries of the training batches: fewer padded steps per batch (JSB lengths 25..160).
BUCKETS = (48, 64, 80, 100)
SPLITS = {"validation": "valid"}  # the split names of tfgen.data, as JSB's pickle calls them


def load_arrays(dataset, split):
    """``(frames [n, T, D], lengths [n])`` of ``split`` of ``dataset``: ``"jsb"`` (JSB Chorales,
    :mod:`tfgen.sequences`; splits train / valid (or validation) / test) or the path of an
    ``.npz`` with ``frames`` and ``lengths`` (the same file for every split).

    Raises ``ValueError`` for another dataset, ``FileNotFoundError`` for missing data.
    """
    from tfgen import sequences

    if dataset == "jsb":
        return sequences.pad(sequences.load_jsb_rolls(SPLITS.get(split, split)))
    if str(dataset).endswith(".npz"):
        return sequences.read_npz(dataset)
    raise ValueError(f"Unknown dataset {dataset!r}: use 'jsb' or the path of an .npz file.")


class VRNNFamily(Family):
    """VRNN runs (``tfgen train vrnn``): JSB piano rolls or an ``.npz`` of sequences.

    The test figure is IWAE_k ``log p(x)`` (k = 1000) in nats per time step (total over the
    sequences / total steps, as Maddison et al. 2017 report JSB), with FIVO (the model's k)
    and the one-sample ELBO (:func:`zoo.vrnn.model.bounds_per_step`).
    """

    name = "vrnn"
    references = ('Chung et al., "A Recurrent Latent Variable Model for Sequential Data", NIPS 2015',
                  'Maddison et al., "Filtering Variational Objectives", NIPS 2017')
    data_fields = ("seed", "input_dim")
    unit = "nats per time step"
    default_k = 1000
    quick_k = 100
    default_num = 1
    default_steps = 64

    def test_data(self, model, settings, split="test", batch_size=100):
        """``split`` of the run's dataset as padded ``{"frames", "mask"}`` batches, in order."""
        from tfgen import sequences

        return sequences.dataset(*load_arrays(settings["dataset"], split), batch_size=batch_size)

    def measure(self, model, dataset, k, seed=0, verbose=0):
        """``log_likelihood`` (IWAE_k per step) and ``total`` (its nats over the split),
        ``fivo_k{K}`` and ``elbo`` per step with their ``_total``, and ``total_steps``."""
        from tfgen import objectives
        from zoo.vrnn.model import bounds_per_step

        k = objectives.check_k(k)
        figures = bounds_per_step(model, dataset, iwae_k=k, seed=seed, verbose=verbose)
        ll, total = figures.pop(f"iwae_k{k}"), figures.pop(f"iwae_k{k}_total")
        return {"log_likelihood": ll, "total": total, **figures}

    def evaluate(self, model, settings, dataset, k, args):
        """With ``--fivo-k N``: FIVO with N particles too (``fivo_kN`` per step and ``_total``),
        its own pass with the seed's first draws."""
        if getattr(args, "fivo_k", None) is None:
            return {}
        from tfgen import objectives
        from zoo.vrnn.model import bounds_per_step

        fivo_k = objectives.check_k(args.fivo_k)
        figures = bounds_per_step(model, dataset, iwae_k=0, fivo_k=fivo_k, seed=args.seed)
        print(f"  fivo_k{fivo_k}: {figures[f'fivo_k{fivo_k}']:.4f}")
        return {name: figures[name] for name in (f"fivo_k{fivo_k}", f"fivo_k{fivo_k}_total")}

    def pictures(self, model, x, seed=0):
        """``{"samples": a piano roll of default_steps sampled frames}`` for TensorBoard: pitch up,
        time across, notes black on white. ``x`` (the held-out sequences) is not used."""
        import numpy as np

        roll = np.asarray(model.sample(1, self.default_steps, seed=seed)[0], dtype="float32")
        return {"samples": 1.0 - roll.T[::-1]}

    def sample(self, model, settings, out, num=None, seed=None, scale=4, steps=None):
        """``steps`` generated frames: one sequence as a piano-roll PNG, or ``num`` sequences
        ``[num, steps, D]`` as ``frames`` in an ``.npz`` when ``out`` ends in ``.npz``.
        Returns the frames drawn. ``scale`` is for image grids and is not used."""
        import numpy as np

        from zoo.vrnn import figures

        steps = self.default_steps if steps is None else steps
        if str(out).endswith(".npz"):
            frames = model.sample(num or self.default_num, steps, seed=seed)
            os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
            np.savez_compressed(out, frames=frames)
            return frames
        if (num or 1) != 1:
            raise ValueError(f"A piano-roll PNG shows one sequence: use --num 1, not {num}, or an --out "
                             "ending in .npz for many.")
        roll = model.sample(1, steps, seed=seed)[0]
        figures.plot_piano_roll(roll, out, title=f"VRNN sample ({steps} steps, seed {seed})")
        return roll


FAMILY = VRNNFamily()
