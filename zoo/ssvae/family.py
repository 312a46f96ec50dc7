"""The semi-supervised family's hooks: ``log p(x)`` by IWAE_k, and the test classification error."""

from zoo.families import Family


class SSVAEFamily(Family):
    """Semi-supervised VAE runs (``tfgen train ssvae``): ``log p(x)`` by IWAE_k (k = 1000, the
    class sampled from the classifier), and ``error``, the test images misclassified (a fraction)."""

    name = "ssvae"
    data_fields = ("seed", "image_shape", "classifier_weight")
    default_k = 1000

    def images_and_labels(self, model, settings, split="test", seed=0):
        """``(images [n, h*w*c] float32, labels [n])`` of ``split`` as the model was trained on them:
        grey images binarised once (seeded) for a Bernoulli likelihood, in [0, 1] otherwise."""
        import numpy as np

        from tfgen import data

        spec = data.info(settings["dataset"])
        images = data.load_images(settings["dataset"], split)
        x = images.reshape(len(images), -1).astype("float32")
        if not spec.binary:
            x /= 255.0
            if model.config.likelihood == "bernoulli":
                x = (np.random.default_rng(seed).random(x.shape) < x).astype("float32")
        return x, data.load_labels(settings["dataset"], split)

    def evaluate(self, model, settings, dataset, k, args):
        from zoo.ssvae.model import classification_error

        x, labels = self.images_and_labels(model, settings, args.split, args.seed)
        error = classification_error(model, x, labels)
        print(f"{args.split} classification error: {100 * error:.2f}%")
        return {"error": error}


FAMILY = SSVAEFamily()
