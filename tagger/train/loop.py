"""One training loop for one device, several GPUs and a cluster of workers.

Keras's model.fit cannot train under MultiWorkerMirroredStrategy with Keras 3 (keras-team/keras
issue 20585), so train.py runs its own steps with strategy.run, as TensorFlow's custom-loop
guides do, on every kind of machine: one path, tested on one worker and on two.
"""
import time

import keras
import numpy as np

from .recipe import make_metrics, per_example_loss

BAR_EVERY = 10  # steps between updates of the bar's rate and running loss


class Loop:
    """Training and validation steps of one model under one tf.distribute strategy.

    Training metrics are kept per worker on its own predictions and validation runs on each
    worker's share of the validation set; their states (sums and counts) are then added up
    over the workers, so every worker gets the same numbers and takes the same decisions.
    """

    def __init__(self, strategy, cluster, model, optimizer, loss, n_tags, global_batch,
                 label_smoothing=0.0):
        self.strategy, self.cluster, self.model, self.optimizer = strategy, cluster, model, optimizer
        self.loss_fn = per_example_loss(loss, label_smoothing)
        self.global_batch = global_batch
        self.train_metrics = [keras.metrics.Mean(name="loss"), *make_metrics(loss, n_tags)]
        self.val_metrics = [keras.metrics.Mean(name="loss"), *make_metrics(loss, n_tags)]
        self._train_step = self._make_train_step()
        self._val_step = self._make_val_step()
        self._all_reduce = None

    def _make_train_step(self):
        import tensorflow as tf

        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

        def replica_step(images, targets):
            with tf.GradientTape() as tape:
                scores = model(images, training=True)
                loss = tf.nn.compute_average_loss(self.loss_fn(targets, scores),
                                                  global_batch_size=self.global_batch)
                if model.losses:  # weight penalties, counted once over all replicas
                    loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
                scaled_loss = optimizer.scale_loss(loss) if scaled else loss
            grads = tape.gradient(scaled_loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))  # all-reduced
            return loss, targets, scores

        @tf.function
        def train_step(iterator):
            loss, targets, scores = strategy.run(replica_step, args=next(iterator))
            total = strategy.reduce("SUM", loss, axis=None)
            local = strategy.experimental_local_results
            targets, scores = tf.concat(local(targets), 0), tf.concat(local(scores), 0)
            self.train_metrics[0].update_state(total)
            for metric in self.train_metrics[1:]:
                metric.update_state(targets, scores)
            return total

        return train_step

    def _make_val_step(self):
        import tensorflow as tf

        model = self.model

        @tf.function
        def val_step(images, targets):
            scores = model(images, training=False)
            penalty = tf.add_n(model.losses) if model.losses else 0.0
            self.val_metrics[0].update_state(self.loss_fn(targets, scores) + penalty)
            for metric in self.val_metrics[1:]:
                metric.update_state(targets, scores)

        return val_step

    def train_epoch(self, iterator, steps, bar=None):
        """Run `steps` training steps; return the epoch's training logs, with the images per
        second of its steps after the first (which also traces the graph in a first epoch).
        A tqdm `bar` counts the batches and shows the rate and the epoch's running loss
        (every BAR_EVERY steps)."""
        for metric in self.train_metrics:
            metric.reset_state()
        start = time.perf_counter()
        for step in range(steps):
            self._train_step(iterator)  # returns once the step has run
            if step == 0:
                first = time.perf_counter()
            if bar is None or bar.disable:
                continue
            if step and (step % BAR_EVERY == 0 or step == steps - 1):  # the loss waits for it
                rate = f"{step * self.global_batch / (time.perf_counter() - first):,.0f}"
                loss = float(self.train_metrics[0].result())
                bar.set_postfix_str(f"{rate} images/s, loss {loss:.4f}", refresh=False)
            bar.update(1)
        counted, since = (steps - 1, first) if steps > 1 else (1, start)
        rate = counted * self.global_batch / max(time.perf_counter() - since, 1e-9)
        return {**self._results(self.train_metrics, ""), "images_per_second": round(rate, 1)}

    def evaluate(self, dataset):
        """Validation logs (val_loss, ...) over every worker's share of the validation set."""
        for metric in self.val_metrics:
            metric.reset_state()
        for images, targets in dataset:
            self._val_step(images, targets)
        return self._results(self.val_metrics, "val_")

    def _results(self, metrics, prefix):
        if self.cluster.is_multi_worker:
            self._add_up_over_workers([v for m in metrics for v in m.variables])
        return {prefix + m.name: float(m.result()) for m in metrics}

    def _add_up_over_workers(self, variables):
        """Replace each worker's metric states by their sum over all workers (one all-reduce)."""
        import tensorflow as tf

        strategy = self.strategy
        local_replicas = strategy.num_replicas_in_sync // self.cluster.num_workers

        def once_per_worker(values):
            first = tf.distribute.get_replica_context().replica_id_in_sync_group % local_replicas
            return values * tf.cast(tf.equal(first, 0), tf.float64)

        if self._all_reduce is None:  # traced, as collectives run slowly eagerly
            self._all_reduce = tf.function(lambda flat: strategy.reduce(
                "SUM", strategy.run(once_per_worker, args=(flat,)), axis=None))
        shapes = [tuple(v.shape) for v in variables]
        flat = tf.concat([tf.reshape(tf.cast(v.value, tf.float64), [-1]) for v in variables], 0)
        total = self._all_reduce(flat)
        sizes = [int(np.prod(s)) for s in shapes]
        for v, part, shape in zip(variables, tf.split(total, sizes), shapes):
            v.assign(tf.cast(tf.reshape(part, shape), v.dtype))


class Checkpoints:
    """The model, optimizer, epoch count and early-stopping state (best value, epochs since),
    saved after every epoch into RUN/checkpoints (by the chief; the other workers save into a
    temporary folder, as saving needs them all) and restored by every worker from there when
    the same command is given again, so all of them resume with the same state."""

    def __init__(self, folder, model, optimizer):
        import tensorflow as tf

        self.folder = str(folder)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best = tf.Variable(float("nan"), dtype=tf.float64, trainable=False)
        self.wait = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=self.epoch,
                                              best=self.best, wait=self.wait)
        self._manager = None

    def restore(self):
        """Load the last finished epoch's state; return (finished epochs, best value or None,
        epochs since the best), (0, None, 0) if there is none."""
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(self.folder)
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        best = float(self.best.numpy())
        return int(self.epoch.numpy()), (None if np.isnan(best) else best), int(self.wait.numpy())

    def save(self, finished_epochs, best, wait, write_dir):
        """Record the state after `finished_epochs` epochs (into `write_dir`, see write_dir())."""
        import tensorflow as tf

        if self._manager is None:
            self._manager = tf.train.CheckpointManager(self.checkpoint, write_dir, max_to_keep=2)
        self.epoch.assign(finished_epochs)
        self.best.assign(float("nan") if best is None else best)
        self.wait.assign(wait)
        self._manager.save()
