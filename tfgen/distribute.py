"""Where training runs: one device, the GPUs of one machine, or several worker processes.

The strategy comes from the environment, so the same ``tfgen train ...`` command runs on a
laptop, on a machine with several GPUs and on several machines (docs/distributed.md):

* ``TF_CONFIG`` names a cluster of several tasks: ``tf.distribute.MultiWorkerMirroredStrategy``.
  Every worker runs the same command with its own ``TF_CONFIG`` task; each computes the
  gradient of its share of every batch on its local devices, the gradients are summed across
  workers (all-reduce) and every worker applies the same update, so the run trains the
  single-device algorithm at the same global batch size;
* otherwise, several GPUs visible: ``tf.distribute.MirroredStrategy`` over them;
* otherwise TensorFlow's default strategy (one device).

The chief (task ``chief``, or ``worker`` 0 when the cluster has no chief) writes the run
folder; the other workers write theirs to a temporary folder that is deleted when they
finish (Keras' multi-worker convention), and resume from the chief's checkpoints, so
``--resume`` needs ``--out`` on storage every worker sees.
"""
import glob
import json
import os

TF_CONFIG = "TF_CONFIG"


def cluster():
    """``(task_type, task_index, jobs)`` from ``$TF_CONFIG`` (``jobs``: its cluster, job ->
    addresses); ``("worker", 0, {})`` without one. Raises ``ValueError`` for a malformed one."""
    text = os.environ.get(TF_CONFIG)
    if not text:
        return "worker", 0, {}
    try:
        config = json.loads(text)
        jobs, task = dict(config.get("cluster", {})), config.get("task", {})
        task_type, index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"TF_CONFIG must be JSON with a cluster and this process's task, e.g. "
                         f'{{"cluster": {{"worker": ["host1:12345", "host2:12345"]}}, '
                         f'"task": {{"type": "worker", "index": 0}}}}; got {text!r} ({error}).') from None
    if task_type not in jobs or not 0 <= index < len(jobs[task_type]):
        raise ValueError(f"TF_CONFIG's task {task_type} {index} is not in its cluster {jobs}.")
    return task_type, index, jobs


def training_tasks():
    """Processes of ``$TF_CONFIG``'s cluster that train (``chief`` and ``worker``); 1 without one."""
    jobs = cluster()[2]
    return max(1, sum(len(jobs.get(job, ())) for job in ("chief", "worker")))


def is_chief():
    """Whether this process writes the run: the ``chief`` task, or ``worker`` 0 without one."""
    task_type, index, jobs = cluster()
    return task_type == "chief" or (task_type == "worker" and index == 0 and not jobs.get("chief"))


def several_devices():
    """Whether this environment trains on several devices: a cluster in ``$TF_CONFIG``, or
    several NVIDIA GPUs (their ``/dev/nvidia<N>`` device files). Imports no TensorFlow, so a
    command's flags are checked before it loads."""
    return training_tasks() > 1 or len(glob.glob("/dev/nvidia[0-9]*")) > 1


def strategy():
    """The ``tf.distribute`` strategy of this environment (see the module docstring).

    Call it before TensorFlow runs anything: a multi-worker strategy sets up the collective
    communication of the whole process.
    """
    import tensorflow as tf

    if training_tasks() > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def workers():
    """Worker processes training together under the current strategy: the tasks of a
    ``MultiWorkerMirroredStrategy``'s cluster, 1 under any other strategy."""
    import tensorflow as tf

    current = tf.distribute.get_strategy()
    if not isinstance(current, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    spec = current.cluster_resolver.cluster_spec()
    return max(1, sum(spec.num_tasks(job) for job in spec.jobs if job in ("chief", "worker")))
