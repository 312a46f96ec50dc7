"""The IWAE family's hooks: test data, the k = 5000 test figure, active units, samples."""
import time

from zoo.families import Family


class IWAEFamily(Family):
    """VAE / IWAE runs (``tfgen train iwae``): ``log p(x)`` by IWAE_k (Burda et al. 2016: k = 5000)."""

    name = "iwae"
    references = ('Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016',
                  'Roeder, Wu & Duvenaud, "Sticking the Landing: Simple, Lower-Variance Gradient Estimators '
                  'for Variational Inference", NIPS 2017')

    def evaluate(self, model, settings, dataset, k, args):
        """Active units (Burda et al. 2016, sec. 5.2) and, with ``--remove-inactive``, the
        figure again after deleting the inactive ones."""
        from tfgen import callbacks, data
        from zoo.iwae import protocol

        images = data.load_images(settings["dataset"], "train")[:protocol.ACTIVITY_EXAMPLES]
        scale = 1.0 if data.info(settings["dataset"]).binary else 255.0
        activity = callbacks.ActiveUnits(images.reshape(len(images), -1) / scale, protocol.posterior_means)
        activity.set_model(model)
        counts, masks, _ = activity.measure()
        print(f"active units: {counts}")
        figures = {"active_units": counts}
        if args.remove_inactive:
            protocol.remove_inactive_units(model, masks)
            start = time.time()
            pruned = self.measure(model, dataset, k, args.seed, args.verbose)["log_likelihood"]
            figures.update(inactive_removed=pruned, inactive_removed_seconds=round(time.time() - start, 1))
            print(f"{args.split} log-likelihood without inactive units (k = {k}): {pruned:.2f} nats")
        return figures

    def passes(self, settings, metrics):
        """Epochs trained (a run on the paper's schedule records the passes it ran)."""
        return (metrics.get("schedule") or {}).get("passes", metrics.get("epochs", settings.get("epochs")))


FAMILY = IWAEFamily()
