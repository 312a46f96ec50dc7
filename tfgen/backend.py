"""Keras 3 on the TensorFlow backend, checked once when the first module needing Keras loads."""
import keras

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        "tfgen needs the TensorFlow backend of Keras 3, but KERAS_BACKEND is "
        f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow before importing tfgen."
    )
