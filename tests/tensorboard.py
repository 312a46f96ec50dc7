"""What a run's TensorBoard event files hold: ``{tag: plugin}`` per folder of ``logs/``."""
import glob
import os

import tensorflow as tf


def summaries(folder):
    """``{tag: plugin name}`` ("images", "scalars", ...) of every summary in the event files of ``folder``."""
    found = {}
    for path in glob.glob(os.path.join(folder, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found[value.tag] = value.metadata.plugin_data.plugin_name or found.get(value.tag)
    return found
