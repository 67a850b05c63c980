"""Layers of the tagger's networks that Keras does not offer as fast as TensorFlow can run them.

Keras 3's BatchNormalization computes the batch moments and the normalisation as about ten
separate element-wise TensorFlow ops, each a pass over the activations; in training on the CPU
they took about a quarter of every step of the default resnet, as much as its forward
convolutions. TensorFlow's FusedBatchNormV3 (oneDNN's kernel on x86) does it in one pass
forward and one backward: the step runs about 1.3x faster (bench/training_results.md).
"""
import keras
from keras import layers


@keras.saving.register_keras_serializable(package="tagger")
class FusedBatchNormalization(layers.BatchNormalization):
    """keras.layers.BatchNormalization with the same weights, settings and results, computed by
    TensorFlow's fused kernel on 4-D channels-last inputs (anything else: Keras's own path).

    Model files name it `tagger>FusedBatchNormalization`: loading one needs this module
    imported (tagger.infer.keras_run does). The moving variance is updated with the batch's
    unbiased variance, as tf.keras 2's fused layer did (a difference of n/(n-1), n the pixels
    of a batch, 1.0006 at the smallest here); everything else matches Keras to float rounding.
    """

    def _fused(self, inputs):
        return (keras.backend.backend() == "tensorflow" and len(inputs.shape) == 4
                and self.axis in (-1, 3) and self.center and self.scale and not self.renorm)

    def call(self, inputs, training=None, mask=None):
        if mask is not None or not self._fused(inputs):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.cast(inputs, "float32")  # as Keras does: the statistics in float32
        train = bool(training) and self.trainable
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, self.gamma, self.beta, mean=self.moving_mean, variance=self.moving_variance,
            epsilon=self.epsilon, is_training=train,
            exponential_avg_factor=1.0 - self.momentum if train else 1.0)
        if train:  # the op returned the moving statistics after this batch
            self.moving_mean.assign(mean)
            self.moving_variance.assign(variance)
        return tf.cast(y, self.compute_dtype)
