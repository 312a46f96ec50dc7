"""tfgen.summaries.Pictures writes the drawn pictures as TensorBoard image summaries;
tfgen.images.pairs lays originals over their reconstructions."""
import keras
import numpy as np
import pytest

from tests import tensorboard
from tfgen import images, summaries


def test_pictures_are_image_summaries_every_epoch_asked_and_the_last(tmp_path):
    drawn = []

    def draw(model):
        drawn.append(model)
        return {"samples": np.full((6, 5), 0.5), "colour": np.zeros((4, 4, 3))}

    callback = summaries.Pictures(str(tmp_path), draw, every=2)
    model = keras.Sequential([keras.layers.Dense(1)])
    callback.set_model(model)
    callback.set_params({"epochs": 3})
    callback.on_train_begin()
    for epoch in range(3):
        callback.on_epoch_end(epoch)
    callback.on_train_end()
    assert drawn == [model, model]  # after epochs 2 and 3 (the last)
    assert tensorboard.summaries(tmp_path) == {"samples": "images", "colour": "images"}
    with pytest.raises(ValueError, match="every >= 1"):
        summaries.Pictures(str(tmp_path), draw, every=0)
    with pytest.raises(ValueError, match=r"\[height, width\]"):
        summaries.image_batch(np.zeros(5))


def test_pairs_put_each_row_of_originals_over_its_reconstructions():
    originals, reconstructions = np.ones((3, 4)), np.zeros((3, 4))
    picture = images.pairs(originals, reconstructions, (2, 2, 1), columns=2)
    assert picture.shape == (4 * 3 - 1, 2 * 3 - 1)  # 4 rows of 2 images of 2x2, 1-pixel gaps
    rows = [picture[3 * r:3 * r + 2, :2] for r in range(4)]  # the first image of each row
    assert [float(row.mean()) for row in rows] == [1.0, 0.0, 1.0, 0.0]
    assert float(picture[9:11, 3:5].mean()) == 0.5  # the odd image's empty neighbour: background
